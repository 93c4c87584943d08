// WASI preview 1 files. Every path a component names is resolved beneath one
// of its directory descriptors (a preopen or a directory it opened) without
// leaving it, and both the path as named (normalized lexically, checked
// without an audit record so that a refused path reveals nothing about the
// filesystem) and the real path it resolves to are checked against the
// component's filesystem grants; the real path's decision is audited.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/host/files.hpp"
#include "wasi_internal.hpp"

namespace airssys::wasm::host::wasi {
namespace {

using engine::HostCall;
using security::Permission;

template <class T>
using Wasi = std::expected<T, WasiErrno>;

constexpr uint32_t kLookupSymlinkFollow = 1;

constexpr uint32_t kOflagCreat = 1u << 0;
constexpr uint32_t kOflagDirectory = 1u << 1;
constexpr uint32_t kOflagExcl = 1u << 2;
constexpr uint32_t kOflagTrunc = 1u << 3;

constexpr uint16_t kFdflagAppend = 1u << 0;
constexpr uint16_t kFdflagDsync = 1u << 1;
constexpr uint16_t kFdflagNonblock = 1u << 2;
constexpr uint16_t kFdflagRsync = 1u << 3;
constexpr uint16_t kFdflagSync = 1u << 4;
constexpr uint16_t kKnownFdflags =
    kFdflagAppend | kFdflagDsync | kFdflagNonblock | kFdflagRsync | kFdflagSync;

constexpr uint8_t kFiletypeUnknown = 0;
constexpr uint8_t kFiletypeBlockDevice = 1;
constexpr uint8_t kFiletypeCharacterDevice = 2;
constexpr uint8_t kFiletypeDirectory = 3;
constexpr uint8_t kFiletypeRegularFile = 4;
constexpr uint8_t kFiletypeSocketStream = 6;
constexpr uint8_t kFiletypeSymbolicLink = 7;

constexpr uint64_t kRightFdDatasync = 1u << 0;
constexpr uint64_t kRightFdRead = 1u << 1;
constexpr uint64_t kRightFdSeek = 1u << 2;
constexpr uint64_t kRightFdSync = 1u << 4;
constexpr uint64_t kRightFdTell = 1u << 5;
constexpr uint64_t kRightFdWrite = 1u << 6;
constexpr uint64_t kRightFdAdvise = 1u << 7;
constexpr uint64_t kRightFdAllocate = 1u << 8;
constexpr uint64_t kRightFdReaddir = 1u << 14;
constexpr uint64_t kRightFdFilestatSetSize = 1u << 22;
constexpr uint64_t kRightPollFdReadwrite = 1u << 27;
constexpr uint64_t kRightSockShutdown = 1u << 28;
constexpr uint64_t kRightSockAccept = 1u << 29;
constexpr uint64_t kAllRights = (uint64_t{1} << 30) - 1;
// Rights that only make sense on an open file; a directory has every other one
// (each path operation is checked against the grants when it happens).
constexpr uint64_t kFileOnlyRights = kRightFdDatasync | kRightFdRead | kRightFdSeek | kRightFdSync |
                                     kRightFdTell | kRightFdWrite | kRightFdAdvise |
                                     kRightFdAllocate | kRightFdFilestatSetSize |
                                     kRightPollFdReadwrite | kRightSockShutdown | kRightSockAccept;
constexpr uint64_t kDirectoryRights = kAllRights & ~kFileOnlyRights;
constexpr uint64_t kReadRights = kRightFdRead | kRightFdReaddir;
constexpr uint64_t kWriteRights =
    kRightFdWrite | kRightFdAllocate | kRightFdFilestatSetSize | kRightFdDatasync;

// One read or write moves at most this much; WASI allows short transfers and
// wasi-libc continues, so no single host call holds a worker for long.
constexpr size_t kMaxIoBytes = 16 * 1024 * 1024;

WasiErrno from_errno(int error) {
  switch (error) {
    case 0:
      return WasiErrno::Success;
    case E2BIG:
      return WasiErrno::TooBig;
    case EACCES:
      return WasiErrno::Acces;
    case EAGAIN:
      return WasiErrno::Again;
    case EBADF:
      return WasiErrno::Badf;
    case EBUSY:
      return WasiErrno::Busy;
    case EDQUOT:
      return WasiErrno::Dquot;
    case EEXIST:
      return WasiErrno::Exist;
    case EFBIG:
      return WasiErrno::Fbig;
    case EINTR:
      return WasiErrno::Intr;
    case EINVAL:
      return WasiErrno::Inval;
    case EISDIR:
      return WasiErrno::Isdir;
    case ELOOP:
      return WasiErrno::Loop;
    case EMFILE:
      return WasiErrno::Mfile;
    case EMLINK:
      return WasiErrno::Mlink;
    case ENAMETOOLONG:
      return WasiErrno::Nametoolong;
    case ENFILE:
      return WasiErrno::Nfile;
    case ENODEV:
      return WasiErrno::Nodev;
    case ENOENT:
      return WasiErrno::Noent;
    case ENOMEM:
      return WasiErrno::Nomem;
    case ENOSPC:
      return WasiErrno::Nospc;
    case ENOTDIR:
      return WasiErrno::Notdir;
    case ENOTEMPTY:
      return WasiErrno::Notempty;
    case EOPNOTSUPP:
      return WasiErrno::Notsup;
    case ENXIO:
      return WasiErrno::Nxio;
    case EOVERFLOW:
      return WasiErrno::Overflow;
    case EPERM:
      return WasiErrno::Perm;
    case EROFS:
      return WasiErrno::Rofs;
    case ESPIPE:
      return WasiErrno::Spipe;
    case ETXTBSY:
      return WasiErrno::Txtbsy;
    case EXDEV:
      return WasiErrno::Xdev;
    default:
      return WasiErrno::Io;
  }
}

// ---- Guest memory -----------------------------------------------------------

void put_u64(uint8_t* at, uint64_t value) {
  std::memcpy(at, &value, 8);
}
void put_u32(uint8_t* at, uint32_t value) {
  std::memcpy(at, &value, 4);
}

// The buffers of an iovec table, each checked against memory, at most
// kMaxIoBytes in all (the rest is left for the guest's next call).
Result<std::vector<iovec>> guest_iovecs(HostCall& call, uint64_t table_ptr, uint64_t count) {
  std::vector<iovec> iovecs;
  size_t total = 0;
  AIRSSYS_TRY(for_each_iovec(call, table_ptr, count, [&](std::span<uint8_t> bytes) {
    size_t take = std::min<size_t>(bytes.size(), kMaxIoBytes - total);
    if (take > 0) iovecs.push_back({bytes.data(), take});
    total += take;
  }));
  return iovecs;
}

Wasi<std::string> to_path(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return std::unexpected(WasiErrno::Noent);
  if (bytes.size() > PATH_MAX) return std::unexpected(WasiErrno::Nametoolong);
  std::string path(bytes.begin(), bytes.end());
  if (path.find('\0') != std::string::npos) return std::unexpected(WasiErrno::Inval);
  return path;
}

uint8_t filetype_of(mode_t mode) {
  if (S_ISREG(mode)) return kFiletypeRegularFile;
  if (S_ISDIR(mode)) return kFiletypeDirectory;
  if (S_ISLNK(mode)) return kFiletypeSymbolicLink;
  if (S_ISCHR(mode)) return kFiletypeCharacterDevice;
  if (S_ISBLK(mode)) return kFiletypeBlockDevice;
  if (S_ISSOCK(mode)) return kFiletypeSocketStream;
  return kFiletypeUnknown;
}

uint64_t nanoseconds(const timespec& t) {
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(t.tv_nsec);
}

void put_filestat(std::span<uint8_t> out, const struct stat& st) {
  std::memset(out.data(), 0, 64);
  put_u64(out.data() + 0, st.st_dev);
  put_u64(out.data() + 8, st.st_ino);
  out[16] = filetype_of(st.st_mode);
  put_u64(out.data() + 24, st.st_nlink);
  put_u64(out.data() + 32, static_cast<uint64_t>(st.st_size));
  put_u64(out.data() + 40, nanoseconds(st.st_atim));
  put_u64(out.data() + 48, nanoseconds(st.st_mtim));
  put_u64(out.data() + 56, nanoseconds(st.st_ctim));
}

// ---- Grants -----------------------------------------------------------------

// Which grants an operation needs on its path.
struct Access {
  bool read = false;
  bool write = false;
};

std::vector<Permission> permissions(Access access) {
  std::vector<Permission> list;
  if (access.read) list.push_back(Permission::FsRead);
  if (access.write) list.push_back(Permission::FsWrite);
  return list;
}

// The path as the component named it, before the filesystem is touched: a
// refusal here is audited, a pass is not (the real path's check is).
Wasi<void> precheck(ComponentContext& ctx, Access access, const std::string& path) {
  for (auto permission : permissions(access)) {
    if (!ctx.permits(permission, path)) {
      (void)ctx.authorize(permission, path);  // writes the denial's audit record
      return std::unexpected(WasiErrno::Acces);
    }
  }
  return {};
}

Wasi<void> authorize(ComponentContext& ctx, Access access, const std::string& path) {
  for (auto permission : permissions(access)) {
    if (!ctx.authorize(permission, path)) return std::unexpected(WasiErrno::Acces);
  }
  return {};
}

WasiErrno refuse_escape(ComponentContext& ctx, Access access, const std::string& path) {
  auto list = permissions(access);
  ctx.audit(security::permission_name(list.front()), path, security::AuditResult::Denied,
            security::DecisionLayer::Component,
            "the path leads outside its preopened directory (`..`, an absolute path or a "
            "symlink)");
  return WasiErrno::Acces;
}

Wasi<OpenFile*> directory_fd(ComponentContext& ctx, uint32_t fd) {
  OpenFile* file = ctx.files().get(fd);
  if (!file) return std::unexpected(WasiErrno::Badf);
  if (file->kind != FileKind::Directory) return std::unexpected(WasiErrno::Notdir);
  return file;
}

Wasi<OpenFile*> open_fd(ComponentContext& ctx, uint32_t fd) {
  OpenFile* file = ctx.files().get(fd);
  if (!file) return std::unexpected(WasiErrno::Badf);
  return file;
}

struct Route {
  OpenFile* dir;
  std::string relative;
};

// A path given to the root goes to the preopen that holds it, normalized
// lexically first (the root has no directory of its own to resolve in); a path
// no preopen holds is refused and audited.
Wasi<Route> route(ComponentContext& ctx, OpenFile& dir, const std::string& relative,
                  Access access) {
  if (!dir.root) return Route{&dir, relative};
  std::string named = join_normalized("/", relative);
  OpenFile* holder = ctx.files().preopen_holding(named);
  if (!holder) {
    AIRSSYS_TRY(precheck(ctx, access, named));
    ctx.audit(security::permission_name(permissions(access).front()), named,
              security::AuditResult::Denied, security::DecisionLayer::Component,
              "the path is outside every preopened directory");
    return std::unexpected(WasiErrno::Acces);
  }
  const std::string holder_name = anchored_name(holder->preopen);
  std::string rest = named.size() == holder_name.size()
                         ? std::string(".")
                         : named.substr(holder_name == "/" ? 1 : holder_name.size() + 1);
  // The grants speak of host paths: the name the component used is checked
  // where its preopen lies on the host.
  AIRSSYS_TRY(precheck(ctx, access, join_normalized(holder->host_dir, rest)));
  if (relative.back() == '/') rest += '/';
  return Route{holder, std::move(rest)};
}

struct Located {
  UniqueFd fd;       // O_PATH
  std::string path;  // its real path
};

// An existing file beneath `dir`; the caller authorizes `path` once it knows
// the whole operation may go ahead.
Wasi<Located> locate(ComponentContext& ctx, OpenFile& given, const std::string& given_relative,
                     bool follow, bool directory, Access access) {
  AIRSSYS_TRY_ASSIGN(auto routed, route(ctx, given, given_relative, access));
  OpenFile& dir = *routed.dir;
  const std::string& relative = routed.relative;
  if (relative.front() == '/') {
    return std::unexpected(refuse_escape(ctx, access, join_normalized("/", relative)));
  }
  auto base = descriptor_path(dir.fd.get());
  if (!base) return std::unexpected(from_errno(base.error()));
  std::string named = join_normalized(*base, relative);
  AIRSSYS_TRY(precheck(ctx, access, named));
  auto fd = open_beneath(dir.fd.get(), relative, follow, directory, ctx.files().resolver());
  if (!fd) {
    return std::unexpected(fd.error() == EXDEV ? refuse_escape(ctx, access, named)
                                               : from_errno(fd.error()));
  }
  auto real = descriptor_path(fd->get());
  if (!real) return std::unexpected(from_errno(real.error()));
  return Located{std::move(*fd), std::move(*real)};
}

// The last segment of a path, trailing '/' ignored.
std::string_view last_segment(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t cut = path.rfind('/');
  return cut == std::string_view::npos ? path : path.substr(cut + 1);
}

bool is_dot_or_dotdot(std::string_view name) {
  return name == "." || name == "..";
}

struct Entry {
  UniqueFd parent;      // the directory that holds it, resolved beneath `dir`
  std::string name;     // one segment, never "." or ".."
  std::string path;     // real path of the parent + "/" + name
  bool trailing_slash;  // the component wrote "name/"
};

// A name to create, remove or rename beneath `dir`: its parent is resolved
// (symlinks within `dir` followed), the name itself never is.
Wasi<Entry> locate_entry(ComponentContext& ctx, OpenFile& given, const std::string& given_relative,
                         Access access) {
  AIRSSYS_TRY_ASSIGN(auto routed, route(ctx, given, given_relative, access));
  OpenFile& dir = *routed.dir;
  const std::string& relative = routed.relative;
  if (relative.front() == '/') {
    return std::unexpected(refuse_escape(ctx, access, join_normalized("/", relative)));
  }
  std::string_view trimmed = relative;
  bool trailing_slash = false;
  while (trimmed.size() > 1 && trimmed.back() == '/') {
    trimmed.remove_suffix(1);
    trailing_slash = true;
  }
  size_t cut = trimmed.rfind('/');
  std::string name(cut == std::string_view::npos ? trimmed : trimmed.substr(cut + 1));
  std::string parent(cut == std::string_view::npos ? std::string_view(".")
                                                   : trimmed.substr(0, cut));
  if (is_dot_or_dotdot(name)) return std::unexpected(WasiErrno::Inval);
  auto base = descriptor_path(dir.fd.get());
  if (!base) return std::unexpected(from_errno(base.error()));
  std::string named = join_normalized(*base, relative);
  AIRSSYS_TRY(precheck(ctx, access, named));
  auto parent_fd = open_beneath(dir.fd.get(), parent, true, true, ctx.files().resolver());
  if (!parent_fd) {
    return std::unexpected(parent_fd.error() == EXDEV ? refuse_escape(ctx, access, named)
                                                      : from_errno(parent_fd.error()));
  }
  auto real_parent = descriptor_path(parent_fd->get());
  if (!real_parent) return std::unexpected(from_errno(real_parent.error()));
  std::string path = *real_parent == "/" ? "/" + name : *real_parent + "/" + name;
  return Entry{std::move(*parent_fd), std::move(name), std::move(path), trailing_slash};
}

// A name written with a trailing '/' must be a directory.
Wasi<void> check_trailing_slash(const Entry& entry) {
  if (!entry.trailing_slash) return {};
  struct stat st {};
  if (::fstatat(entry.parent.get(), entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return std::unexpected(from_errno(errno));
  }
  if (!S_ISDIR(st.st_mode)) return std::unexpected(WasiErrno::Notdir);
  return {};
}

// A host function's errno is its result, not its error: a memory fault
// propagates as an Error (AIRSSYS_TRY), a refused path or descriptor comes
// back to the guest as an errno (AIRSSYS_TRY_ASSIGN_OR_RETURN with this).
Result<WasiErrno> errno_result(WasiErrno e) {
  return e;
}
// The same errno, for the shared operations that return one (wasi_internal.hpp).
WasiErrno same_errno(WasiErrno e) {
  return e;
}
std::unexpected<WasiErrno> errno_error(WasiErrno e) {
  return std::unexpected(e);
}

Result<WasiErrno> read_or_write(HostCall& call, ComponentContext& ctx, Args a, bool write,
                                std::optional<uint64_t> offset, uint32_t result_ptr) {
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto file, open_fd(ctx, u32(a[0])), errno_result);
  uint64_t count = u32(a[2]);
  if (count > kMaxIovecs) return WasiErrno::Inval;
  if (offset && *offset > static_cast<uint64_t>(INT64_MAX)) return WasiErrno::Inval;
  AIRSSYS_TRY_ASSIGN(auto iovecs, guest_iovecs(call, u32(a[1]), count));
  AIRSSYS_TRY(call.memory(result_ptr, 4));
  int fd = file->fd.get();
  int n_iov = static_cast<int>(iovecs.size());
  ssize_t n;
  do {
    if (offset) {
      auto at = static_cast<off_t>(*offset);
      n = write ? ::pwritev(fd, iovecs.data(), n_iov, at) : ::preadv(fd, iovecs.data(), n_iov, at);
    } else {
      n = write ? ::writev(fd, iovecs.data(), n_iov) : ::readv(fd, iovecs.data(), n_iov);
    }
  } while (n < 0 && errno == EINTR);
  if (n < 0) return from_errno(errno);
  AIRSSYS_TRY(call.write_u32(result_ptr, static_cast<uint32_t>(n)));
  return WasiErrno::Success;
}

}  // namespace

// ---- Descriptors ------------------------------------------------------------

Result<WasiErrno> fd_read(HostCall& call, ComponentContext& ctx, Args a) {
  uint32_t fd = u32(a[0]);
  if (fd == 0) {  // standard input: what the host gives (none: end of file at once)
    if (u32(a[2]) > kMaxIovecs) return WasiErrno::Inval;
    AIRSSYS_TRY_ASSIGN(auto iovecs, guest_iovecs(call, u32(a[1]), u32(a[2])));
    size_t n = 0;
    // One read into the first buffer: a short read is a read.
    if (!iovecs.empty()) {
      auto got = ctx.read_stdin({static_cast<uint8_t*>(iovecs.front().iov_base),
                                 iovecs.front().iov_len});
      if (!got) return from_errno(got.error());
      n = *got;
    }
    AIRSSYS_TRY(call.write_u32(u32(a[3]), static_cast<uint32_t>(n)));
    return WasiErrno::Success;
  }
  if (fd < FileTable::kFirstFd) return WasiErrno::Badf;
  return read_or_write(call, ctx, a, false, std::nullopt, u32(a[3]));
}

Result<WasiErrno> fd_write_file(HostCall& call, ComponentContext& ctx, Args a) {
  if (u32(a[0]) < FileTable::kFirstFd) return WasiErrno::Badf;
  return read_or_write(call, ctx, a, true, std::nullopt, u32(a[3]));
}

Result<WasiErrno> fd_pread(HostCall& call, ComponentContext& ctx, Args a) {
  if (u32(a[0]) < FileTable::kFirstFd) return u32(a[0]) == 0 ? WasiErrno::Spipe : WasiErrno::Badf;
  return read_or_write(call, ctx, a, false, u64(a[3]), u32(a[4]));
}

Result<WasiErrno> fd_pwrite(HostCall& call, ComponentContext& ctx, Args a) {
  if (u32(a[0]) < FileTable::kFirstFd) return u32(a[0]) == 0 ? WasiErrno::Badf : WasiErrno::Spipe;
  return read_or_write(call, ctx, a, true, u64(a[3]), u32(a[4]));
}

Result<WasiErrno> fd_seek(HostCall& call, ComponentContext& ctx, Args a) {
  uint32_t fd = u32(a[0]);
  if (fd < FileTable::kFirstFd) return WasiErrno::Spipe;
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto file, open_fd(ctx, fd), errno_result);
  uint32_t whence = u32(a[2]);
  if (whence > 2) return WasiErrno::Inval;  // WASI's SET, CUR, END are Linux's 0, 1, 2
  AIRSSYS_TRY(call.memory(u32(a[3]), 8));
  off_t at = ::lseek(file->fd.get(), static_cast<off_t>(u64(a[1])), static_cast<int>(whence));
  if (at < 0) return from_errno(errno);
  AIRSSYS_TRY(call.write_u64(u32(a[3]), static_cast<uint64_t>(at)));
  return WasiErrno::Success;
}

