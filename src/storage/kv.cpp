#include "airssys/wasm/storage/kv.hpp"

#include <fmt/format.h>
#include <fmt/std.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <array>
#include <cstring>
#include <algorithm>
#include <limits>
#include <mutex>
#include <system_error>
#include <utility>

namespace airssys::wasm::storage {
namespace {

constexpr int kSchemaVersion = 1;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE kv (
  component TEXT NOT NULL,
  key BLOB NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (component, key)
) WITHOUT ROWID;
CREATE TABLE kv_usage (
  component TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL CHECK (bytes >= 0)
) WITHOUT ROWID;
)sql";

enum Sql : size_t {
  kGet,
  kValueSize,
  kUpsert,
  kDelete,
  kUsageGet,
  kUsageAdd,
  kUsageSubtract,
  kListBounded,
  kListOpen,
  kBegin,
  kCommit,
  kRollback,
  kSqlCount,
};

constexpr std::array<const char*, kSqlCount> kSql = {
    "SELECT value FROM kv WHERE component = ?1 AND key = ?2",
    "SELECT length(value) FROM kv WHERE component = ?1 AND key = ?2",
    "INSERT INTO kv (component, key, value) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (component, key) DO UPDATE SET value = excluded.value",
    "DELETE FROM kv WHERE component = ?1 AND key = ?2",
    "SELECT bytes FROM kv_usage WHERE component = ?1",
    "INSERT INTO kv_usage (component, bytes) VALUES (?1, ?2) "
    "ON CONFLICT (component) DO UPDATE SET bytes = bytes + excluded.bytes",
    // Not an upsert: the CHECK would refuse the negative row it tries first.
    "UPDATE kv_usage SET bytes = bytes - ?2 WHERE component = ?1",
    "SELECT key FROM kv WHERE component = ?1 AND key >= ?2 AND key < ?3 ORDER BY key LIMIT ?4",
    "SELECT key FROM kv WHERE component = ?1 AND key >= ?2 ORDER BY key LIMIT ?3",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
};

struct Connection {
  sqlite3* db = nullptr;
  std::array<sqlite3_stmt*, kSqlCount> stmts{};

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    for (auto* s : stmts) sqlite3_finalize(s);
    sqlite3_close_v2(db);
  }
};

// One use of a prepared statement; it is reset and unbound when the use ends.
class Use {
 public:
  explicit Use(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Use() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  // Bound without a copy: the bytes outlive the use.
  void text(int index, std::string_view s) {
    sqlite3_bind_text(stmt_, index, nonnull(s.data()), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  void blob(int index, const void* data, size_t size) {
    // A null pointer would bind NULL rather than an empty blob.
    sqlite3_bind_blob(stmt_, index, size ? data : "", static_cast<int>(size), SQLITE_STATIC);
  }
  void blob(int index, std::string_view s) { blob(index, s.data(), s.size()); }
  void integer(int index, int64_t v) { sqlite3_bind_int64(stmt_, index, v); }
  int step() { return sqlite3_step(stmt_); }
  [[nodiscard]] int64_t column_int(int col) const { return sqlite3_column_int64(stmt_, col); }
  [[nodiscard]] std::span<const uint8_t> column_blob(int col) const {
    const void* data = sqlite3_column_blob(stmt_, col);  // before column_bytes, as documented
    const int size = sqlite3_column_bytes(stmt_, col);
    if (!data || size <= 0) return {};
    return {static_cast<const uint8_t*>(data), static_cast<size_t>(size)};
  }

 private:
  static const char* nonnull(const char* p) { return p ? p : ""; }
  sqlite3_stmt* stmt_;
};

std::string sqlite_message(sqlite3* db, int rc) {
  return db ? std::string(sqlite3_errmsg(db)) : std::string(sqlite3_errstr(rc));
}

Result<std::string> query_text(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return make_error(ErrorCode::IoError, sqlite_message(db, rc));
  std::string out;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text) out = reinterpret_cast<const char*>(text);
    rc = sqlite3_step(stmt);
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return make_error(ErrorCode::IoError, sqlite_message(db, rc));
  return out;
}

Result<void> check_namespace(std::string_view ns) {
  if (ns.empty() || ns.size() > kMaxNamespaceBytes) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("a key-value namespace has 1 to {} bytes, not {}",
                                  kMaxNamespaceBytes, ns.size()));
  }
  return {};
}

