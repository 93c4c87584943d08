// WASI 0.2 wasi:filesystem (types, preopens). A descriptor is one of the
// component's preview 1 descriptors (ComponentContext::files()): its
// representation is the descriptor's number, the preopens are the preview 1
// preopens (the root "/" among them when no grant is rooted there), and every
// path goes through the functions preview 1 uses (wasi_files.cpp), so a path
// outside the grants is refused and audited exactly as it is there.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "wasi2_internal.hpp"
#include "wasi_internal.hpp"

namespace airssys::wasm::host::wasi2 {
namespace {

using cm::FuncType;
using cm::Val;

// filesystem error-code cases, in the order of the enum.
enum FsCode : uint64_t {
  kAccess = 0,
  kWouldBlock = 1,
  kBadDescriptor = 3,
  kBusy = 4,
  kQuota = 6,
  kExist = 7,
  kFileTooLarge = 8,
  kInterrupted = 11,
  kInvalid = 12,
  kIo = 13,
  kIsDirectory = 14,
  kLoop = 15,
  kTooManyLinks = 16,
  kNameTooLong = 18,
  kNoDevice = 19,
  kNoEntry = 20,
  kInsufficientMemory = 22,
  kInsufficientSpace = 23,
  kNotDirectory = 24,
  kNotEmpty = 25,
  kUnsupported = 27,
  kNoSuchDevice = 29,
  kOverflow = 30,
  kNotPermitted = 31,
  kReadOnly = 33,
  kInvalidSeek = 34,
  kTextFileBusy = 35,
  kCrossDevice = 36,
};

uint64_t fs_code(WasiErrno e) {
  switch (e) {
    case WasiErrno::Acces: return kAccess;
    case WasiErrno::Notcapable: return kAccess;
    case WasiErrno::Again: return kWouldBlock;
    case WasiErrno::Badf: return kBadDescriptor;
    case WasiErrno::Busy: return kBusy;
    case WasiErrno::Dquot: return kQuota;
    case WasiErrno::Exist: return kExist;
    case WasiErrno::Fbig: return kFileTooLarge;
    case WasiErrno::Intr: return kInterrupted;
    case WasiErrno::Inval: return kInvalid;
    case WasiErrno::TooBig: return kInvalid;
    case WasiErrno::Isdir: return kIsDirectory;
    case WasiErrno::Loop: return kLoop;
    case WasiErrno::Mlink: return kTooManyLinks;
    case WasiErrno::Nametoolong: return kNameTooLong;
    case WasiErrno::Nodev: return kNoDevice;
    case WasiErrno::Noent: return kNoEntry;
    case WasiErrno::Nomem: return kInsufficientMemory;
    case WasiErrno::Mfile: return kInsufficientMemory;
    case WasiErrno::Nfile: return kInsufficientMemory;
    case WasiErrno::Nospc: return kInsufficientSpace;
    case WasiErrno::Notdir: return kNotDirectory;
    case WasiErrno::Notempty: return kNotEmpty;
    case WasiErrno::Notsup: return kUnsupported;
    case WasiErrno::Nosys: return kUnsupported;
    case WasiErrno::Nxio: return kNoSuchDevice;
    case WasiErrno::Overflow: return kOverflow;
    case WasiErrno::Perm: return kNotPermitted;
    case WasiErrno::Rofs: return kReadOnly;
    case WasiErrno::Spipe: return kInvalidSeek;
    case WasiErrno::Txtbsy: return kTextFileBusy;
    case WasiErrno::Xdev: return kCrossDevice;
    default: return kIo;
  }
}

constexpr uint64_t kDescriptorRead = 1u << 0;
constexpr uint64_t kDescriptorWrite = 1u << 1;
constexpr uint64_t kFileIntegritySync = 1u << 2;
constexpr uint64_t kDataIntegritySync = 1u << 3;
constexpr uint64_t kRequestedWriteSync = 1u << 4;
constexpr uint64_t kMutateDirectory = 1u << 5;
constexpr uint64_t kSymlinkFollow = 1u << 0;

// preview 1 fdflags
constexpr uint16_t kFdflagDsync = 1u << 1;
constexpr uint16_t kFdflagRsync = 1u << 3;
constexpr uint16_t kFdflagSync = 1u << 4;

enum DescriptorType : uint64_t {
  kUnknown = 0,
  kBlockDevice = 1,
  kCharacterDevice = 2,
  kDirectory = 3,
  kFifo = 4,
  kSymbolicLink = 5,
  kRegularFile = 6,
  kSocket = 7,
};

uint64_t type_of(mode_t mode) {
  if (S_ISREG(mode)) return kRegularFile;
  if (S_ISDIR(mode)) return kDirectory;
  if (S_ISLNK(mode)) return kSymbolicLink;
  if (S_ISCHR(mode)) return kCharacterDevice;
  if (S_ISBLK(mode)) return kBlockDevice;
  if (S_ISFIFO(mode)) return kFifo;
  if (S_ISSOCK(mode)) return kSocket;
  return kUnknown;
}

Result<std::vector<Val>> one(Val v) { return std::vector<Val>{std::move(v)}; }
Result<std::vector<Val>> fail(WasiErrno e) { return one(err(fs_error(e))); }
Result<std::vector<Val>> done(WasiErrno e) {
  return e == WasiErrno::Success ? one(ok()) : fail(e);
}

Val datetime(const timespec& ts) {
  return Val{Kind::Record, 0, {}, {u64v(static_cast<uint64_t>(ts.tv_sec)),
                                   u32v(static_cast<uint64_t>(ts.tv_nsec))}};
}

Val stat_val(const struct stat& st) {
  return Val{Kind::Record, 0, {}, {Val{Kind::Enum, type_of(st.st_mode), {}, {}},
                                   u64v(st.st_nlink), u64v(static_cast<uint64_t>(st.st_size)),
                                   some(datetime(st.st_atim)), some(datetime(st.st_mtim)),
                                   some(datetime(st.st_ctim))}};
}

// The inode and device, as preview 1's filestat reports them.
Val hash_val(const struct stat& st) {
  return Val{Kind::Record, 0, {}, {u64v(st.st_ino), u64v(st.st_dev)}};
}

uint32_t rep(const Val& v) { return static_cast<uint32_t>(v.bits); }

std::vector<uint8_t> to_bytes(const Val& list) {
  std::vector<uint8_t> out(list.items.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(list.items[i].bits);
  return out;
}

// The host descriptors the component's streams hold: at most as many as it
// may have files open (FileTable::kMaxOpenFiles), beside those files.
bool room_for_stream(State& s) {
  size_t held = s.directories.items.size();
  for (const auto& [rep, in] : s.inputs.items) held += in.fd ? 1 : 0;
  for (const auto& [rep, out] : s.outputs.items) held += out.fd ? 1 : 0;
  return held < FileTable::kMaxOpenFiles;
}

// A duplicate of an open file's descriptor, for a stream that may outlive it.
std::expected<UniqueFd, WasiErrno> file_fd(State& s, uint32_t fd) {
  if (!room_for_stream(s)) return std::unexpected(WasiErrno::Mfile);
  OpenFile* file = s.ctx.files().get(fd);
  if (!file) return std::unexpected(WasiErrno::Badf);
  if (file->kind == FileKind::Directory) return std::unexpected(WasiErrno::Isdir);
  UniqueFd copy(::fcntl(file->fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!copy) return std::unexpected(wasi::errno_to_wasi(errno));
  return copy;
}

// Reads the next entry of a directory stream: none at its end.
std::expected<std::optional<Val>, WasiErrno> next_entry(DirectoryStream& d) {
  while (true) {
    if (d.at >= d.end) {
      if (d.done) return std::optional<Val>{};
      ssize_t n;
      do {
        n = ::getdents64(d.fd.get(), d.buffer.data(), d.buffer.size());
      } while (n < 0 && errno == EINTR);
      if (n < 0) return std::unexpected(wasi::errno_to_wasi(errno));
      if (n == 0) {
        d.done = true;
        return std::optional<Val>{};
      }
      d.at = 0;
      d.end = static_cast<size_t>(n);
    }
    const uint8_t* at = d.buffer.data() + d.at;
    uint16_t reclen;
    uint8_t type;
    std::memcpy(&reclen, at + offsetof(dirent64, d_reclen), 2);
    std::memcpy(&type, at + offsetof(dirent64, d_type), 1);
    const char* name_at = reinterpret_cast<const char*>(at + offsetof(dirent64, d_name));
    std::string name(name_at, ::strnlen(name_at, reclen - offsetof(dirent64, d_name)));
    d.at += reclen;
    if (name == "." || name == "..") continue;
    uint64_t kind = kUnknown;
    switch (type) {
      case DT_REG: kind = kRegularFile; break;
      case DT_DIR: kind = kDirectory; break;
      case DT_LNK: kind = kSymbolicLink; break;
      case DT_CHR: kind = kCharacterDevice; break;
      case DT_BLK: kind = kBlockDevice; break;
      case DT_FIFO: kind = kFifo; break;
      case DT_SOCK: kind = kSocket; break;
      default: {
        struct stat st {};
        if (::fstatat(d.fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
          kind = type_of(st.st_mode);
        }
        break;
      }
    }
    return std::optional<Val>(
        Val{Kind::Record, 0, {}, {Val{Kind::Enum, kind, {}, {}}, Val::string(std::move(name))}});
  }
}

}  // namespace

TypeRef fs_error_code_type() {
  static const TypeRef type = cm::enum_of(
      {"access", "would-block", "already", "bad-descriptor", "busy", "deadlock", "quota", "exist",
       "file-too-large", "illegal-byte-sequence", "in-progress", "interrupted", "invalid", "io",
       "is-directory", "loop", "too-many-links", "message-size", "name-too-long", "no-device",
       "no-entry", "no-lock", "insufficient-memory", "insufficient-space", "not-directory",
       "not-empty", "not-recoverable", "unsupported", "no-tty", "no-such-device", "overflow",
       "not-permitted", "pipe", "read-only", "invalid-seek", "text-file-busy", "cross-device"});
  return type;
}

Val fs_error(WasiErrno code) { return Val{Kind::Enum, fs_code(code), {}, {}}; }

void add_filesystem(cm::HostInstance& imports, const std::shared_ptr<State>& s) {
  auto& types = imports.define_instance(versioned("wasi:filesystem/types"));
  types.define_type("error", s->error);
  types.define_type("input-stream", s->input_stream);
  types.define_type("output-stream", s->output_stream);
  // The value types take their definitions from the importing component's types.
  for (const char* name : {"datetime", "filesize", "link-count", "error-code", "descriptor-type",
                           "descriptor-flags", "path-flags", "open-flags", "descriptor-stat",
                           "new-timestamp", "directory-entry", "advice", "metadata-hash-value"}) {
    types.define_type(name);
  }
  // Dropping a descriptor closes it; the preopens stay for the next get-directories.
  s->descriptor = &types.define_resource("descriptor", [s](uint32_t fd) -> Result<void> {
    OpenFile* file = s->ctx.files().get(fd);
    if (file && file->preopen.empty()) s->ctx.files().close(fd);
    return {};
  });
  s->directory_stream =
      &types.define_resource("directory-entry-stream", [s](uint32_t r) -> Result<void> {
        s->directories.items.erase(r);
        return {};
      });
  const TypeRef code = fs_error_code_type();
  const TypeRef self = cm::borrow_of(s->descriptor->id);
  const TypeRef own_descriptor = cm::own_of(s->descriptor->id);
  const TypeRef descriptor_type = cm::enum_of({"unknown", "block-device", "character-device",
                                               "directory", "fifo", "symbolic-link",
                                               "regular-file", "socket"});
  const TypeRef datetime_type =
      cm::record_of({{"seconds", t(Kind::U64)}, {"nanoseconds", t(Kind::U32)}});
  const TypeRef stat_type = cm::record_of({{"type", descriptor_type},
                                           {"link-count", t(Kind::U64)},
                                           {"size", t(Kind::U64)},
                                           {"data-access-timestamp", cm::option_of(datetime_type)},
                                           {"data-modification-timestamp",
                                            cm::option_of(datetime_type)},
                                           {"status-change-timestamp",
                                            cm::option_of(datetime_type)}});
  const TypeRef hash_type = cm::record_of({{"lower", t(Kind::U64)}, {"upper", t(Kind::U64)}});
  const TypeRef path_flags = cm::flags_of({"symlink-follow"});
  const TypeRef open_flags = cm::flags_of({"create", "directory", "exclusive", "truncate"});
  const TypeRef descriptor_flags =
      cm::flags_of({"read", "write", "file-integrity-sync", "data-integrity-sync",
                    "requested-write-sync", "mutate-directory"});
  const TypeRef unit = cm::result_of(nullptr, code);
  auto result = [&](TypeRef ok_type) { return cm::result_of(std::move(ok_type), code); };
  auto fn = [](std::vector<cm::Field> params, TypeRef r) {
    return FuncType{std::move(params), std::move(r)};
  };
  auto method = [&](const char* name, std::vector<cm::Field> params, TypeRef r, cm::HostFn f) {
    params.insert(params.begin(), cm::Field{"self", self});
    types.define_func(std::string("[method]descriptor.") + name, fn(std::move(params), r),
                      std::move(f));
  };
  auto path_of = [](const Val& v) { return wasi::checked_path(v.text); };

  // ---- streams
  method("read-via-stream", {{"offset", t(Kind::U64)}}, result(cm::own_of(s->input_stream->id)),
         [s](std::span<const Val> a) -> Result<std::vector<Val>> {
           auto fd = file_fd(*s, rep(a[0]));
           if (!fd) return fail(fd.error());
           auto r = s->inputs.add({StreamKind::File, std::move(*fd), a[1].bits}, "stream");
           if (!r) return std::unexpected(r.error());
           return one(ok({own(*r)}));
         });
  auto output_stream = [s](uint32_t fd, uint64_t offset, bool append) -> Result<std::vector<Val>> {
    auto copy = file_fd(*s, fd);
    if (!copy) return fail(copy.error());
    auto r = s->outputs.add({StreamKind::File, std::move(*copy), offset, append, 0}, "stream");
    if (!r) return std::unexpected(r.error());
    return one(ok({own(*r)}));
  };
  method("write-via-stream", {{"offset", t(Kind::U64)}}, result(cm::own_of(s->output_stream->id)),
         [output_stream](std::span<const Val> a) {
           return output_stream(rep(a[0]), a[1].bits, false);
         });
  method("append-via-stream", {}, result(cm::own_of(s->output_stream->id)),
         [output_stream](std::span<const Val> a) { return output_stream(rep(a[0]), 0, true); });

  // ---- the descriptor itself
  method("get-flags", {}, result(descriptor_flags),
         [s](std::span<const Val> a) -> Result<std::vector<Val>> {
           OpenFile* file = s->ctx.files().get(rep(a[0]));
           if (!file) return fail(WasiErrno::Badf);
           uint64_t flags = 0;
           if (!file->preopen.empty()) {
             flags = kDescriptorRead | kMutateDirectory;  // the grants decide each path
           } else {
             if (file->rights_base & wasi::kRightsRead) flags |= kDescriptorRead;
             if (file->rights_base & wasi::kRightsWrite) {
               flags |= kDescriptorWrite | (file->kind == FileKind::Directory ? kMutateDirectory : 0);
             }
           }
           if (file->flags & kFdflagSync) flags |= kFileIntegritySync;
           if (file->flags & kFdflagDsync) flags |= kDataIntegritySync;
           if (file->flags & kFdflagRsync) flags |= kRequestedWriteSync;
           return one(ok({Val{Kind::Flags, flags, {}, {}}}));
         });
  method("get-type", {}, result(descriptor_type),
         [s](std::span<const Val> a) -> Result<std::vector<Val>> {
           OpenFile* file = s->ctx.files().get(rep(a[0]));
           if (!file) return fail(WasiErrno::Badf);
           uint64_t kind = kDirectory;
           if (file->kind != FileKind::Directory) {
             struct stat st {};
             if (::fstat(file->fd.get(), &st) != 0) return fail(wasi::errno_to_wasi(errno));
             kind = type_of(st.st_mode);
           }
           return one(ok({Val{Kind::Enum, kind, {}, {}}}));
         });
  method("stat", {}, result(stat_type), [s](std::span<const Val> a) -> Result<std::vector<Val>> {
    auto st = wasi::stat_fd(s->ctx, rep(a[0]));
    if (!st) return fail(st.error());
    return one(ok({stat_val(*st)}));
  });
  method("metadata-hash", {}, result(hash_type),
         [s](std::span<const Val> a) -> Result<std::vector<Val>> {
           auto st = wasi::stat_fd(s->ctx, rep(a[0]));
           if (!st) return fail(st.error());
           return one(ok({hash_val(*st)}));
         });
  types.define_func("[method]descriptor.is-same-object",
                    fn({{"self", self}, {"other", self}}, t(Kind::Bool)),
                    [s](std::span<const Val> a) -> Result<std::vector<Val>> {
                      auto x = wasi::stat_fd(s->ctx, rep(a[0]));
                      auto y = wasi::stat_fd(s->ctx, rep(a[1]));
                      return one(Val::boolean(x && y && x->st_ino == y->st_ino &&
                                              x->st_dev == y->st_dev));
                    });
  method("read", {{"length", t(Kind::U64)}, {"offset", t(Kind::U64)}},
         result(cm::tuple_of({bytes_type(), t(Kind::Bool)})),
         [s](std::span<const Val> a) -> Result<std::vector<Val>> {
           OpenFile* file = s->ctx.files().get(rep(a[0]));
           if (!file) return fail(WasiErrno::Badf);
           if (a[2].bits > static_cast<uint64_t>(INT64_MAX)) return fail(WasiErrno::Inval);
           std::vector<uint8_t> buffer(static_cast<size_t>(std::min(a[1].bits, kMaxRead)));
           ssize_t n = 0;
           if (!buffer.empty()) {
             do {
               n = ::pread(file->fd.get(), buffer.data(), buffer.size(),
                           static_cast<off_t>(a[2].bits));
             } while (n < 0 && errno == EINTR);
           }
           if (n < 0) return fail(wasi::errno_to_wasi(errno));
           bool end = n == 0 && !buffer.empty();
           return one(ok({Val{Kind::Tuple, 0, {}, {bytes_val(buffer.data(), static_cast<size_t>(n)),
                                                   Val::boolean(end)}}}));
         });
  method("write", {{"buffer", bytes_type()}, {"offset", t(Kind::U64)}}, result(t(Kind::U64)),
         [s](std::span<const Val> a) -> Result<std::vector<Val>> {
           OpenFile* file = s->ctx.files().get(rep(a[0]));
           if (!file) return fail(WasiErrno::Badf);
           if (a[2].bits > static_cast<uint64_t>(INT64_MAX)) return fail(WasiErrno::Inval);
           auto data = to_bytes(a[1]);
           ssize_t n;
           do {
             n = ::pwrite(file->fd.get(), data.data(), data.size(), static_cast<off_t>(a[2].bits));
           } while (n < 0 && errno == EINTR);
           if (n < 0) return fail(wasi::errno_to_wasi(errno));
           return one(ok({u64v(static_cast<uint64_t>(n))}));
         });
  auto sync = [s](bool data) {
    return [s, data](std::span<const Val> a) -> Result<std::vector<Val>> {
      OpenFile* file = s->ctx.files().get(rep(a[0]));
      if (!file) return fail(WasiErrno::Badf);
      int r = data ? ::fdatasync(file->fd.get()) : ::fsync(file->fd.get());
      return done(r == 0 ? WasiErrno::Success : wasi::errno_to_wasi(errno));
    };
  };
  method("sync", {}, unit, sync(false));
  method("sync-data", {}, unit, sync(true));
  method("set-size", {{"size", t(Kind::U64)}}, unit,
         [s](std::span<const Val> a) -> Result<std::vector<Val>> {
           OpenFile* file = s->ctx.files().get(rep(a[0]));
           if (!file) return fail(WasiErrno::Badf);
           if (a[1].bits > static_cast<uint64_t>(INT64_MAX)) return fail(WasiErrno::Inval);
           // The descriptor was opened for writing only when filesystem.write allowed it.
           if (::ftruncate(file->fd.get(), static_cast<off_t>(a[1].bits)) != 0) {
             return fail(wasi::errno_to_wasi(errno));
           }
           return one(ok());
         });
  method("read-directory", {}, result(cm::own_of(s->directory_stream->id)),
         [s](std::span<const Val> a) -> Result<std::vector<Val>> {
           OpenFile* file = s->ctx.files().get(rep(a[0]));
           if (!file) return fail(WasiErrno::Badf);
           if (file->kind != FileKind::Directory) return fail(WasiErrno::Notdir);
           if (!file->fd) return fail(WasiErrno::Badf);  // the root opens nothing itself
           if (!room_for_stream(*s)) return fail(WasiErrno::Mfile);
           DirectoryStream d;
           d.fd = UniqueFd(::openat(file->fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
           if (!d.fd) return fail(wasi::errno_to_wasi(errno));
           d.buffer.resize(16384);
           auto r = s->directories.add(std::move(d), "directory-entry-stream");
           if (!r) return std::unexpected(r.error());
           return one(ok({own(*r)}));
         });
  types.define_func(
      "[method]directory-entry-stream.read-directory-entry",
      fn({{"self", cm::borrow_of(s->directory_stream->id)}},
         result(cm::option_of(cm::record_of({{"type", descriptor_type}, {"name", t(Kind::String)}})))),
      [s](std::span<const Val> a) -> Result<std::vector<Val>> {
        DirectoryStream* d = s->directories.find(rep(a[0]));
        if (!d) {
          return std::unexpected(Error{ErrorCode::TrapHost,
                                       "a directory-entry-stream the host did not issue", {}, 0});
        }
        auto entry = next_entry(*d);
        if (!entry) return fail(entry.error());
        return one(ok({*entry ? some(std::move(**entry)) : none()}));
      });

  // ---- paths: the preview 1 functions, checks and audit records
  method("stat-at", {{"path-flags", path_flags}, {"path", t(Kind::String)}}, result(stat_type),
         [s, path_of](std::span<const Val> a) -> Result<std::vector<Val>> {
           auto path = path_of(a[2]);
           if (!path) return fail(path.error());
           auto st = wasi::stat_at(s->ctx, rep(a[0]), *path, (a[1].bits & kSymlinkFollow) != 0);
           if (!st) return fail(st.error());
           return one(ok({stat_val(*st)}));
         });
  method("metadata-hash-at", {{"path-flags", path_flags}, {"path", t(Kind::String)}},
         result(hash_type), [s, path_of](std::span<const Val> a) -> Result<std::vector<Val>> {
           auto path = path_of(a[2]);
           if (!path) return fail(path.error());
           // An entry of a directory the component opened for reading, by its
           // name: the inode preview 1's fd_readdir reports for it without a
           // further check (the adapter asks for it for each entry it lists).
           OpenFile* dir = s->ctx.files().get(rep(a[0]));
           if (dir && dir->kind == FileKind::Directory && dir->preopen.empty() && dir->fd &&
               (dir->rights_base & wasi::kRightsRead) && (a[1].bits & kSymlinkFollow) == 0 &&
               path->find('/') == std::string::npos && *path != "." && *path != "..") {
             struct stat st {};
             if (::fstatat(dir->fd.get(), path->c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
               return fail(wasi::errno_to_wasi(errno));
             }
             return one(ok({hash_val(st)}));
           }
           auto st = wasi::stat_at(s->ctx, rep(a[0]), *path, (a[1].bits & kSymlinkFollow) != 0);
           if (!st) return fail(st.error());
           return one(ok({hash_val(*st)}));
         });
  method("open-at",
         {{"path-flags", path_flags},
          {"path", t(Kind::String)},
          {"open-flags", open_flags},
          {"flags", descriptor_flags}},
         result(own_descriptor), [s, path_of](std::span<const Val> a) -> Result<std::vector<Val>> {
           auto path = path_of(a[2]);
           if (!path) return fail(path.error());
           const uint64_t flags = a[4].bits;
           uint64_t rights = 0;
           if (flags & kDescriptorRead) rights |= wasi::kRightsRead;
           if (flags & kDescriptorWrite) rights |= wasi::kRightsWrite;
           uint16_t fdflags = 0;
           if (flags & kFileIntegritySync) fdflags |= kFdflagSync;
           if (flags & kDataIntegritySync) fdflags |= kFdflagDsync;
           if (flags & kRequestedWriteSync) fdflags |= kFdflagRsync;
           // open-flags' bits are preview 1's oflags (create, directory, excl, trunc).
           auto fd = wasi::open_at(s->ctx, rep(a[0]), *path, (a[1].bits & kSymlinkFollow) != 0,
                                   static_cast<uint32_t>(a[3].bits), rights, rights, fdflags);
           if (!fd) return fail(fd.error());
           return one(ok({own(*fd)}));
         });
  auto path_op = [&](const char* name, WasiErrno (*op)(ComponentContext&, uint32_t,
                                                        const std::string&)) {
    method(name, {{"path", t(Kind::String)}}, unit,
           [s, path_of, op](std::span<const Val> a) -> Result<std::vector<Val>> {
             auto path = path_of(a[1]);
             if (!path) return fail(path.error());
             return done(op(s->ctx, rep(a[0]), *path));
           });
  };
  path_op("create-directory-at", wasi::create_directory_at);
  path_op("remove-directory-at", wasi::remove_directory_at);
  path_op("unlink-file-at", wasi::unlink_file_at);
  method("rename-at",
         {{"old-path", t(Kind::String)}, {"new-descriptor", self}, {"new-path", t(Kind::String)}},
         unit, [s, path_of](std::span<const Val> a) -> Result<std::vector<Val>> {
           auto from = path_of(a[1]);
           if (!from) return fail(from.error());
           auto to = path_of(a[3]);
           if (!to) return fail(to.error());
           return done(wasi::rename_at(s->ctx, rep(a[0]), *from, rep(a[2]), *to));
         });
  // What preview 1 does not offer either (ENOSYS there): links, times, advice.
  auto unsupported = [](std::span<const Val>) { return fail(WasiErrno::Notsup); };
  method("readlink-at", {{"path", t(Kind::String)}}, result(t(Kind::String)), unsupported);
  method("symlink-at", {{"old-path", t(Kind::String)}, {"new-path", t(Kind::String)}}, unit,
         unsupported);
  method("link-at",
         {{"old-path-flags", path_flags},
          {"old-path", t(Kind::String)},
          {"new-descriptor", self},
          {"new-path", t(Kind::String)}},
         unit, unsupported);
  const TypeRef new_timestamp =
      cm::variant_of({{"no-change", nullptr}, {"now", nullptr}, {"timestamp", datetime_type}});
  method("set-times",
         {{"data-access-timestamp", new_timestamp}, {"data-modification-timestamp", new_timestamp}},
         unit, unsupported);
  method("set-times-at",
         {{"path-flags", path_flags},
          {"path", t(Kind::String)},
          {"data-access-timestamp", new_timestamp},
          {"data-modification-timestamp", new_timestamp}},
         unit, unsupported);
  method("advise",
         {{"offset", t(Kind::U64)},
          {"length", t(Kind::U64)},
          {"advice", cm::enum_of({"normal", "sequential", "random", "will-need", "dont-need",
                                  "no-reuse"})}},
         unit, unsupported);

  types.define_func("filesystem-error-code",
                    fn({{"err", cm::borrow_of(s->error->id)}}, cm::option_of(code)),
                    [s](std::span<const Val> a) -> Result<std::vector<Val>> {
                      const ErrorObject* e = s->errors.find(rep(a[0]));
                      if (!e || !e->filesystem) return one(none());
                      return one(some(fs_error(e->code)));
                    });

  auto& preopens = imports.define_instance(versioned("wasi:filesystem/preopens"));
  preopens.define_type("descriptor", s->descriptor);
  preopens.define_func(
      "get-directories",
      fn({}, cm::list_of(cm::tuple_of({own_descriptor, t(Kind::String)}))),
      [s](std::span<const Val>) -> Result<std::vector<Val>> {
        FileTable& files = s->ctx.files();
        Val list{Kind::List, 0, {}, {}};
        for (uint32_t fd = FileTable::kFirstFd; fd < FileTable::kFirstFd + files.preopen_count();
             ++fd) {
          OpenFile* file = files.get(fd);
          if (!file || file->preopen.empty()) continue;
          list.items.push_back(Val{Kind::Tuple, 0, {}, {own(fd), Val::string(file->preopen)}});
        }
        return one(std::move(list));
      });
}

}  // namespace airssys::wasm::host::wasi2
