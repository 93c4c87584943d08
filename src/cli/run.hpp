#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "common.hpp"
#include "host_setup.hpp"

namespace airssys::wasm::cli {

struct RunOptions {
  std::string path;               // .wasm, .wat, or a directory holding component.wasm
  std::vector<std::string> args;  // after argv[0]
  uint64_t fuel = engine::kUnlimitedFuel;
  uint64_t max_memory = 256 * MiB;
  // interp, native or auto; empty: native code from the cache when it is
  // there, else the interpreter, compiling nothing.
  std::string tier;
  bool approve = false;  // approve exactly this module and capability set, on the record
  // --dir HOST[::GUEST]: a host directory granted (or, with a manifest,
  // only mapped) for this run, seen by the component as GUEST (default: HOST
  // as written).
  std::vector<std::string> dirs;
  // --env NAME=VALUE, over the manifest's [config.env]; the host's own
  // environment is never passed on.
  std::vector<std::string> env;
  bool stdin_input = true;  // the component reads the host's standard input
  HostPaths paths;
};

// Admits, loads, links and runs a WASI command (a core module's _start, or a
// component's wasi:cli/run); returns the exit code.
[[nodiscard]] int run_component(const RunOptions& options);

// The tier a run's code runs on, on record (lifecycle.tier, granted).
void record_run_tier(security::AuditLog& audit, const std::string& component,
                     engine::Tier tier);

// The run of an admitted WebAssembly component (run_command_component.cpp),
// with the context its WASI 0.2 sees.
[[nodiscard]] int run_command_component(const RunOptions& options,
                                        const AdmittedComponent& admitted, HostSetup& host,
                                        host::ComponentContext& context);

}  // namespace airssys::wasm::cli
