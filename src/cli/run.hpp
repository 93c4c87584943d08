#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "common.hpp"

namespace airssys::wasm::cli {

struct RunOptions {
  std::string path;               // .wasm, .wat, or a directory holding component.wasm
  std::vector<std::string> args;  // after argv[0]
  uint64_t fuel = engine::kUnlimitedFuel;
  uint64_t max_memory = 256 * MiB;
  std::string tier = "interp";  // interp, native or auto
  bool approve = false;  // approve exactly this module and capability set, on the record
  HostPaths paths;
};

// Admits, loads, links and runs a WASI command's _start; returns the exit code.
[[nodiscard]] int run_component(const RunOptions& options);

}  // namespace airssys::wasm::cli