Result<void> check_key(std::string_view ns, std::string_view key) {
  AIRSSYS_TRY(check_namespace(ns));
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("a key has 1 to {} bytes, not {}", kMaxKeyBytes, key.size()));
  }
  return {};
}

// The smallest byte string greater than every string that starts with
// `prefix`; none when there is no such bound (empty or all 0xff).
std::optional<std::string> prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::nullopt;
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

}  // namespace

struct KeyValueStore::Impl {
  KeyValueOptions options;
  std::filesystem::path path;
  std::mutex pool_mutex;
  std::vector<std::unique_ptr<Connection>> idle;  // guarded by pool_mutex
  std::mutex write_mutex;                         // one writer at a time in this process

  Error failure(sqlite3* db, int rc, std::string_view what) const {
    return Error::of(ErrorCode::IoError, fmt::format("key-value store {}: {} failed: {}", path,
                                                     what, sqlite_message(db, rc)));
  }

  // Opens a connection with this store's settings; statements are prepared
  // once the schema exists.
  Result<std::unique_ptr<Connection>> connect() {
    auto c = std::make_unique<Connection>();
    const int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
    int rc = sqlite3_open_v2(path.c_str(), &c->db, flags, nullptr);
    if (rc != SQLITE_OK) return std::unexpected(failure(c->db, rc, "open"));
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    sqlite3_busy_timeout(c->db, static_cast<int>(options.busy_timeout.count()));
    auto mode = query_text(c->db, "PRAGMA journal_mode=WAL");
    if (!mode) {
      return make_error(ErrorCode::IoError,
                        fmt::format("key-value store {}: cannot open the database: {} (is it "
                                    "a SQLite database?)",
                                    path, mode.error().message));
    }
    if (*mode != "wal") {
      return make_error(ErrorCode::IoError,
                        fmt::format("key-value store {}: WAL mode is not available (journal "
                                    "mode stays '{}'); use a local file system",
                                    path, *mode));
    }
    const char* sync = options.durability == Durability::Full ? "PRAGMA synchronous=FULL"
                                                              : "PRAGMA synchronous=NORMAL";
    rc = sqlite3_exec(c->db, sync, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return std::unexpected(failure(c->db, rc, "setting synchronous"));
    return c;
  }

  Result<void> prepare(Connection& c) {
    for (size_t i = 0; i < kSqlCount; ++i) {
      int rc =
          sqlite3_prepare_v3(c.db, kSql[i], -1, SQLITE_PREPARE_PERSISTENT, &c.stmts[i], nullptr);
      if (rc != SQLITE_OK) return std::unexpected(failure(c.db, rc, "preparing a statement"));
    }
    return {};
  }

  // Creates the tables in a fresh database; refuses one of a newer schema.
  Result<void> ensure_schema(Connection& c) {
    int rc = sqlite3_exec(c.db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return std::unexpected(failure(c.db, rc, "opening the schema"));
    auto version = query_text(c.db, "PRAGMA user_version");
    Result<void> result;
    if (!version) {
      result = std::unexpected(failure(c.db, SQLITE_ERROR, "reading the schema version"));
    } else if (*version == "0") {
      std::string sql = fmt::format("{}PRAGMA user_version = {};", kSchema, kSchemaVersion);
      rc = sqlite3_exec(c.db, sql.c_str(), nullptr, nullptr, nullptr);
      if (rc != SQLITE_OK) result = std::unexpected(failure(c.db, rc, "creating the schema"));
    } else if (*version != std::to_string(kSchemaVersion)) {
      result = make_error(ErrorCode::IoError,
                          fmt::format("key-value store {} has schema version {}; this host "
                                      "reads version {} only",
                                      path, *version, kSchemaVersion));
    }
    rc = sqlite3_exec(c.db, result ? "COMMIT" : "ROLLBACK", nullptr, nullptr, nullptr);
    if (result && rc != SQLITE_OK) return std::unexpected(failure(c.db, rc, "creating the schema"));
    return result;
  }

  // Reads every page of the database once (PRAGMA quick_check): a file
  // damaged in the middle would otherwise open, and then fail every call
  // that reaches the damaged pages.
  Result<void> check_integrity(Connection& c) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(c.db, "PRAGMA quick_check(3)", -1, &stmt, nullptr);
    std::string problems;
    if (rc == SQLITE_OK) {
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(stmt, 0);
        std::string row = text ? reinterpret_cast<const char*>(text) : "";
        if (row == "ok") continue;
        // "*** in database main ***\nPage 34: ..." on one line, without the header.
        constexpr std::string_view kHeader = "*** in database main ***";
        if (row.starts_with(kHeader)) row.erase(0, kHeader.size());
        std::replace(row.begin(), row.end(), '\n', ' ');
        const size_t start = row.find_first_not_of(' ');
        if (start == std::string::npos) continue;
        if (!problems.empty()) problems += "; ";
        problems += row.substr(start);
      }
    }
    if (rc != SQLITE_DONE && problems.empty()) problems = sqlite_message(c.db, rc);
    sqlite3_finalize(stmt);
    if (problems.empty()) return {};
    return make_error(ErrorCode::IoError,
                      fmt::format("key-value store {} is damaged ({}); nothing was changed. "
                                  "Restore it from a backup, or move it away to start with "
                                  "empty component state",
                                  path.string(), problems));
  }