Result<WasiErrno> fd_tell(HostCall& call, ComponentContext& ctx, Args a) {
  uint32_t fd = u32(a[0]);
  if (fd < FileTable::kFirstFd) return WasiErrno::Spipe;
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto file, open_fd(ctx, fd), errno_result);
  AIRSSYS_TRY(call.memory(u32(a[1]), 8));
  off_t at = ::lseek(file->fd.get(), 0, SEEK_CUR);
  if (at < 0) return from_errno(errno);
  AIRSSYS_TRY(call.write_u64(u32(a[1]), static_cast<uint64_t>(at)));
  return WasiErrno::Success;
}

Result<WasiErrno> fd_close(HostCall&, ComponentContext& ctx, Args a) {
  uint32_t fd = u32(a[0]);
  if (fd < FileTable::kFirstFd) return WasiErrno::Success;  // the streams stay with the host
  return ctx.files().close(fd) ? WasiErrno::Success : WasiErrno::Badf;
}

Result<WasiErrno> fd_sync(HostCall&, ComponentContext& ctx, Args a) {
  if (u32(a[0]) < FileTable::kFirstFd) return WasiErrno::Inval;
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto file, open_fd(ctx, u32(a[0])), errno_result);
  return ::fsync(file->fd.get()) == 0 ? WasiErrno::Success : from_errno(errno);
}

