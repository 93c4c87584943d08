#pragma once
// Reads host.toml's [lattice] table (lattice/config.hpp) with the host's one
// TOML reader; private to the lattice and system layers.

#include "airssys/wasm/lattice/config.hpp"
#include "security/toml_reader.hpp"

namespace airssys::wasm::lattice::detail {

// Every problem goes to `reader` as "file:line: lattice.KEY: rule".
void read_lattice_table(const toml::table& table, LatticeConfig& config,
                        security::detail::TomlReader& reader);

}  // namespace airssys::wasm::lattice::detail