  Result<std::unique_ptr<Connection>> take() {
    {
      std::lock_guard lock(pool_mutex);
      if (!idle.empty()) {
        auto c = std::move(idle.back());
        idle.pop_back();
        return c;
      }
    }
    auto c = connect();
    if (!c) return c;
    AIRSSYS_TRY(prepare(**c));
    return c;
  }

  void give_back(std::unique_ptr<Connection> c) {
    // A transaction left open by a failure never reaches the next user.
    if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", nullptr, nullptr, nullptr);
    std::lock_guard lock(pool_mutex);
    if (idle.size() < options.idle_connections) idle.push_back(std::move(c));
  }
};

namespace {

// A pooled connection for the length of one operation.
class Lease {
 public:
  Lease(KeyValueStore::Impl& impl, std::unique_ptr<Connection> c)
      : impl_(&impl), c_(std::move(c)) {}
  ~Lease() {
    if (c_) impl_->give_back(std::move(c_));
  }
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&&) = delete;

  [[nodiscard]] sqlite3_stmt* operator[](Sql sql) const { return c_->stmts[sql]; }
  [[nodiscard]] sqlite3* db() const { return c_->db; }

 private:
  KeyValueStore::Impl* impl_;
  std::unique_ptr<Connection> c_;
};

Result<Lease> lease(KeyValueStore::Impl& impl) {
  AIRSSYS_TRY_ASSIGN(auto c, impl.take());
  return Lease(impl, std::move(c));
}

// A write transaction that rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(const Lease& lease) : lease_(lease) {}
  ~Transaction() {
    if (open_) Use(lease_[kRollback]).step();
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  int begin() {
    int rc = Use(lease_[kBegin]).step();
    open_ = rc == SQLITE_DONE;
    return rc;
  }
  int commit() {
    int rc = Use(lease_[kCommit]).step();
    if (rc == SQLITE_DONE) open_ = false;
    return rc;
  }

 private:
  const Lease& lease_;
  bool open_ = false;
};

// The stored size of an entry: the quota counts key and value bytes.
std::optional<uint64_t> entry_bytes(const Lease& l, std::string_view ns, std::string_view key,
                                    int& rc) {
  Use q(l[kValueSize]);
  q.text(1, ns);
  q.blob(2, key);
  rc = q.step();
  if (rc != SQLITE_ROW) return std::nullopt;
  rc = SQLITE_OK;
  return key.size() + static_cast<uint64_t>(q.column_int(0));
}

uint64_t namespace_usage(const Lease& l, std::string_view ns, int& rc) {
  Use q(l[kUsageGet]);
  q.text(1, ns);
  rc = q.step();
  if (rc == SQLITE_ROW) {
    rc = SQLITE_OK;
    return static_cast<uint64_t>(q.column_int(0));
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  return 0;
}

int add_usage(const Lease& l, std::string_view ns, int64_t delta) {
  if (delta == 0) return SQLITE_DONE;
  Use q(l[delta > 0 ? kUsageAdd : kUsageSubtract]);
  q.text(1, ns);
  q.integer(2, delta > 0 ? delta : -delta);
  return q.step();
}

}  // namespace

KeyValueStore::KeyValueStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyValueStore::~KeyValueStore() = default;