Result<WasiErrno> fd_datasync(HostCall&, ComponentContext& ctx, Args a) {
  if (u32(a[0]) < FileTable::kFirstFd) return WasiErrno::Inval;
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto file, open_fd(ctx, u32(a[0])), errno_result);
  return ::fdatasync(file->fd.get()) == 0 ? WasiErrno::Success : from_errno(errno);
}

Result<WasiErrno> fd_fdstat_get(HostCall& call, ComponentContext& ctx, Args a) {
  uint32_t fd = u32(a[0]);
  OpenFile* file = nullptr;
  if (fd >= FileTable::kFirstFd) {
    AIRSSYS_TRY_ASSIGN_OR_RETURN(auto found, open_fd(ctx, fd), errno_result);
    file = found;
  }
  AIRSSYS_TRY_ASSIGN(auto out, call.memory(u32(a[1]), 24));
  std::memset(out.data(), 0, 24);
  if (!file) {
    out[0] = kFiletypeCharacterDevice;
    put_u64(out.data() + 8, fd == 0 ? kRightFdRead : kRightFdWrite);
    return WasiErrno::Success;
  }
  if (file->kind == FileKind::Directory) {
    out[0] = kFiletypeDirectory;
  } else {
    struct stat st {};
    out[0] = ::fstat(file->fd.get(), &st) == 0 ? filetype_of(st.st_mode) : kFiletypeUnknown;
  }
  uint16_t flags = file->flags;
  std::memcpy(out.data() + 2, &flags, 2);
  // wasi-libc derives the rights of what it opens from a directory's
  // inheriting rights: a preopen offers all of them, the grants decide.
  bool preopen = !file->preopen.empty();
  put_u64(out.data() + 8, preopen ? kDirectoryRights : file->rights_base);
  put_u64(out.data() + 16, preopen ? kAllRights : file->rights_inheriting);
  return WasiErrno::Success;
}

