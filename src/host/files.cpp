#include "airssys/wasm/host/files.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <string>

namespace airssys::wasm::host {
namespace {

// The most symlinks one resolution follows, as Linux's own limit.
constexpr int kMaxSymlinks = 40;
// openat2 refuses with EAGAIN when a rename races a `..` step; it is retried.
constexpr int kMaxRaceRetries = 64;

std::vector<std::string> split_segments(std::string_view path) {
  std::vector<std::string> segments;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) segments.emplace_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return segments;
}

int openat2_path(int dirfd, std::string_view path, bool follow, bool directory) {
  std::string name = path.empty() ? std::string(".") : std::string(path);
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW) | (directory ? O_DIRECTORY : 0);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0;; ++attempt) {
    long fd = ::syscall(SYS_openat2, dirfd, name.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if ((errno == EAGAIN || errno == EINTR) && attempt < kMaxRaceRetries) continue;
    return -1;
  }
}

// The fallback resolver. Each component is opened O_PATH | O_NOFOLLOW from the
// directory descriptor reached so far; a symlink's text is spliced into the
// components still to walk; `..` returns to the descriptor held for the parent,
// never to the directory's `..` on disk, so the walk cannot climb above
// `dirfd` even when a directory is moved meanwhile. (The caller still checks
// the real path of the result, which is where a moved directory shows.)
std::expected<UniqueFd, int> walk(int dirfd, std::string_view path, bool follow, bool directory) {
  if (!path.empty() && path.front() == '/') return std::unexpected(EXDEV);
  auto segments = split_segments(path);
  std::deque<std::string> pending(segments.begin(), segments.end());
  // A trailing '/' or a final `.` / `..` names a directory, through a final symlink.
  if (!path.empty() && (path.back() == '/' || (!segments.empty() && (segments.back() == "." ||
                                                                     segments.back() == "..")))) {
    follow = true;
    directory = true;
  }
  std::vector<UniqueFd> entered;
  auto current = [&] { return entered.empty() ? dirfd : entered.back().get(); };
  int links = 0;
  while (!pending.empty()) {
    std::string name = std::move(pending.front());
    pending.pop_front();
    if (name == ".") continue;
    if (name == "..") {
      if (entered.empty()) return std::unexpected(EXDEV);
      entered.pop_back();
      continue;
    }
    const bool last = pending.empty();
    UniqueFd fd(::openat(current(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return std::unexpected(errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return std::unexpected(errno);
    if (S_ISLNK(st.st_mode)) {
      if (last && !follow) {
        if (directory) return std::unexpected(ENOTDIR);
        return fd;
      }
      if (++links > kMaxSymlinks) return std::unexpected(ELOOP);
      std::string target(PATH_MAX, '\0');
      ssize_t n = ::readlinkat(fd.get(), "", target.data(), target.size());
      if (n < 0) return std::unexpected(errno);
      if (n == 0) return std::unexpected(ENOENT);
      target.resize(static_cast<size_t>(n));
      if (target.front() == '/') return std::unexpected(EXDEV);
      auto spliced = split_segments(target);
      if (last && target.back() == '/') directory = true;
      pending.insert(pending.begin(), spliced.begin(), spliced.end());
      continue;
    }
    if (last) {
      if (directory && !S_ISDIR(st.st_mode)) return std::unexpected(ENOTDIR);
      return fd;
    }
    if (!S_ISDIR(st.st_mode)) return std::unexpected(ENOTDIR);
    entered.push_back(std::move(fd));
  }
  UniqueFd here(::openat(current(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!here) return std::unexpected(errno);
  return here;
}

bool probe_openat2() {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC | O_DIRECTORY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  // Any failure (ENOSYS on an old kernel, EPERM from a seccomp filter) means "not usable".
  long fd = ::syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
  if (fd < 0) return false;
  ::close(static_cast<int>(fd));
  return true;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

std::string pattern_root(std::string_view pattern) {
  std::string root;
  size_t pos = 1;
  while (pos < pattern.size()) {
    size_t end = pattern.find('/', pos);
    // The last segment is a file name or a wildcard: the root is what precedes it.
    if (end == std::string_view::npos) break;
    std::string_view segment = pattern.substr(pos, end - pos);
    if (segment.find_first_of("*?[{") != std::string_view::npos) break;
    root += '/';
    root += segment;
    pos = end + 1;
  }
  return root.empty() ? std::string("/") : root;
}

std::vector<std::string> preopen_directories(const security::CapabilitySet& capabilities) {
  std::vector<std::string> roots;
  for (auto permission : {security::Permission::FsRead, security::Permission::FsWrite}) {
    for (const auto& pattern : capabilities.patterns(permission)) {
      roots.push_back(pattern_root(pattern));
    }
  }
  std::sort(roots.begin(), roots.end());
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
  std::vector<std::string> kept;
  for (const auto& root : roots) {
    bool nested = std::any_of(kept.begin(), kept.end(), [&](const std::string& outer) {
      return outer == "/" ||
             (root.size() > outer.size() && root.starts_with(outer) && root[outer.size()] == '/');
    });
    if (!nested) kept.push_back(root);
  }
  return kept;
}

Resolver default_resolver() {
  static const bool kHasOpenat2 = probe_openat2();
  return kHasOpenat2 ? Resolver::Openat2 : Resolver::Walk;
}

std::expected<UniqueFd, int> open_beneath(int dirfd, std::string_view path, bool follow,
                                          bool directory, Resolver resolver) {
  if (path.find('\0') != std::string_view::npos) return std::unexpected(EINVAL);
  if (resolver == Resolver::Walk) return walk(dirfd, path, follow, directory);
  int fd = openat2_path(dirfd, path, follow, directory);
  if (fd < 0) return std::unexpected(errno);
  return UniqueFd(fd);
}

std::expected<std::string, int> descriptor_path(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::unexpected(errno);
  if (st.st_nlink == 0) return std::unexpected(ENOENT);
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  std::string path(PATH_MAX + 1, '\0');
  ssize_t n = ::readlink(link.c_str(), path.data(), path.size());
  if (n < 0) return std::unexpected(errno);
  if (static_cast<size_t>(n) >= path.size()) return std::unexpected(ENAMETOOLONG);
  path.resize(static_cast<size_t>(n));
  // Not a path in this mount namespace ("anon_inode:...", "(unreachable)/..."): fail closed.
  if (path.empty() || path.front() != '/') return std::unexpected(EACCES);
  return path;
}

std::string join_normalized(std::string_view base, std::string_view path) {
  std::vector<std::string> segments = split_segments(base);
  for (auto& segment : split_segments(path)) {
    if (segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(std::move(segment));
  }
  if (segments.empty()) return "/";
  std::string joined;
  for (const auto& segment : segments) {
    joined += '/';
    joined += segment;
  }
  return joined;
}

namespace {
std::vector<Preopen> same_names(const std::vector<std::string>& directories) {
  std::vector<Preopen> out;
  for (const auto& d : directories) out.push_back({d, d});
  return out;
}
}  // namespace

FileTable::FileTable(const std::vector<std::string>& preopens, Resolver resolver)
    : FileTable(same_names(preopens), resolver) {}

FileTable::FileTable(const std::vector<Preopen>& preopens, Resolver resolver)
    // Room for every preopen and the root besides the open files; add()
    // counts the open files against kMaxOpenFiles first.
    : table_(kFirstFd, preopens.size() + 1 + kMaxOpenFiles), resolver_(resolver) {
  for (const auto& directory : preopens) {
    UniqueFd fd(::open(directory.host.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) continue;
    auto real = descriptor_path(fd.get());
    if (!real || *real != directory.host) continue;
    OpenFile file;
    file.fd = std::move(fd);
    file.kind = FileKind::Directory;
    file.preopen = directory.guest;
    file.host_dir = directory.host;
    if (!table_.insert(std::move(file))) break;
    ++preopens_;
  }
  bool has_root = std::any_of(preopens.begin(), preopens.end(),
                              [](const Preopen& p) { return anchored_name(p.guest) == "/"; });
  if (!has_root) {
    OpenFile root;
    root.preopen = "/";
    root.root = true;
    if (table_.insert(std::move(root))) ++preopens_;
  }
}

std::string anchored_name(std::string_view guest) {
  return join_normalized("/", guest);
}

OpenFile* FileTable::preopen_holding(std::string_view path) {
  OpenFile* best = nullptr;
  size_t best_size = 0;
  table_.for_each([&](uint32_t, OpenFile& file) {
    if (file.preopen.empty() || file.root) return;
    const std::string dir = anchored_name(file.preopen);
    bool holds = dir == "/" || path == dir ||
                 (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
    if (holds && (!best || dir.size() > best_size)) {
      best = &file;
      best_size = dir.size();
    }
  });
  return best;
}

OpenFile* FileTable::get(uint32_t fd) { return table_.find(fd); }

std::expected<uint32_t, int> FileTable::add(OpenFile file) {
  if (opened_ >= kMaxOpenFiles) return std::unexpected(EMFILE);
  auto fd = table_.insert(std::move(file));
  if (!fd) return std::unexpected(EMFILE);
  ++opened_;
  return *fd;
}

bool FileTable::close(uint32_t fd) {
  auto file = table_.remove(fd);
  if (!file) return false;
  if (file->preopen.empty()) --opened_;
  return true;
}

}  // namespace airssys::wasm::host
