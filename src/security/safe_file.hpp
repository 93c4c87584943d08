#pragma once
// Small-file reads with permission checks and all-or-nothing writes, shared by
// the key, signature and trust configuration files.

#include <sys/stat.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::security::detail {

enum class FileAccessRule {
  Any,
  Private,           // refuse when group or others may read or write (secret keys)
  NotOthersWritable  // refuse when group or others may write (trust decisions)
};

// A file that decides what is trusted or granted must belong to this user or
// to root: another user could have written it. InvalidArgument otherwise,
// with the chown command that fixes it. `st` is the file's own status.
[[nodiscard]] Result<void> check_owner(const struct ::stat& st, const std::filesystem::path& file,
                                       std::string_view what);

// NotFound when the file does not exist; IoError when it cannot be read, is not
// a regular file or is larger than `max_bytes`; InvalidArgument when `rule`
// refuses its mode, with the chmod command that fixes it.
[[nodiscard]] Result<std::string> read_small_file(const std::filesystem::path& file,
                                                  size_t max_bytes, FileAccessRule rule,
                                                  std::string_view what);

// Writes a temporary file beside `file`, syncs it, then renames it into place
// (or links it, which fails when `file` exists and `overwrite` is false): a
// reader sees the old contents or the new ones, never a partial file.
[[nodiscard]] Result<void> write_file_atomically(const std::filesystem::path& file,
                                                 std::string_view contents, unsigned mode,
                                                 bool overwrite, std::string_view what);

// Overwrites the string's bytes before it is released.
void wipe(std::string& secret);

}  // namespace airssys::wasm::security::detail