Result<WasiErrno> fd_fdstat_set_flags(HostCall&, ComponentContext& ctx, Args a) {
  uint32_t fd = u32(a[0]);
  if (fd < FileTable::kFirstFd) return WasiErrno::Notsup;
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto file, open_fd(ctx, fd), errno_result);
  auto flags = static_cast<uint16_t>(u32(a[1]));
  // Only append and non-blocking can change on an open Linux file.
  if ((flags & ~(kFdflagAppend | kFdflagNonblock)) != 0) return WasiErrno::Notsup;
  if (file->kind == FileKind::Directory) return WasiErrno::Badf;
  int host = ::fcntl(file->fd.get(), F_GETFL);
  if (host < 0) return from_errno(errno);
  host &= ~(O_APPEND | O_NONBLOCK);
  if (flags & kFdflagAppend) host |= O_APPEND;
  if (flags & kFdflagNonblock) host |= O_NONBLOCK;
  if (::fcntl(file->fd.get(), F_SETFL, host) != 0) return from_errno(errno);
  file->flags = static_cast<uint16_t>((file->flags & ~(kFdflagAppend | kFdflagNonblock)) | flags);
  return WasiErrno::Success;
}

Result<WasiErrno> fd_filestat_get(HostCall& call, ComponentContext& ctx, Args a) {
  uint32_t fd = u32(a[0]);
  AIRSSYS_TRY_ASSIGN(auto out, call.memory(u32(a[1]), 64));
  struct stat st {};
  if (fd < FileTable::kFirstFd) {
    st.st_mode = S_IFCHR;
    put_filestat(out, st);
    return WasiErrno::Success;
  }
  AIRSSYS_TRY_ASSIGN_OR_RETURN(st, stat_fd(ctx, fd), errno_result);
  put_filestat(out, st);
  return WasiErrno::Success;
}

