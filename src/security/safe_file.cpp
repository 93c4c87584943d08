#include "safe_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace airssys::wasm::security::detail {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

void sync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  // Best effort: the rename is already atomic; this makes it durable.
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

Result<void> check_owner(const struct ::stat& st, const std::filesystem::path& file,
                         std::string_view what) {
  const uid_t me = ::geteuid();
  if (st.st_uid == me || st.st_uid == 0) return {};
  return make_error(ErrorCode::InvalidArgument,
                    fmt::format("{} '{}' belongs to another user (uid {}), who could have "
                                "written it; only this user (uid {}) or root may own it: run "
                                "`chown {} '{}'` if its contents are yours",
                                what, file.string(), st.st_uid, me, me, file.string()));
}

Result<std::string> read_small_file(const std::filesystem::path& file, size_t max_bytes,
                                    FileAccessRule rule, std::string_view what) {
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) {
      return make_error(ErrorCode::NotFound,
                        fmt::format("{} '{}' does not exist", what, file.string()));
    }
    return make_error(ErrorCode::IoError,
                      fmt::format("cannot open {} '{}': {}", what, file.string(), errno_text(err)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error(ErrorCode::IoError, fmt::format("cannot inspect {} '{}': {}", what,
                                                      file.string(), errno_text(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::IoError,
                      fmt::format("{} '{}' is not a regular file", what, file.string()));
  }
  auto mode = static_cast<unsigned>(st.st_mode & 07777);
  if (rule != FileAccessRule::Any) AIRSSYS_TRY(check_owner(st, file, what));
  if (rule == FileAccessRule::Private && (mode & 077) != 0) {
    return make_error(
        ErrorCode::InvalidArgument,
        fmt::format("{} '{}' is accessible by group or others (mode {:04o}); it must be private "
                    "to its owner: run `chmod 600 '{}'`",
                    what, file.string(), mode, file.string()));
  }
  if (rule == FileAccessRule::NotOthersWritable && (mode & 022) != 0) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("{} '{}' is writable by group or others (mode {:04o}), so "
                                  "anyone could change what is trusted: run `chmod go-w '{}'`",
                                  what, file.string(), mode, file.string()));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return make_error(ErrorCode::IoError,
                      fmt::format("{} '{}' is too large ({} bytes, at most {} expected)", what,
                                  file.string(), st.st_size, max_bytes));
  }
  std::string contents;
  // Reserved up front so that no reallocation leaves a stray copy of a secret.
  contents.reserve(static_cast<size_t>(st.st_size) + 1);
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      wipe(contents);
      return make_error(ErrorCode::IoError, fmt::format("cannot read {} '{}': {}", what,
                                                        file.string(), errno_text(err)));
    }
    if (n == 0) break;
    if (contents.size() + static_cast<size_t>(n) > max_bytes) {
      wipe(contents);
      return make_error(ErrorCode::IoError, fmt::format("{} '{}' grew beyond {} bytes while read",
                                                        what, file.string(), max_bytes));
    }
    contents.append(buffer, static_cast<size_t>(n));
  }
  sodium_memzero(buffer, sizeof buffer);
  return contents;
}

Result<void> write_file_atomically(const std::filesystem::path& file, std::string_view contents,
                                   unsigned mode, bool overwrite, std::string_view what) {
  std::filesystem::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  std::string temp = (dir / ("." + file.filename().string() + ".tmp.XXXXXX")).string();
  // mkstemp creates the file with mode 0600, so a secret is never exposed.
  FileDescriptor fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (fd.get() < 0) {
    return make_error(ErrorCode::IoError, fmt::format("cannot create {} in '{}': {}", what,
                                                      dir.string(), errno_text(errno)));
  }
  auto fail = [&](std::string message) -> Result<void> {
    ::close(fd.release());
    ::unlink(temp.c_str());
    return make_error(ErrorCode::IoError, std::move(message));
  };
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
    return fail(fmt::format("cannot set the mode of {} '{}': {}", what, temp, errno_text(errno)));
  }
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd.get(), contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(fmt::format("cannot write {} '{}': {}", what, temp, errno_text(errno)));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    return fail(fmt::format("cannot sync {} '{}': {}", what, temp, errno_text(errno)));
  }
  if (::close(fd.release()) != 0) {
    ::unlink(temp.c_str());
    return make_error(ErrorCode::IoError,
                      fmt::format("cannot close {} '{}': {}", what, temp, errno_text(errno)));
  }
  if (overwrite) {
    if (::rename(temp.c_str(), file.c_str()) != 0) {
      int err = errno;
      ::unlink(temp.c_str());
      return make_error(ErrorCode::IoError, fmt::format("cannot replace {} '{}': {}", what,
                                                        file.string(), errno_text(err)));
    }
  } else {
    // link() refuses an existing target atomically, unlike a check before rename().
    int rc = ::link(temp.c_str(), file.c_str());
    int err = errno;
    ::unlink(temp.c_str());
    if (rc != 0 && err == EEXIST) {
      return make_error(
          ErrorCode::IoError,
          fmt::format("{} '{}' already exists; refusing to overwrite it", what, file.string()));
    }
    if (rc != 0) {
      return make_error(ErrorCode::IoError, fmt::format("cannot create {} '{}': {}", what,
                                                        file.string(), errno_text(err)));
    }
  }
  sync_directory(dir);
  return {};
}

void wipe(std::string& secret) {
  if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
  secret.clear();
}

}  // namespace airssys::wasm::security::detail
