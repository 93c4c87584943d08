#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::cli {

// Exit codes of the command itself; a component that runs to its end exits
// with its own status instead.
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitLoadFailed = 3;   // unreadable, malformed or invalid module
inline constexpr int kExitLinkFailed = 4;   // imports or limits refuse instantiation
inline constexpr int kExitTrapped = 5;      // the component trapped (out of fuel included)

struct RunOptions {
  std::string path;               // .wasm, .wat, or a directory holding component.wasm
  std::vector<std::string> args;  // after argv[0]
  uint64_t fuel = engine::kUnlimitedFuel;
  uint64_t max_memory = 256 * MiB;
};

// Loads, links and runs a WASI command's _start; returns the process exit code.
[[nodiscard]] int run_component(const RunOptions& options);

}  // namespace airssys::wasm::cli