Result<WasiErrno> fd_filestat_set_size(HostCall&, ComponentContext& ctx, Args a) {
  if (u32(a[0]) < FileTable::kFirstFd) return WasiErrno::Inval;
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto file, open_fd(ctx, u32(a[0])), errno_result);
  uint64_t size = u64(a[1]);
  if (size > static_cast<uint64_t>(INT64_MAX)) return WasiErrno::Inval;
  // The descriptor was opened for writing only when filesystem.write allowed it.
  if (::ftruncate(file->fd.get(), static_cast<off_t>(size)) != 0) return from_errno(errno);
  return WasiErrno::Success;
}

Result<WasiErrno> fd_readdir(HostCall& call, ComponentContext& ctx, Args a) {
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto file, directory_fd(ctx, u32(a[0])), errno_result);
  AIRSSYS_TRY_ASSIGN(auto buffer, call.memory(u32(a[1]), u32(a[2])));
  uint64_t cookie = u64(a[3]);
  uint32_t used_ptr = u32(a[4]);
  AIRSSYS_TRY(call.memory(used_ptr, 4));
  if (cookie > static_cast<uint64_t>(INT64_MAX)) return WasiErrno::Inval;
  int fd = file->fd.get();
  // The cookie of an entry is the kernel's offset of the entry after it (d_off).
  if (::lseek(fd, static_cast<off_t>(cookie), SEEK_SET) < 0) return from_errno(errno);
  alignas(8) std::array<uint8_t, 16384> chunk;
  size_t used = 0;
  const size_t capacity = buffer.size();
  while (used < capacity) {
    ssize_t n = ::getdents64(fd, chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return from_errno(errno);
    }
    if (n == 0) break;
    for (size_t at = 0; at < static_cast<size_t>(n) && used < capacity;) {
      uint64_t ino;
      int64_t next;
      uint16_t reclen;
      uint8_t type;
      std::memcpy(&ino, chunk.data() + at + offsetof(dirent64, d_ino), 8);
      std::memcpy(&next, chunk.data() + at + offsetof(dirent64, d_off), 8);
      std::memcpy(&reclen, chunk.data() + at + offsetof(dirent64, d_reclen), 2);
      std::memcpy(&type, chunk.data() + at + offsetof(dirent64, d_type), 1);
      const char* name_at =
          reinterpret_cast<const char*>(chunk.data() + at + offsetof(dirent64, d_name));
      size_t name_len = ::strnlen(name_at, reclen - offsetof(dirent64, d_name));
      at += reclen;
      std::array<uint8_t, 24> header{};
      put_u64(header.data(), static_cast<uint64_t>(next));
      put_u64(header.data() + 8, ino);
      put_u32(header.data() + 16, static_cast<uint32_t>(name_len));
      switch (type) {
        case DT_REG:
          header[20] = kFiletypeRegularFile;
          break;
        case DT_DIR:
          header[20] = kFiletypeDirectory;
          break;
        case DT_LNK:
          header[20] = kFiletypeSymbolicLink;
          break;
        case DT_CHR:
          header[20] = kFiletypeCharacterDevice;
          break;
        case DT_BLK:
          header[20] = kFiletypeBlockDevice;
          break;
        case DT_SOCK:
          header[20] = kFiletypeSocketStream;
          break;
        default:
          header[20] = kFiletypeUnknown;
          break;
      }
      // The last entry may be cut short: a full buffer tells the guest to read on.
      size_t take = std::min(header.size(), capacity - used);
      std::memcpy(buffer.data() + used, header.data(), take);
      used += take;
      take = std::min(name_len, capacity - used);
      std::memcpy(buffer.data() + used, name_at, take);
      used += take;
    }
  }
  AIRSSYS_TRY(call.write_u32(used_ptr, static_cast<uint32_t>(used)));
  return WasiErrno::Success;
}

