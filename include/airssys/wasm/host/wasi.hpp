#pragma once
// WASI preview 1 ("wasi_snapshot_preview1") for components built with
// wasi-libc. Implemented: args, environment, clocks (realtime, monotonic),
// random, writes to stdout and stderr, fdstat of the standard streams,
// prestat (no preopened directories yet), proc_exit, sched_yield. Every other
// WASI function links and returns ENOSYS.

#include <cstdint>
#include <string_view>

#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::host {

inline constexpr std::string_view kWasiModule = "wasi_snapshot_preview1";

// WASI errno values used by the host (a subset of wasi/api.h).
enum class WasiErrno : uint16_t {
  Success = 0,
  Badf = 8,
  Fault = 21,
  Inval = 28,
  Io = 29,
  Nosys = 52,
  Spipe = 70,
};

// Defines every WASI preview 1 function on the linker. The instance's user
// data must be a host::ComponentContext.
void add_wasi(engine::Linker& linker);

}  // namespace airssys::wasm::host
