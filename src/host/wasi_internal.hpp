#pragma once
// What the WASI translation units share: the shape of a function body and
// the file functions of wasi_files.cpp.

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <expected>

#include <sys/stat.h>

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

// ---- The file operations WASI 0.2 shares (wasi2_files.cpp) --------------------
// Each works on descriptors of ctx.files() with the very checks and audit
// records of the preview 1 function named beside it.

// The errno of a failed host call as a WASI errno.
WasiErrno errno_to_wasi(int error);
// A path as a component names it: not empty, at most PATH_MAX, no NUL.
std::expected<std::string, WasiErrno> checked_path(std::string_view path);
// path_open: `oflags`, `rights` and `fdflags` as preview 1 spells them.
std::expected<uint32_t, WasiErrno> open_at(ComponentContext& ctx, uint32_t dirfd,
                                           const std::string& path, bool follow, uint32_t oflags,
                                           uint64_t rights, uint64_t inheriting, uint16_t fdflags);
// path_filestat_get and fd_filestat_get (fd >= FileTable::kFirstFd).
std::expected<struct stat, WasiErrno> stat_at(ComponentContext& ctx, uint32_t dirfd,
                                              const std::string& path, bool follow);
std::expected<struct stat, WasiErrno> stat_fd(ComponentContext& ctx, uint32_t fd);
// path_create_directory, path_remove_directory, path_unlink_file, path_rename.
WasiErrno create_directory_at(ComponentContext& ctx, uint32_t dirfd, const std::string& path);
WasiErrno remove_directory_at(ComponentContext& ctx, uint32_t dirfd, const std::string& path);
WasiErrno unlink_file_at(ComponentContext& ctx, uint32_t dirfd, const std::string& path);
WasiErrno rename_at(ComponentContext& ctx, uint32_t from_fd, const std::string& from_path,
                    uint32_t to_fd, const std::string& to_path);

// The rights preview 1 gives a file opened for reading or writing.
inline constexpr uint64_t kRightsRead = (1u << 1) | (1u << 14);
inline constexpr uint64_t kRightsWrite = (1u << 6) | (1u << 8) | (1u << 22) | (1u << 0);

}  // namespace airssys::wasm::host::wasi
