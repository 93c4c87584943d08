#pragma once
// Files for WASI preview 1: the directories a component's filesystem grants
// preopen, resolution of a path beneath a directory that never leaves it, and
// the component's table of open descriptors.
//
// Linux only: resolution uses openat2(2) (Linux 5.6) or, where the kernel
// lacks it, a walk one component at a time; the path of an open descriptor is
// read from /proc/self/fd.

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/handle_table.hpp"
#include "airssys/wasm/security/capability.hpp"

namespace airssys::wasm::host {

// An owned host file descriptor; -1 when empty.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// The directory a filesystem pattern is rooted in: its segments before the
// first one with a wildcard (`*`, `?`, `[`, `{`), or the parent of a pattern
// without wildcards.
//   pattern_root("/srv/app/data/**/*.json") == "/srv/app/data"
//   pattern_root("/srv/app/config.toml")    == "/srv/app"
[[nodiscard]] std::string pattern_root(std::string_view pattern);

// The directories preopened for a component: the roots of its filesystem.read
// and filesystem.write patterns, sorted, without duplicates and without a root
// that lies beneath another one (the outer directory reaches it, and every
// path is checked against the patterns anyway).
[[nodiscard]] std::vector<std::string> preopen_directories(
    const security::CapabilitySet& capabilities);

// A directory preopened for a component: the host directory (absolute, its
// real path) and the name the component sees it under (the same path, or
// another one: `run --dir HOST::GUEST`). Grants are always checked against
// host paths.
struct Preopen {
  std::string host;
  std::string guest;
};

// A guest name as an absolute path: wasi-libc resolves relative paths from
// "/", so a preopen named "." holds what "/" would, and "data" is "/data".
//   anchored_name(".") == "/", anchored_name("data/") == "/data"
[[nodiscard]] std::string anchored_name(std::string_view guest);

enum class Resolver : uint8_t {
  Openat2,  // openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
  Walk,     // one component at a time with O_NOFOLLOW, `..` from the descriptors held
};

// Openat2 when this kernel has it (probed once), otherwise Walk.
[[nodiscard]] Resolver default_resolver();

// Opens `path`, relative and '/'-separated, beneath the directory `dirfd` as an
// O_PATH descriptor. It never leaves `dirfd`: an absolute path, an absolute
// symlink, a `..` or a symlink that would go above `dirfd`, and a magic link
// all fail with EXDEV. Symlinks are followed, the last one only when `follow`
// (otherwise the result is the link itself). With `directory` the result must
// be a directory (ENOTDIR). An empty path or "." is `dirfd` itself. Other
// errors are the errno of the step that failed (ENOENT, ENOTDIR, ELOOP, ...).
[[nodiscard]] std::expected<UniqueFd, int> open_beneath(int dirfd, std::string_view path,
                                                        bool follow, bool directory,
                                                        Resolver resolver);

// The absolute path the kernel reports for an open descriptor (symlinks
// resolved); ENOENT when the file has been deleted.
[[nodiscard]] std::expected<std::string, int> descriptor_path(int fd);

// `base` (absolute and normal) joined with the relative `path`, with `.`,
// `..` and repeated '/' folded lexically; never above "/".
[[nodiscard]] std::string join_normalized(std::string_view base, std::string_view path);

enum class FileKind : uint8_t { Directory, RegularFile, Other };

struct OpenFile {
  UniqueFd fd;  // empty for the root
  FileKind kind = FileKind::Directory;
  std::string preopen;  // a preopened directory: its path as the component sees it
  std::string host_dir;  // a preopened directory: its path on the host
  // The root "/", preopened when no grant is rooted there: it opens nothing
  // itself, it hands each path to the preopen that holds it, so that an
  // absolute path outside every preopen reaches the host (and is refused
  // there, audited) instead of failing inside wasi-libc.
  bool root = false;
  uint64_t rights_base = 0;
  uint64_t rights_inheriting = 0;
  uint16_t flags = 0;  // WASI fdflags
};

// A component's open descriptors: 0-2 are the standard streams (not held
// here), the preopened directories follow from 3 (the root last), then the
// files the component opens, at most kMaxOpenFiles at a time. A HandleTable
// (core/handle_table.hpp) keeps them: a closed descriptor's number is taken
// again by the next open, the lowest first, as POSIX does.
class FileTable {
 public:
  static constexpr uint32_t kFirstFd = 3;
  static constexpr size_t kMaxOpenFiles = 128;

  // Opens each directory (O_PATH | O_DIRECTORY) whose real path is exactly
  // the path given; one that is missing or reached through a symlink is left
  // out, since no resolved path below it could match its patterns.
  explicit FileTable(const std::vector<std::string>& preopens,
                     Resolver resolver = default_resolver());
  // Each host directory preopened under its guest name (the resolver is
  // named, so that `FileTable({})` stays the constructor above).
  FileTable(const std::vector<Preopen>& preopens, Resolver resolver);

  [[nodiscard]] OpenFile* get(uint32_t fd);
  // The open preopen (not the root) whose directory, by the name the
  // component sees (anchored_name), holds the absolute, normal `path` (or
  // is it), the deepest one; null when none does.
  [[nodiscard]] OpenFile* preopen_holding(std::string_view path);
  // The new descriptor, or EMFILE when kMaxOpenFiles are open.
  [[nodiscard]] std::expected<uint32_t, int> add(OpenFile file);
  // False when `fd` is not open.
  bool close(uint32_t fd);

  [[nodiscard]] size_t preopen_count() const { return preopens_; }
  [[nodiscard]] size_t open_files() const { return opened_; }
  [[nodiscard]] Resolver resolver() const { return resolver_; }

 private:
  HandleTable<OpenFile> table_;  // the preopens and the open files, from kFirstFd
  size_t preopens_ = 0;
  size_t opened_ = 0;  // open slots that are not preopens
  Resolver resolver_;
};

}  // namespace airssys::wasm::host
