#include "airssys/wasm/host/wasi.hpp"

#include <sys/random.h>
#include <time.h>

#include <array>
#include <cstring>

#include <fmt/format.h>

#include "airssys/wasm/host/context.hpp"

namespace airssys::wasm::host {
namespace {

using engine::HostCall;
using engine::Value;
using engine::ValType;
using Args = std::span<const Value>;

constexpr ValType I32 = ValType::I32;
constexpr ValType I64 = ValType::I64;

constexpr uint8_t kFiletypeCharacterDevice = 2;
constexpr uint64_t kRightFdRead = 1u << 1;
constexpr uint64_t kRightFdWrite = 1u << 6;
constexpr uint32_t kClockRealtime = 0;
constexpr uint32_t kClockMonotonic = 1;
constexpr uint64_t kMaxIovecs = 1024;

uint32_t u32(const Value& v) { return static_cast<uint32_t>(v.as_i32()); }

// A WASI function body: the errno it returns, or an error that traps the
// guest. Guest-memory faults become EFAULT in the wrapper.
using Body = Result<WasiErrno> (*)(HostCall&, ComponentContext&, Args);

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
    auto dst = call.memory(offset, s.size() + 1);
    if (!dst) return std::unexpected(dst.error());
    std::memcpy(dst->data(), s.data(), s.size());
    (*dst)[s.size()] = 0;
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
  auto buffer = call.memory(u32(a[0]), u32(a[1]));
  if (!buffer) return std::unexpected(buffer.error());
  size_t filled = 0;
  while (filled < buffer->size()) {
    ssize_t n = getrandom(buffer->data() + filled, buffer->size() - filled, 0);
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
  if (fd != 1 && fd != 2) return WasiErrno::Badf;
  if (count > kMaxIovecs) return WasiErrno::Inval;
  auto table = call.memory(iovs, count * 8);
  if (!table) return std::unexpected(table.error());
  uint64_t written = 0;
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t ptr, len;
    std::memcpy(&ptr, table->data() + i * 8, 4);
    std::memcpy(&len, table->data() + i * 8 + 4, 4);
    auto bytes = call.memory(ptr, len);
    if (!bytes) return std::unexpected(bytes.error());
    if (fd == 1) {
      ctx.write_stdout(*bytes);
    } else {
      ctx.write_stderr(*bytes);
    }
    written += len;
  }
  AIRSSYS_TRY(call.write_u32(u32(a[3]), static_cast<uint32_t>(written)));
  return WasiErrno::Success;
}

Result<WasiErrno> fd_fdstat_get(HostCall& call, ComponentContext&, Args a) {
  uint32_t fd = u32(a[0]);
  if (fd > 2) return WasiErrno::Badf;
  auto out = call.memory(u32(a[1]), 24);
  if (!out) return std::unexpected(out.error());
  std::memset(out->data(), 0, 24);
  (*out)[0] = kFiletypeCharacterDevice;
  uint64_t rights = fd == 0 ? kRightFdRead : kRightFdWrite;
  std::memcpy(out->data() + 8, &rights, 8);
  return WasiErrno::Success;
}

Result<WasiErrno> no_preopens(HostCall&, ComponentContext&, Args) { return WasiErrno::Badf; }

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
      {"fd_close", {I32}, true, not_supported},
      {"fd_datasync", {I32}, true, not_supported},
      {"fd_fdstat_get", {I32, I32}, true, fd_fdstat_get},
      {"fd_fdstat_set_flags", {I32, I32}, true, not_supported},
      {"fd_fdstat_set_rights", {I32, I64, I64}, true, not_supported},
      {"fd_filestat_get", {I32, I32}, true, not_supported},
      {"fd_filestat_set_size", {I32, I64}, true, not_supported},
      {"fd_filestat_set_times", {I32, I64, I64, I32}, true, not_supported},
      {"fd_pread", {I32, I32, I32, I64, I32}, true, not_supported},
      {"fd_prestat_get", {I32, I32}, true, no_preopens},
      {"fd_prestat_dir_name", {I32, I32, I32}, true, no_preopens},
      {"fd_pwrite", {I32, I32, I32, I64, I32}, true, not_supported},
      {"fd_read", {I32, I32, I32, I32}, true, not_supported},
      {"fd_readdir", {I32, I32, I32, I64, I32}, true, not_supported},
      {"fd_renumber", {I32, I32}, true, not_supported},
      {"fd_seek", {I32, I64, I32, I32}, true, not_supported},
      {"fd_sync", {I32}, true, not_supported},
      {"fd_tell", {I32, I32}, true, not_supported},
      {"fd_write", {I32, I32, I32, I32}, true, fd_write},
      {"path_create_directory", {I32, I32, I32}, true, not_supported},
      {"path_filestat_get", {I32, I32, I32, I32, I32}, true, not_supported},
      {"path_filestat_set_times", {I32, I32, I32, I32, I64, I64, I32}, true, not_supported},
      {"path_link", {I32, I32, I32, I32, I32, I32, I32}, true, not_supported},
      {"path_open", {I32, I32, I32, I32, I32, I64, I64, I32, I32}, true, not_supported},
      {"path_readlink", {I32, I32, I32, I32, I32, I32}, true, not_supported},
      {"path_remove_directory", {I32, I32, I32}, true, not_supported},
      {"path_rename", {I32, I32, I32, I32, I32, I32}, true, not_supported},
      {"path_symlink", {I32, I32, I32, I32, I32}, true, not_supported},
      {"path_unlink_file", {I32, I32, I32}, true, not_supported},
      {"poll_oneoff", {I32, I32, I32, I32}, true, not_supported},
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
