#pragma once
// WASI preview 1 ("wasi_snapshot_preview1") for components built with
// wasi-libc: args, environment, clocks (realtime, monotonic), random, stdout
// and stderr, files beneath the directories preopened from the component's
// filesystem grants (every open checked against them; host/files.hpp),
// poll_oneoff for clock sleeps, proc_exit, sched_yield. Every other WASI
// function (sockets among them) links and returns ENOSYS. docs/abi.md has the
// table of functions and errors.

#include <cstdint>
#include <string_view>

#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::host {

inline constexpr std::string_view kWasiModule = "wasi_snapshot_preview1";

// WASI errno values used by the host (a subset of wasi/api.h).
enum class WasiErrno : uint16_t {
  Success = 0,
  TooBig = 1,
  Acces = 2,
  Again = 6,
  Badf = 8,
  Busy = 10,
  Dquot = 19,
  Exist = 20,
  Fault = 21,
  Fbig = 22,
  Intr = 27,
  Inval = 28,
  Io = 29,
  Isdir = 31,
  Loop = 32,
  Mfile = 33,
  Mlink = 34,
  Nametoolong = 37,
  Nfile = 41,
  Nodev = 43,
  Noent = 44,
  Nomem = 48,
  Nospc = 51,
  Nosys = 52,
  Notdir = 54,
  Notempty = 55,
  Notsup = 58,
  Nxio = 60,
  Overflow = 61,
  Perm = 63,
  Rofs = 69,
  Spipe = 70,
  Txtbsy = 74,
  Xdev = 75,
  Notcapable = 76,
};

// Defines every WASI preview 1 function on the linker. The instance's user
// data must be a host::ComponentContext.
void add_wasi(engine::Linker& linker);

}  // namespace airssys::wasm::host
