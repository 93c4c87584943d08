#pragma once
// What the WASI translation units share: the shape of a function body and
// the file functions of wasi_files.cpp.

#include <cstdint>
#include <cstring>
#include <span>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/wasi.hpp"

namespace airssys::wasm::host::wasi {

using Args = std::span<const engine::Value>;

// A WASI function body: the errno it returns, or an error that traps the
// guest. Guest-memory faults (TrapMemoryOutOfBounds) become EFAULT in the
// wrapper, so a body may return them from any guest access.
using Body = Result<WasiErrno> (*)(engine::HostCall&, ComponentContext&, Args);

inline uint32_t u32(const engine::Value& v) {
  return static_cast<uint32_t>(v.as_i32());
}
inline uint64_t u64(const engine::Value& v) {
  return static_cast<uint64_t>(v.as_i64());
}

// The most iovecs one read or write takes.
inline constexpr uint64_t kMaxIovecs = 1024;

// Calls `visit` with each buffer of the iovec table at `table_ptr` (`count`
// entries of {u32 ptr, u32 len}), in order, each checked against guest
// memory before it is visited.
template <class Visit>
[[nodiscard]] Result<void> for_each_iovec(engine::HostCall& call, uint64_t table_ptr,
                                          uint64_t count, Visit&& visit) {
  AIRSSYS_TRY_ASSIGN(auto table, call.memory(table_ptr, count * 8));
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t ptr, len;
    std::memcpy(&ptr, table.data() + i * 8, 4);
    std::memcpy(&len, table.data() + i * 8 + 4, 4);
    AIRSSYS_TRY_ASSIGN(auto bytes, call.memory(ptr, len));
    visit(bytes);
  }
  return {};
}

// fd 0-2 are the standard streams; fd_write to 1 and 2 stays in wasi.cpp.
Result<WasiErrno> fd_read(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_write_file(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_pread(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_pwrite(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_seek(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_tell(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_close(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_sync(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_datasync(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_fdstat_get(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_fdstat_set_flags(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_filestat_get(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_filestat_set_size(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_readdir(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_prestat_get(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> fd_prestat_dir_name(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> path_open(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> path_filestat_get(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> path_create_directory(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> path_remove_directory(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> path_unlink_file(engine::HostCall&, ComponentContext&, Args);
Result<WasiErrno> path_rename(engine::HostCall&, ComponentContext&, Args);

}  // namespace airssys::wasm::host::wasi