Result<WasiErrno> fd_prestat_get(HostCall& call, ComponentContext& ctx, Args a) {
  OpenFile* file = ctx.files().get(u32(a[0]));
  if (!file || file->preopen.empty()) return WasiErrno::Badf;
  AIRSSYS_TRY_ASSIGN(auto out, call.memory(u32(a[1]), 8));
  std::memset(out.data(), 0, 8);  // tag 0: a directory
  put_u32(out.data() + 4, static_cast<uint32_t>(file->preopen.size()));
  return WasiErrno::Success;
}

Result<WasiErrno> fd_prestat_dir_name(HostCall& call, ComponentContext& ctx, Args a) {
  OpenFile* file = ctx.files().get(u32(a[0]));
  if (!file || file->preopen.empty()) return WasiErrno::Badf;
  if (u32(a[2]) < file->preopen.size()) return WasiErrno::Nametoolong;
  AIRSSYS_TRY_ASSIGN(auto out, call.memory(u32(a[1]), file->preopen.size()));
  std::memcpy(out.data(), file->preopen.data(), file->preopen.size());
  return WasiErrno::Success;
}

// ---- Paths ------------------------------------------------------------------

Result<WasiErrno> path_open(HostCall& call, ComponentContext& ctx, Args a) {
  const bool follow = (u32(a[1]) & kLookupSymlinkFollow) != 0;
  const uint32_t fd_ptr = u32(a[8]);
  AIRSSYS_TRY_ASSIGN(auto path_bytes, call.memory(u32(a[2]), u32(a[3])));
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto path, to_path(path_bytes), errno_result);
  AIRSSYS_TRY(call.memory(fd_ptr, 4));  // before anything is created
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto fd,
                               open_at(ctx, u32(a[0]), path, follow, u32(a[4]), u64(a[5]),
                                       u64(a[6]), static_cast<uint16_t>(u32(a[7]))),
                               errno_result);
  AIRSSYS_TRY(call.write_u32(fd_ptr, fd));
  return WasiErrno::Success;
}

Result<WasiErrno> path_filestat_get(HostCall& call, ComponentContext& ctx, Args a) {
  const bool follow = (u32(a[1]) & kLookupSymlinkFollow) != 0;
  AIRSSYS_TRY_ASSIGN(auto path_bytes, call.memory(u32(a[2]), u32(a[3])));
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto path, to_path(path_bytes), errno_result);
  AIRSSYS_TRY_ASSIGN(auto out, call.memory(u32(a[4]), 64));
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto st, stat_at(ctx, u32(a[0]), path, follow), errno_result);
  put_filestat(out, st);
  return WasiErrno::Success;
}

Result<WasiErrno> path_create_directory(HostCall& call, ComponentContext& ctx, Args a) {
  AIRSSYS_TRY_ASSIGN(auto path_bytes, call.memory(u32(a[1]), u32(a[2])));
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto path, to_path(path_bytes), errno_result);
  return create_directory_at(ctx, u32(a[0]), path);
}