Result<std::unique_ptr<KeyValueStore>> KeyValueStore::open(KeyValueOptions options) {
  namespace fs = std::filesystem;
  if (options.data_dir.empty()) {
    return make_error(ErrorCode::InvalidArgument, "the key-value store needs a data directory");
  }
  std::error_code ec;
  if (!fs::exists(options.data_dir, ec)) {
    fs::create_directories(options.data_dir, ec);
    if (!ec) fs::permissions(options.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) {
      return make_error(ErrorCode::IoError, fmt::format("cannot create the data directory {}: {}",
                                                        options.data_dir, ec.message()));
    }
  }
  struct stat st {};
  if (::stat(options.data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::IoError,
                      fmt::format("the data directory {} is not a directory", options.data_dir));
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return make_error(ErrorCode::IoError,
                      fmt::format("the data directory {} is writable by group or others, who "
                                  "could change every component's state; run chmod go-w on it",
                                  options.data_dir));
  }

  auto impl = std::make_unique<Impl>();
  impl->path = options.data_dir / kDatabaseFileName;
  impl->options = std::move(options);
  AIRSSYS_TRY_ASSIGN(auto first, impl->connect());
  AIRSSYS_TRY(impl->check_integrity(*first));
  AIRSSYS_TRY(impl->ensure_schema(*first));
  AIRSSYS_TRY(impl->prepare(*first));
  impl->give_back(std::move(first));
  return std::unique_ptr<KeyValueStore>(new KeyValueStore(std::move(impl)));
}

const std::filesystem::path& KeyValueStore::database_path() const {
  return impl_->path;
}

Durability KeyValueStore::durability() const {
  return impl_->options.durability;
}

Result<std::optional<uint64_t>> KeyValueStore::read(std::string_view ns, std::string_view key,
                                                    std::span<uint8_t> out) const {
  AIRSSYS_TRY(check_key(ns, key));
  AIRSSYS_TRY_ASSIGN(auto l, lease(*impl_));
  Use q(l[kGet]);
  q.text(1, ns);
  q.blob(2, key);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<uint64_t>();
  if (rc != SQLITE_ROW) return std::unexpected(impl_->failure(l.db(), rc, "get"));
  auto value = q.column_blob(0);
  if (value.size() <= out.size() && !value.empty()) {
    std::memcpy(out.data(), value.data(), value.size());
  }
  return std::optional<uint64_t>(value.size());
}

Result<std::optional<std::vector<uint8_t>>> KeyValueStore::get(std::string_view ns,
                                                               std::string_view key) const {
  AIRSSYS_TRY(check_key(ns, key));
  AIRSSYS_TRY_ASSIGN(auto l, lease(*impl_));
  Use q(l[kGet]);
  q.text(1, ns);
  q.blob(2, key);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<std::vector<uint8_t>>();
  if (rc != SQLITE_ROW) return std::unexpected(impl_->failure(l.db(), rc, "get"));
  auto value = q.column_blob(0);
  return std::optional(std::vector<uint8_t>(value.begin(), value.end()));
}

Result<bool> KeyValueStore::exists(std::string_view ns, std::string_view key) const {
  AIRSSYS_TRY(check_key(ns, key));
  AIRSSYS_TRY_ASSIGN(auto l, lease(*impl_));
  int rc = SQLITE_OK;
  auto bytes = entry_bytes(l, ns, key, rc);
  if (rc != SQLITE_OK && rc != SQLITE_DONE) {
    return std::unexpected(impl_->failure(l.db(), rc, "exists"));
  }
  return bytes.has_value();
}

Result<uint64_t> KeyValueStore::set(std::string_view ns, std::string_view key,
                                    std::span<const uint8_t> value, uint64_t quota_bytes) {
  AIRSSYS_TRY(check_key(ns, key));
  if (value.size() > kMaxValueBytes) {
    return make_error(
        ErrorCode::InvalidArgument,
        fmt::format("a value has at most {} bytes, not {}", kMaxValueBytes, value.size()));
  }
  std::lock_guard writer(impl_->write_mutex);
  AIRSSYS_TRY_ASSIGN(auto l, lease(*impl_));
  Transaction tx(l);
  int rc = tx.begin();
  if (rc != SQLITE_DONE) return std::unexpected(impl_->failure(l.db(), rc, "set"));

  auto old_bytes = entry_bytes(l, ns, key, rc);
  if (rc != SQLITE_OK && rc != SQLITE_DONE) {
    return std::unexpected(impl_->failure(l.db(), rc, "set"));
  }
  const uint64_t used = namespace_usage(l, ns, rc);
  if (rc != SQLITE_OK) return std::unexpected(impl_->failure(l.db(), rc, "set"));
  const uint64_t old_size = old_bytes.value_or(0);
  const uint64_t new_size = key.size() + value.size();
  const uint64_t next = used - old_size + new_size;
  if (new_size > old_size && next > quota_bytes) {
    return make_error(ErrorCode::QuotaExceeded,
                      fmt::format("storage quota of {} bytes: {} bytes used, this write would "
                                  "make {}",
                                  quota_bytes, used, next));
  }

  {
    Use q(l[kUpsert]);
    q.text(1, ns);
    q.blob(2, key);
    q.blob(3, value.data(), value.size());
    rc = q.step();
  }
  if (rc != SQLITE_DONE) return std::unexpected(impl_->failure(l.db(), rc, "set"));
  rc = add_usage(l, ns, static_cast<int64_t>(new_size) - static_cast<int64_t>(old_size));
  if (rc != SQLITE_DONE) return std::unexpected(impl_->failure(l.db(), rc, "set"));
  rc = tx.commit();
  if (rc != SQLITE_DONE) return std::unexpected(impl_->failure(l.db(), rc, "commit"));
  return next;
}

