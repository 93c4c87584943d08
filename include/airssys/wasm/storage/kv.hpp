#pragma once
// Namespaced key-value state on SQLite: one database file in a data directory
// (DATA_DIR/state.db, WAL mode), one namespace per component. Every write is
// one transaction that also updates the namespace's byte count (the sum of
// its key and value sizes), so the count is exact and survives restarts.
//
// Durability: with Durability::Full (the default) a write returns only after
// the WAL holding it is fsynced, so every acknowledged write survives a kill
// of the process and a crash of the machine. Durability::Normal syncs only at
// checkpoints: acknowledged writes survive a killed process, but the last
// ones may be lost to a power failure or an OS crash (never corrupted).
//
// Thread-safe: reads run concurrently on pooled connections (WAL readers do
// not block the writer); writes are serialized by a mutex in the process and
// by SQLite's lock, with a busy timeout, across processes.
//
// Example:
//   auto store = KeyValueStore::open({.data_dir = "/var/lib/airssys"});
//   (*store)->set("counter", "visits", bytes, /*quota_bytes=*/100 * MiB);
//   auto value = (*store)->get("counter", "visits");  // optional<vector<uint8_t>>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/core/units.hpp"

namespace airssys::wasm::storage {

inline constexpr std::string_view kDatabaseFileName = "state.db";
inline constexpr size_t kMaxNamespaceBytes = 256;
inline constexpr size_t kMaxKeyBytes = 1024;
inline constexpr uint64_t kMaxValueBytes = 1 * MiB;
inline constexpr uint64_t kNoQuota = UINT64_MAX;

enum class Durability : uint8_t {
  Full,    // synchronous=FULL: fsync at every commit
  Normal,  // synchronous=NORMAL: fsync at checkpoints only
};

struct KeyValueOptions {
  std::filesystem::path data_dir;  // created (0700) when missing
  Durability durability = Durability::Full;
  std::chrono::milliseconds busy_timeout{5000};  // waiting for another process's lock
  size_t idle_connections = 4;                   // kept open between calls
};

class KeyValueStore {
 public:
  // Creates the data directory and the database when missing. Fails (IoError)
  // when the directory is writable by group or others, when the file is not a
  // database of this schema, when it is damaged (every page is checked once,
  // with SQLite's quick_check), or when WAL mode is unavailable.
  [[nodiscard]] static Result<std::unique_ptr<KeyValueStore>> open(KeyValueOptions options);

  ~KeyValueStore();
  KeyValueStore(const KeyValueStore&) = delete;
  KeyValueStore& operator=(const KeyValueStore&) = delete;

  // Namespaces are 1..kMaxNamespaceBytes bytes, keys 1..kMaxKeyBytes bytes and
  // values at most kMaxValueBytes; anything else is InvalidArgument. Keys are
  // bytes, ordered bytewise. Store failures are IoError.

  // The value's size when the key exists, copying the value into `out` only
  // when it fits (nothing is copied otherwise).
  [[nodiscard]] Result<std::optional<uint64_t>> read(std::string_view ns, std::string_view key,
                                                     std::span<uint8_t> out) const;
  [[nodiscard]] Result<std::optional<std::vector<uint8_t>>> get(std::string_view ns,
                                                                std::string_view key) const;
  [[nodiscard]] Result<bool> exists(std::string_view ns, std::string_view key) const;

  // Inserts or replaces; returns the namespace's usage afterwards. A write
  // that would grow the usage past `quota_bytes` is refused (QuotaExceeded)
  // before anything is written; a write that does not grow it always passes.
  [[nodiscard]] Result<uint64_t> set(std::string_view ns, std::string_view key,
                                     std::span<const uint8_t> value,
                                     uint64_t quota_bytes = kNoQuota);
  [[nodiscard]] Result<uint64_t> set(std::string_view ns, std::string_view key,
                                     std::string_view value, uint64_t quota_bytes = kNoQuota) {
    return set(ns, key, std::span(reinterpret_cast<const uint8_t*>(value.data()), value.size()),
               quota_bytes);
  }

  // True when the key existed; its bytes are released.
  [[nodiscard]] Result<bool> remove(std::string_view ns, std::string_view key);

  // The namespace's keys that start with `prefix` and sort after `after`
  // ("" = from the first), ascending, at most `max_count`.
  [[nodiscard]] Result<std::vector<std::string>> list(std::string_view ns, std::string_view prefix,
                                                      std::string_view after,
                                                      size_t max_count) const;

  // Bytes held by the namespace: the sum of its key and value sizes.
  [[nodiscard]] Result<uint64_t> usage(std::string_view ns) const;

  [[nodiscard]] const std::filesystem::path& database_path() const;
  [[nodiscard]] Durability durability() const;

  struct Impl;  // opaque: defined in kv.cpp

 private:
  explicit KeyValueStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace airssys::wasm::storage