Result<WasiErrno> path_remove_directory(HostCall& call, ComponentContext& ctx, Args a) {
  AIRSSYS_TRY_ASSIGN(auto path_bytes, call.memory(u32(a[1]), u32(a[2])));
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto path, to_path(path_bytes), errno_result);
  return remove_directory_at(ctx, u32(a[0]), path);
}

Result<WasiErrno> path_unlink_file(HostCall& call, ComponentContext& ctx, Args a) {
  AIRSSYS_TRY_ASSIGN(auto path_bytes, call.memory(u32(a[1]), u32(a[2])));
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto path, to_path(path_bytes), errno_result);
  return unlink_file_at(ctx, u32(a[0]), path);
}

Result<WasiErrno> path_rename(HostCall& call, ComponentContext& ctx, Args a) {
  AIRSSYS_TRY_ASSIGN(auto from_bytes, call.memory(u32(a[1]), u32(a[2])));
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto from, to_path(from_bytes), errno_result);
  AIRSSYS_TRY_ASSIGN(auto to_bytes, call.memory(u32(a[4]), u32(a[5])));
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto to, to_path(to_bytes), errno_result);
  return rename_at(ctx, u32(a[0]), from, u32(a[3]), to);
}

// ---- Shared with WASI 0.2 ------------------------------------------------------

std::expected<uint32_t, WasiErrno> open_at(ComponentContext& ctx, uint32_t dirfd,
                                           const std::string& path, bool follow,
                                           uint32_t oflags, uint64_t rights, uint64_t inheriting,
                                           uint16_t given_fdflags) {
  const auto fdflags = static_cast<uint16_t>(given_fdflags & kKnownFdflags);
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto dir, directory_fd(ctx, dirfd), errno_error);

  const bool want_directory = (oflags & kOflagDirectory) != 0;
  const bool create = (oflags & kOflagCreat) != 0;
  const bool truncate = (oflags & kOflagTrunc) != 0;
  const bool host_read = (rights & kReadRights) != 0;
  const bool host_write = (rights & kWriteRights) != 0;
  Access access;
  access.write = host_write || create || truncate || (fdflags & kFdflagAppend) != 0;
  access.read = host_read || !access.write;
  if (create && want_directory) return std::unexpected(WasiErrno::Inval);

  int mode = host_read && host_write ? O_RDWR : host_write ? O_WRONLY : O_RDONLY;
  // Neither read nor write: the descriptor only names the file (stat, a directory to
  // resolve from). A file created that way is opened for writing, which was granted.
  const bool path_only = !host_read && !host_write;
  if (path_only && create) mode = O_WRONLY;
  int flags = mode | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  if (fdflags & kFdflagAppend) flags |= O_APPEND;
  if (fdflags & kFdflagDsync) flags |= O_DSYNC;
  if (fdflags & kFdflagSync) flags |= O_SYNC;
  if (fdflags & kFdflagRsync) flags |= O_RSYNC;
  if (truncate) flags |= O_TRUNC;

  UniqueFd opened;
  if (create) {
    if (path.back() == '/') return std::unexpected(WasiErrno::Isdir);
    if (is_dot_or_dotdot(last_segment(path))) return std::unexpected(WasiErrno::Isdir);
    AIRSSYS_TRY_ASSIGN_OR_RETURN(auto entry, locate_entry(ctx, *dir, path, access), errno_error);
    if (auto ok = authorize(ctx, access, entry.path); !ok) return std::unexpected(ok.error());
    int create_flags = flags | O_CREAT | O_NOFOLLOW | ((oflags & kOflagExcl) ? O_EXCL : 0);
    opened = UniqueFd(::openat(entry.parent.get(), entry.name.c_str(), create_flags, 0666));
    // ELOOP: the name is a symlink; with follow it is resolved below like any path.
    if (!opened && !(errno == ELOOP && follow && !(oflags & kOflagExcl))) {
      return std::unexpected(from_errno(errno));
    }
  }
  if (!opened) {
    AIRSSYS_TRY_ASSIGN_OR_RETURN(
        auto located, locate(ctx, *dir, path, follow, want_directory, access), errno_error);
    struct stat st {};
    if (::fstat(located.fd.get(), &st) != 0) return std::unexpected(from_errno(errno));
    if (S_ISLNK(st.st_mode)) return std::unexpected(WasiErrno::Loop);
    // FIFOs, sockets and devices are not opened: a FIFO would block the host.
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return std::unexpected(WasiErrno::Notsup);
    if (S_ISDIR(st.st_mode) && (host_write || truncate)) return std::unexpected(WasiErrno::Isdir);
    if (auto ok = authorize(ctx, access, located.path); !ok) return std::unexpected(ok.error());
    if (path_only) {
      opened = std::move(located.fd);
    } else {
      // Reopening through /proc opens exactly the inode that was checked.
      std::string proc = "/proc/self/fd/" + std::to_string(located.fd.get());
      opened = UniqueFd(::open(proc.c_str(), flags | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0)));
      if (!opened) return std::unexpected(from_errno(errno));
    }
  }
  struct stat st {};
  if (::fstat(opened.get(), &st) != 0) return std::unexpected(from_errno(errno));
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return std::unexpected(WasiErrno::Notsup);
  if (!path_only && !(fdflags & kFdflagNonblock)) {
    ::fcntl(opened.get(), F_SETFL, ::fcntl(opened.get(), F_GETFL) & ~O_NONBLOCK);
  }

  OpenFile file;
  file.fd = std::move(opened);
  file.kind = S_ISDIR(st.st_mode) ? FileKind::Directory : FileKind::RegularFile;
  uint64_t allowed = file.kind == FileKind::Directory ? kDirectoryRights : kAllRights;
  if (!host_read) allowed &= ~kReadRights;
  if (!host_write) allowed &= ~kWriteRights;
  file.rights_base = rights & allowed;
  file.rights_inheriting = inheriting;
  file.flags = fdflags;
  auto fd = ctx.files().add(std::move(file));
  if (!fd) return std::unexpected(from_errno(fd.error()));
  return *fd;
}