Result<bool> KeyValueStore::remove(std::string_view ns, std::string_view key) {
  AIRSSYS_TRY(check_key(ns, key));
  std::lock_guard writer(impl_->write_mutex);
  AIRSSYS_TRY_ASSIGN(auto l, lease(*impl_));
  Transaction tx(l);
  int rc = tx.begin();
  if (rc != SQLITE_DONE) return std::unexpected(impl_->failure(l.db(), rc, "delete"));
  auto old_bytes = entry_bytes(l, ns, key, rc);
  if (rc != SQLITE_OK && rc != SQLITE_DONE) {
    return std::unexpected(impl_->failure(l.db(), rc, "delete"));
  }
  if (!old_bytes) return false;
  {
    Use q(l[kDelete]);
    q.text(1, ns);
    q.blob(2, key);
    rc = q.step();
  }
  if (rc != SQLITE_DONE) return std::unexpected(impl_->failure(l.db(), rc, "delete"));
  rc = add_usage(l, ns, -static_cast<int64_t>(*old_bytes));
  if (rc != SQLITE_DONE) return std::unexpected(impl_->failure(l.db(), rc, "delete"));
  rc = tx.commit();
  if (rc != SQLITE_DONE) return std::unexpected(impl_->failure(l.db(), rc, "commit"));
  return true;
}

Result<std::vector<std::string>> KeyValueStore::list(std::string_view ns, std::string_view prefix,
                                                     std::string_view after,
                                                     size_t max_count) const {
  AIRSSYS_TRY(check_namespace(ns));
  if (prefix.size() > kMaxKeyBytes || after.size() > kMaxKeyBytes) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("a prefix or start key has at most {} bytes", kMaxKeyBytes));
  }
  std::vector<std::string> keys;
  if (max_count == 0) return keys;
  // One inclusive lower bound, so the index range starts where the page does:
  // the first key after `after` is `after` followed by a zero byte.
  std::string lower(prefix);
  if (!after.empty()) {
    std::string next(after);
    next.push_back('\0');
    if (next > lower) lower = std::move(next);
  }
  const auto end = prefix_end(prefix);
  const auto limit = static_cast<int64_t>(
      std::min<uint64_t>(max_count, static_cast<uint64_t>(std::numeric_limits<int64_t>::max())));

  AIRSSYS_TRY_ASSIGN(auto l, lease(*impl_));
  Use q(l[end ? kListBounded : kListOpen]);
  q.text(1, ns);
  q.blob(2, lower);
  if (end) {
    q.blob(3, *end);
    q.integer(4, limit);
  } else {
    q.integer(3, limit);
  }
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    auto key = q.column_blob(0);
    keys.emplace_back(reinterpret_cast<const char*>(key.data()), key.size());
  }
  if (rc != SQLITE_DONE) return std::unexpected(impl_->failure(l.db(), rc, "list"));
  return keys;
}

Result<uint64_t> KeyValueStore::usage(std::string_view ns) const {
  AIRSSYS_TRY(check_namespace(ns));
  AIRSSYS_TRY_ASSIGN(auto l, lease(*impl_));
  int rc = SQLITE_OK;
  uint64_t used = namespace_usage(l, ns, rc);
  if (rc != SQLITE_OK) return std::unexpected(impl_->failure(l.db(), rc, "usage"));
  return used;
}

}  // namespace airssys::wasm::storage
