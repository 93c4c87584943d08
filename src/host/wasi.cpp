#include "airssys/wasm/host/wasi.hpp"

#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/host/context.hpp"
#include "wasi_internal.hpp"

namespace airssys::wasm::host {
namespace {

using engine::HostCall;
using engine::Value;
using engine::ValType;
using wasi::Args;
using wasi::Body;
using wasi::u32;

constexpr ValType I32 = ValType::I32;
constexpr ValType I64 = ValType::I64;

constexpr uint32_t kClockRealtime = 0;
constexpr uint32_t kClockMonotonic = 1;

Result<WasiErrno> strings_sizes(HostCall& call, const std::vector<std::string>& strings,
                                uint32_t count_ptr, uint32_t size_ptr) {
  uint64_t size = 0;
  for (const auto& s : strings) size += s.size() + 1;
  AIRSSYS_TRY(call.write_u32(count_ptr, static_cast<uint32_t>(strings.size())));
  AIRSSYS_TRY(call.write_u32(size_ptr, static_cast<uint32_t>(size)));
  return WasiErrno::Success;
}

Result<WasiErrno> strings_get(HostCall& call, const std::vector<std::string>& strings,
                              uint32_t pointers, uint32_t buffer) {
  uint64_t offset = buffer;
  for (size_t i = 0; i < strings.size(); ++i) {
    const auto& s = strings[i];
    AIRSSYS_TRY_ASSIGN(auto dst, call.memory(offset, s.size() + 1));
    std::memcpy(dst.data(), s.data(), s.size());
    dst[s.size()] = 0;
    AIRSSYS_TRY(call.write_u32(pointers + 4 * static_cast<uint64_t>(i),
                               static_cast<uint32_t>(offset)));
    offset += s.size() + 1;
  }
  return WasiErrno::Success;
}

Result<WasiErrno> args_sizes_get(HostCall& call, ComponentContext& ctx, Args a) {
  return strings_sizes(call, ctx.wasi().args, u32(a[0]), u32(a[1]));
}
Result<WasiErrno> args_get(HostCall& call, ComponentContext& ctx, Args a) {
  return strings_get(call, ctx.wasi().args, u32(a[0]), u32(a[1]));
}
Result<WasiErrno> environ_sizes_get(HostCall& call, ComponentContext& ctx, Args a) {
  return strings_sizes(call, ctx.wasi().env, u32(a[0]), u32(a[1]));
}
Result<WasiErrno> environ_get(HostCall& call, ComponentContext& ctx, Args a) {
  return strings_get(call, ctx.wasi().env, u32(a[0]), u32(a[1]));
}

Result<WasiErrno> clock_res_get(HostCall& call, ComponentContext&, Args a) {
  uint32_t id = u32(a[0]);
  if (id != kClockRealtime && id != kClockMonotonic) return WasiErrno::Inval;
  timespec ts{};
  clock_getres(id == kClockRealtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
  AIRSSYS_TRY(call.write_u64(u32(a[1]), static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u +
                                            static_cast<uint64_t>(ts.tv_nsec)));
  return WasiErrno::Success;
}

Result<WasiErrno> clock_time_get(HostCall& call, ComponentContext&, Args a) {
  uint32_t id = u32(a[0]);
  // The CPU-time clocks would reveal the host's own usage; they are refused.
  if (id != kClockRealtime && id != kClockMonotonic) return WasiErrno::Inval;
  timespec ts{};
  clock_gettime(id == kClockRealtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
  AIRSSYS_TRY(call.write_u64(u32(a[2]), static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u +
                                            static_cast<uint64_t>(ts.tv_nsec)));
  return WasiErrno::Success;
}

Result<WasiErrno> random_get(HostCall& call, ComponentContext&, Args a) {
  AIRSSYS_TRY_ASSIGN(auto buffer, call.memory(u32(a[0]), u32(a[1])));
  size_t filled = 0;
  while (filled < buffer.size()) {
    ssize_t n = getrandom(buffer.data() + filled, buffer.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return WasiErrno::Io;
    }
    filled += static_cast<size_t>(n);
  }
  return WasiErrno::Success;
}

Result<WasiErrno> fd_write(HostCall& call, ComponentContext& ctx, Args a) {
  uint32_t fd = u32(a[0]);
  uint64_t iovs = u32(a[1]);
  uint64_t count = u32(a[2]);
  if (fd != 1 && fd != 2) return wasi::fd_write_file(call, ctx, a);
  if (count > wasi::kMaxIovecs) return WasiErrno::Inval;
  uint64_t written = 0;
  AIRSSYS_TRY(wasi::for_each_iovec(call, iovs, count, [&](std::span<const uint8_t> bytes) {
    if (fd == 1) {
      ctx.write_stdout(bytes);
    } else {
      ctx.write_stderr(bytes);
    }
    written += bytes.size();
  }));
  AIRSSYS_TRY(call.write_u32(u32(a[3]), static_cast<uint32_t>(written)));
  return WasiErrno::Success;
}

uint64_t monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// A sleep holds the component's worker thread, so one poll_oneoff sleeps at
// most this long; a longer timeout fails at once (ENOTSUP in its event).
constexpr uint64_t kMaxSleepNs = 10'000'000'000;
constexpr uint32_t kMaxSubscriptions = 64;
constexpr uint8_t kEventTypeClock = 0;
constexpr uint8_t kEventTypeFdWrite = 2;
constexpr uint16_t kSubclockAbstime = 1;

// Clock subscriptions sleep; fd subscriptions (sockets, pipes) are not
// supported and answer ENOSYS in their event without waiting.
Result<WasiErrno> poll_oneoff(HostCall& call, ComponentContext&, Args a) {
  uint32_t count = u32(a[2]);
  if (count == 0 || count > kMaxSubscriptions) return WasiErrno::Inval;
  AIRSSYS_TRY_ASSIGN(auto subscriptions, call.memory(u32(a[0]), uint64_t{count} * 48));
  AIRSSYS_TRY_ASSIGN(auto events, call.memory(u32(a[1]), uint64_t{count} * 32));
  AIRSSYS_TRY(call.memory(u32(a[3]), 4));

  struct Event {
    uint64_t userdata;
    WasiErrno error;
    uint8_t type;
    uint64_t deadline;  // monotonic, for a clock that sleeps
  };
  std::vector<Event> at_once, sleeps;
  const uint64_t now = monotonic_now();
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  const uint64_t real_now =
      static_cast<uint64_t>(real.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(real.tv_nsec);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* s = subscriptions.data() + uint64_t{i} * 48;
    uint64_t userdata, timeout;
    uint32_t id;
    uint16_t flags;
    std::memcpy(&userdata, s, 8);
    uint8_t type = s[8];
    if (type > kEventTypeFdWrite) return WasiErrno::Inval;
    if (type != kEventTypeClock) {
      at_once.push_back({userdata, WasiErrno::Nosys, type, 0});
      continue;
    }
    std::memcpy(&id, s + 16, 4);
    std::memcpy(&timeout, s + 24, 8);
    std::memcpy(&flags, s + 40, 2);
    if (id != kClockRealtime && id != kClockMonotonic) {
      at_once.push_back({userdata, WasiErrno::Inval, type, 0});
      continue;
    }
    uint64_t wait = timeout;
    if (flags & kSubclockAbstime) {
      uint64_t clock_now = id == kClockMonotonic ? now : real_now;
      wait = timeout > clock_now ? timeout - clock_now : 0;
    }
    if (wait > kMaxSleepNs) {
      at_once.push_back({userdata, WasiErrno::Notsup, type, 0});
      continue;
    }
    sleeps.push_back({userdata, WasiErrno::Success, type, now + wait});
  }
  if (at_once.empty()) {
    uint64_t earliest = UINT64_MAX;
    for (const auto& e : sleeps) earliest = std::min(earliest, e.deadline);
    timespec until{static_cast<time_t>(earliest / 1'000'000'000u),
                   static_cast<long>(earliest % 1'000'000'000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
    }
    const uint64_t woke = monotonic_now();
    for (const auto& e : sleeps) {
      if (e.deadline <= woke) at_once.push_back(e);
    }
  }
  std::memset(events.data(), 0, at_once.size() * 32);
  for (size_t i = 0; i < at_once.size(); ++i) {
    uint8_t* e = events.data() + i * 32;
    std::memcpy(e, &at_once[i].userdata, 8);
    auto error = static_cast<uint16_t>(at_once[i].error);
    std::memcpy(e + 8, &error, 2);
    e[10] = at_once[i].type;
  }
  AIRSSYS_TRY(call.write_u32(u32(a[3]), static_cast<uint32_t>(at_once.size())));
  return WasiErrno::Success;
}

Result<WasiErrno> proc_exit(HostCall&, ComponentContext&, Args a) {
  Error e{ErrorCode::ProcExit, fmt::format("component exited with status {}", u32(a[0])), {},
          static_cast<int32_t>(u32(a[0]))};
  return std::unexpected(std::move(e));
}

Result<WasiErrno> sched_yield(HostCall&, ComponentContext&, Args) { return WasiErrno::Success; }

Result<WasiErrno> not_supported(HostCall&, ComponentContext&, Args) { return WasiErrno::Nosys; }

struct WasiFunction {
  const char* name;
  std::vector<ValType> params;
  bool returns_errno;
  Body body;
};

const std::vector<WasiFunction>& wasi_functions() {
  static const std::vector<WasiFunction> kFunctions = {
      {"args_get", {I32, I32}, true, args_get},
      {"args_sizes_get", {I32, I32}, true, args_sizes_get},
      {"environ_get", {I32, I32}, true, environ_get},
      {"environ_sizes_get", {I32, I32}, true, environ_sizes_get},
      {"clock_res_get", {I32, I32}, true, clock_res_get},
      {"clock_time_get", {I32, I64, I32}, true, clock_time_get},
      {"fd_advise", {I32, I64, I64, I32}, true, not_supported},
      {"fd_allocate", {I32, I64, I64}, true, not_supported},
      {"fd_close", {I32}, true, wasi::fd_close},
      {"fd_datasync", {I32}, true, wasi::fd_datasync},
      {"fd_fdstat_get", {I32, I32}, true, wasi::fd_fdstat_get},
      {"fd_fdstat_set_flags", {I32, I32}, true, wasi::fd_fdstat_set_flags},
      {"fd_fdstat_set_rights", {I32, I64, I64}, true, not_supported},
      {"fd_filestat_get", {I32, I32}, true, wasi::fd_filestat_get},
      {"fd_filestat_set_size", {I32, I64}, true, wasi::fd_filestat_set_size},
      {"fd_filestat_set_times", {I32, I64, I64, I32}, true, not_supported},
      {"fd_pread", {I32, I32, I32, I64, I32}, true, wasi::fd_pread},
      {"fd_prestat_get", {I32, I32}, true, wasi::fd_prestat_get},
      {"fd_prestat_dir_name", {I32, I32, I32}, true, wasi::fd_prestat_dir_name},
      {"fd_pwrite", {I32, I32, I32, I64, I32}, true, wasi::fd_pwrite},
      {"fd_read", {I32, I32, I32, I32}, true, wasi::fd_read},
      {"fd_readdir", {I32, I32, I32, I64, I32}, true, wasi::fd_readdir},
      {"fd_renumber", {I32, I32}, true, not_supported},
      {"fd_seek", {I32, I64, I32, I32}, true, wasi::fd_seek},
      {"fd_sync", {I32}, true, wasi::fd_sync},
      {"fd_tell", {I32, I32}, true, wasi::fd_tell},
      {"fd_write", {I32, I32, I32, I32}, true, fd_write},
      {"path_create_directory", {I32, I32, I32}, true, wasi::path_create_directory},
      {"path_filestat_get", {I32, I32, I32, I32, I32}, true, wasi::path_filestat_get},
      {"path_filestat_set_times", {I32, I32, I32, I32, I64, I64, I32}, true, not_supported},
      {"path_link", {I32, I32, I32, I32, I32, I32, I32}, true, not_supported},
      {"path_open", {I32, I32, I32, I32, I32, I64, I64, I32, I32}, true, wasi::path_open},
      {"path_readlink", {I32, I32, I32, I32, I32, I32}, true, not_supported},
      {"path_remove_directory", {I32, I32, I32}, true, wasi::path_remove_directory},
      {"path_rename", {I32, I32, I32, I32, I32, I32}, true, wasi::path_rename},
      {"path_symlink", {I32, I32, I32, I32, I32}, true, not_supported},
      {"path_unlink_file", {I32, I32, I32}, true, wasi::path_unlink_file},
      {"poll_oneoff", {I32, I32, I32, I32}, true, poll_oneoff},
      {"proc_exit", {I32}, false, proc_exit},
      {"proc_raise", {I32}, true, not_supported},
      {"sched_yield", {}, true, sched_yield},
      {"random_get", {I32, I32}, true, random_get},
      {"sock_accept", {I32, I32, I32}, true, not_supported},
      {"sock_recv", {I32, I32, I32, I32, I32, I32}, true, not_supported},
      {"sock_send", {I32, I32, I32, I32, I32}, true, not_supported},
      {"sock_shutdown", {I32, I32}, true, not_supported},
  };
  return kFunctions;
}

}  // namespace

void add_wasi(engine::Linker& linker) {
  for (const auto& f : wasi_functions()) {
    engine::FuncSig sig{f.params, f.returns_errno ? std::vector{I32} : std::vector<ValType>{}};
    Body body = f.body;
    const char* name = f.name;
    linker.define({std::string(kWasiModule), f.name, std::move(sig),
                   [body, name](HostCall& call, Args args,
                                std::span<Value> results) -> Result<void> {
                     auto* ctx = static_cast<ComponentContext*>(call.user_data());
                     if (!ctx) {
                       return make_error(ErrorCode::InternalError,
                                         fmt::format("WASI {} called without a component context",
                                                     name));
                     }
                     auto outcome = body(call, *ctx, args);
                     WasiErrno errno_value;
                     if (outcome) {
                       errno_value = *outcome;
                     } else if (outcome.error().code == ErrorCode::TrapMemoryOutOfBounds) {
                       errno_value = WasiErrno::Fault;
                     } else {
                       return std::unexpected(std::move(outcome).error());
                     }
                     if (!results.empty()) {
                       results[0] = Value::i32(static_cast<int32_t>(errno_value));
                     }
                     return {};
                   }});
  }
}

}  // namespace airssys::wasm::host