std::expected<struct stat, WasiErrno> stat_at(ComponentContext& ctx, uint32_t dirfd,
                                              const std::string& path, bool follow) {
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto dir, directory_fd(ctx, dirfd), errno_error);
  Access access{.read = true};
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto located, locate(ctx, *dir, path, follow, false, access),
                               errno_error);
  if (auto ok = authorize(ctx, access, located.path); !ok) return std::unexpected(ok.error());
  struct stat st {};
  if (::fstat(located.fd.get(), &st) != 0) return std::unexpected(from_errno(errno));
  return st;
}

std::expected<struct stat, WasiErrno> stat_fd(ComponentContext& ctx, uint32_t fd) {
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto file, open_fd(ctx, fd), errno_error);
  // A preopen was handed over without a check; its metadata is read like any path.
  if (!file->preopen.empty()) {
    const std::string& path = file->root ? file->preopen : file->host_dir;
    if (auto ok = authorize(ctx, {.read = true}, path); !ok) {
      return std::unexpected(ok.error());
    }
  }
  struct stat st {};
  if (::fstat(file->fd.get(), &st) != 0) return std::unexpected(from_errno(errno));
  return st;
}

WasiErrno create_directory_at(ComponentContext& ctx, uint32_t dirfd, const std::string& path) {
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto dir, directory_fd(ctx, dirfd), same_errno);
  if (is_dot_or_dotdot(last_segment(path))) return WasiErrno::Exist;
  Access access{.write = true};
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto entry, locate_entry(ctx, *dir, path, access), same_errno);
  if (auto ok = authorize(ctx, access, entry.path); !ok) return ok.error();
  if (::mkdirat(entry.parent.get(), entry.name.c_str(), 0777) != 0) return from_errno(errno);
  return WasiErrno::Success;
}

WasiErrno remove_directory_at(ComponentContext& ctx, uint32_t dirfd, const std::string& path) {
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto dir, directory_fd(ctx, dirfd), same_errno);
  std::string_view last = last_segment(path);
  if (last == ".") return WasiErrno::Inval;
  if (last == "..") return WasiErrno::Notempty;
  Access access{.write = true};
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto entry, locate_entry(ctx, *dir, path, access), same_errno);
  if (auto ok = authorize(ctx, access, entry.path); !ok) return ok.error();
  if (::unlinkat(entry.parent.get(), entry.name.c_str(), AT_REMOVEDIR) != 0) {
    return from_errno(errno);
  }
  return WasiErrno::Success;
}

WasiErrno unlink_file_at(ComponentContext& ctx, uint32_t dirfd, const std::string& path) {
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto dir, directory_fd(ctx, dirfd), same_errno);
  if (is_dot_or_dotdot(last_segment(path))) return WasiErrno::Isdir;
  Access access{.write = true};
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto entry, locate_entry(ctx, *dir, path, access), same_errno);
  if (entry.trailing_slash) {
    // "name/" is a directory or an error, and unlink never removes a directory.
    if (auto ok = check_trailing_slash(entry); !ok) return ok.error();
    return WasiErrno::Isdir;
  }
  if (auto ok = authorize(ctx, access, entry.path); !ok) return ok.error();
  if (::unlinkat(entry.parent.get(), entry.name.c_str(), 0) != 0) return from_errno(errno);
  return WasiErrno::Success;
}

WasiErrno rename_at(ComponentContext& ctx, uint32_t from_fd, const std::string& from,
                    uint32_t to_fd, const std::string& to) {
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto from_dir, directory_fd(ctx, from_fd), same_errno);
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto to_dir, directory_fd(ctx, to_fd), same_errno);
  if (is_dot_or_dotdot(last_segment(from)) || is_dot_or_dotdot(last_segment(to))) {
    return WasiErrno::Busy;
  }
  // Both names are checked as written before either is resolved, then both real
  // paths; the rename itself works on the two parent descriptors, so it happens in
  // exactly the directories that were checked, wherever they are moved meanwhile.
  Access access{.write = true};
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto source, locate_entry(ctx, *from_dir, from, access),
                               same_errno);
  AIRSSYS_TRY_ASSIGN_OR_RETURN(auto target, locate_entry(ctx, *to_dir, to, access), same_errno);
  if (auto ok = check_trailing_slash(source); !ok) return ok.error();
  if (auto ok = authorize(ctx, access, source.path); !ok) return ok.error();
  if (auto ok = authorize(ctx, access, target.path); !ok) return ok.error();
  if (::renameat(source.parent.get(), source.name.c_str(), target.parent.get(),
                 target.name.c_str()) != 0) {
    return from_errno(errno);
  }
  return WasiErrno::Success;
}

std::expected<std::string, WasiErrno> checked_path(std::string_view path) {
  return to_path(std::span(reinterpret_cast<const uint8_t*>(path.data()), path.size()));
}

WasiErrno errno_to_wasi(int error) { return from_errno(error); }

}  // namespace airssys::wasm::host::wasi
