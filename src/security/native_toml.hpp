#pragma once
// The [native] table of host.toml and policy.toml: what one native-tier
// compile may take (docs/commands.md, `serve`). Private to the security and
// system layers: it takes toml++ types.

#include <string_view>

#include "airssys/wasm/security/policy.hpp"
#include "toml_reader.hpp"

namespace airssys::wasm::security::detail {

// Reads the table into `bounds`; every problem goes to `reader` as
// "native.key: rule".
void read_native_table(const toml::table& table, NativeCompileBounds& bounds, TomlReader& reader);

}  // namespace airssys::wasm::security::detail
