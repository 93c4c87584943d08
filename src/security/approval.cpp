#include "airssys/wasm/security/approval.hpp"

#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <array>
#include <mutex>
#include <system_error>
#include <utility>

#include "airssys/wasm/security/signing.hpp"
#include "safe_file.hpp"

namespace airssys::wasm::security {
namespace {

constexpr int kSchemaVersion = 1;
constexpr std::string_view kKeyDomain{"airssys-wasm approval v1\0", 25};

constexpr std::string_view kSchema = R"sql(
CREATE TABLE approvals (
  key TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  module_hash TEXT NOT NULL,
  capabilities TEXT NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('pending', 'approved', 'denied', 'auto-approved', 'bypassed')),
  requested_at INTEGER NOT NULL,
  decided_by TEXT NOT NULL DEFAULT '',
  decided_at INTEGER,
  reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX approvals_by_state ON approvals (state, requested_at);
)sql";

constexpr std::string_view kColumns =
    "key, name, version, module_hash, capabilities, state, requested_at, decided_by, decided_at, "
    "reason";

constexpr std::array<std::pair<ApprovalState, std::string_view>, 5> kStateNames = {{
    {ApprovalState::Pending, "pending"},
    {ApprovalState::Approved, "approved"},
    {ApprovalState::Denied, "denied"},
    {ApprovalState::AutoApproved, "auto-approved"},
    {ApprovalState::Bypassed, "bypassed"},
}};

int64_t to_millis(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Clock::time_point from_millis(int64_t ms) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(ms)));
}

// Whole milliseconds, the precision that is stored.
Clock::time_point now() {
  return from_millis(to_millis(Clock::now()));
}

bool is_lower_hex_digest(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string short_key(std::string_view key) {
  return std::string(key.substr(0, 16));
}

ApprovalState state_for(TrustLevel level) {
  switch (level) {
    case TrustLevel::Trusted:
      return ApprovalState::AutoApproved;
    case TrustLevel::DevMode:
      return ApprovalState::Bypassed;
    case TrustLevel::Unknown:
      return ApprovalState::Pending;
  }
  return ApprovalState::Pending;
}

std::string_view decider_for(ApprovalState state) {
  switch (state) {
    case ApprovalState::AutoApproved:
      return "trust";
    case ApprovalState::Bypassed:
      return "dev-mode";
    default:
      return "";
  }
}

std::string database_file(sqlite3* db) {
  const char* name = sqlite3_db_filename(db, "main");
  return name != nullptr ? name : "?";
}

class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  static Result<Statement> prepare(sqlite3* db, std::string_view sql) {
    Statement out;
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &out.stmt_, nullptr) !=
        SQLITE_OK) {
      return make_error(ErrorCode::IoError, fmt::format("approval database '{}': {}",
                                                        database_file(db), sqlite3_errmsg(db)));
    }
    return out;
  }

  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}

  void bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void bind_null(int index) { sqlite3_bind_null(stmt_, index); }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_); }

  [[nodiscard]] std::string text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  [[nodiscard]] int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  [[nodiscard]] bool is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

std::unexpected<Error> db_error(sqlite3* db, std::string_view doing) {
  return make_error(ErrorCode::IoError, fmt::format("approval database '{}': cannot {}: {}",
                                                    database_file(db), doing, sqlite3_errmsg(db)));
}

Result<void> exec(sqlite3* db, std::string_view sql, std::string_view doing) {
  char* message = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string detail = message != nullptr ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    return make_error(ErrorCode::IoError, fmt::format("approval database '{}': cannot {}: {}",
                                                      database_file(db), doing, detail));
  }
  return {};
}

Result<ApprovalEntry> read_row(const Statement& row) {
  ApprovalEntry entry;
  entry.key = row.text(0);
  entry.name = row.text(1);
  entry.version = row.text(2);
  entry.module_hash = row.text(3);
  entry.capabilities = row.text(4);
  std::string state = row.text(5);
  auto parsed = parse_approval_state(state);
  if (!parsed) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("approval database: entry {} has the unknown state '{}'",
                                  short_key(entry.key), state));
  }
  entry.state = *parsed;
  entry.requested_at = from_millis(row.integer(6));
  entry.decided_by = row.text(7);
  if (!row.is_null(8)) entry.decided_at = from_millis(row.integer(8));
  entry.reason = row.text(9);
  // A row whose content no longer hashes to its key was edited behind the
  // store's back; its decision cannot be relied on.
  if (ApprovalStore::key_for(entry.name, entry.module_hash, entry.capabilities) != entry.key) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("approval database: entry {} for '{}' does not match its key "
                                  "(the database was altered); refusing to use it",
                                  short_key(entry.key), entry.name));
  }
  return entry;
}

}  // namespace

std::string_view approval_state_name(ApprovalState state) {
  for (const auto& [s, name] : kStateNames) {
    if (s == state) return name;
  }
  return "?";
}

std::optional<ApprovalState> parse_approval_state(std::string_view text) {
  for (const auto& [s, name] : kStateNames) {
    if (name == text) return s;
  }
  return std::nullopt;
}

Result<void> may_run(const ApprovalEntry& entry) {
  switch (entry.state) {
    case ApprovalState::Approved:
    case ApprovalState::AutoApproved:
    case ApprovalState::Bypassed:
      return {};
    case ApprovalState::Pending:
      return make_error(ErrorCode::ApprovalRequired,
                        fmt::format("component '{}' {} awaits an operator's approval (key {})",
                                    entry.name, entry.version, entry.key));
    case ApprovalState::Denied:
      return make_error(ErrorCode::TrustDenied,
                        fmt::format("component '{}' {} was denied by {}{} (key {})", entry.name,
                                    entry.version, entry.decided_by,
                                    entry.reason.empty() ? "" : ": " + entry.reason, entry.key));
  }
  return make_error(ErrorCode::InternalError, "unknown approval state");
}

std::string ApprovalStore::key_for(std::string_view name, std::string_view module_hash,
                                   std::string_view capabilities_text) {
  std::string message(kKeyDomain);
  for (std::string_view field : {name, module_hash, capabilities_text}) {
    uint64_t length = field.size();
    for (int i = 0; i < 8; ++i) message += static_cast<char>((length >> (8 * i)) & 0xFF);
    message += field;
  }
  Sha256Digest digest = sha256(message);
  return to_hex(digest);
}

struct ApprovalStore::Impl {
  std::filesystem::path path;
  ApprovalOptions options;
  sqlite3* db = nullptr;
  std::mutex mutex;

  ~Impl() { sqlite3_close_v2(db); }

  // BEGIN IMMEDIATE takes the write lock up front, so that two handles never
  // deadlock upgrading read locks, and a count followed by an insert is atomic.
  template <class F>
  auto write_transaction(F&& body) -> decltype(body()) {
    AIRSSYS_TRY(exec(db, "BEGIN IMMEDIATE", "start a transaction"));
    auto result = body();
    if (!result) {
      (void)exec(db, "ROLLBACK", "roll back");
      return result;
    }
    if (auto committed = exec(db, "COMMIT", "commit"); !committed) {
      (void)exec(db, "ROLLBACK", "roll back");
      return std::unexpected(committed.error());
    }
    return result;
  }

  Result<std::optional<ApprovalEntry>> find(std::string_view key) {
    AIRSSYS_TRY_ASSIGN(
        auto stmt,
        Statement::prepare(db, fmt::format("SELECT {} FROM approvals WHERE key = ?", kColumns)));
    stmt.bind(1, key);
    int rc = stmt.step();
    if (rc == SQLITE_DONE) return std::optional<ApprovalEntry>();
    if (rc != SQLITE_ROW) return db_error(db, "read an entry");
    AIRSSYS_TRY_ASSIGN(auto entry, read_row(stmt));
    return std::optional<ApprovalEntry>(std::move(entry));
  }

  Result<size_t> count_pending() {
    AIRSSYS_TRY_ASSIGN(
        auto stmt,
        Statement::prepare(db, "SELECT count(*) FROM approvals WHERE state = 'pending'"));
    if (stmt.step() != SQLITE_ROW) return db_error(db, "count pending entries");
    return static_cast<size_t>(stmt.integer(0));
  }

  Result<void> check_room_for_pending(std::string_view name) {
    AIRSSYS_TRY_ASSIGN(auto pending, count_pending());
    if (pending >= options.max_pending) {
      return make_error(ErrorCode::ApprovalQueueFull,
                        fmt::format("cannot queue '{}' for approval: {} requests are already "
                                    "pending (the limit); approve or deny some first",
                                    name, pending));
    }
    return {};
  }

  Result<void> insert(const ApprovalEntry& entry) {
    AIRSSYS_TRY_ASSIGN(
        auto stmt,
        Statement::prepare(
            db, fmt::format("INSERT INTO approvals ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            kColumns)));
    stmt.bind(1, entry.key);
    stmt.bind(2, entry.name);
    stmt.bind(3, entry.version);
    stmt.bind(4, entry.module_hash);
    stmt.bind(5, entry.capabilities);
    stmt.bind(6, approval_state_name(entry.state));
    stmt.bind(7, to_millis(entry.requested_at));
    stmt.bind(8, entry.decided_by);
    if (entry.decided_at) {
      stmt.bind(9, to_millis(*entry.decided_at));
    } else {
      stmt.bind_null(9);
    }
    stmt.bind(10, entry.reason);
    if (stmt.step() != SQLITE_DONE) return db_error(db, "insert an entry");
    return {};
  }

  Result<void> update_decision(const ApprovalEntry& entry) {
    AIRSSYS_TRY_ASSIGN(
        auto stmt,
        Statement::prepare(db,
                           "UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, "
                           "reason = ? WHERE key = ?"));
    stmt.bind(1, approval_state_name(entry.state));
    stmt.bind(2, entry.decided_by);
    if (entry.decided_at) {
      stmt.bind(3, to_millis(*entry.decided_at));
    } else {
      stmt.bind_null(3);
    }
    stmt.bind(4, entry.reason);
    stmt.bind(5, entry.key);
    if (stmt.step() != SQLITE_DONE) return db_error(db, "update an entry");
    if (sqlite3_changes(db) != 1) {
      return make_error(ErrorCode::InternalError,
                        fmt::format("approval database: entry {} vanished during an update",
                                    short_key(entry.key)));
    }
    return {};
  }

  Result<ApprovalEntry> decide(std::string_view key, ApprovalState target,
                               std::string_view decided_by, std::string_view reason) {
    if (decided_by.empty()) {
      return make_error(ErrorCode::InvalidArgument,
                        "an approval decision must name who decided (decided_by is empty)");
    }
    std::lock_guard lock(mutex);
    return write_transaction([&]() -> Result<ApprovalEntry> {
      AIRSSYS_TRY_ASSIGN(auto found, find(key));
      if (!found) {
        return make_error(ErrorCode::NotFound,
                          fmt::format("no approval request has the key '{}'", key));
      }
      ApprovalEntry entry = std::move(*found);
      bool allowed = false;
      std::string_view verb;
      std::string_view allowed_from;
      if (target == ApprovalState::Approved) {
        verb = "approve";
        allowed_from = "pending or denied";
        allowed = entry.state == ApprovalState::Pending || entry.state == ApprovalState::Denied;
      } else {
        verb = "deny";
        allowed_from = "pending, approved, auto-approved or bypassed";
        allowed = entry.state != ApprovalState::Denied;
      }
      if (!allowed) {
        return make_error(ErrorCode::InvalidTransition,
                          fmt::format("cannot {} '{}' {} (key {}): it is {}; only {} requests "
                                      "can be {}",
                                      verb, entry.name, entry.version, entry.key,
                                      approval_state_name(entry.state), allowed_from,
                                      target == ApprovalState::Approved ? "approved" : "denied"));
      }
      entry.state = target;
      entry.decided_by = std::string(decided_by);
      entry.decided_at = now();
      entry.reason = std::string(reason);
      AIRSSYS_TRY(update_decision(entry));
      return entry;
    });
  }
};

ApprovalStore::ApprovalStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApprovalStore::ApprovalStore(ApprovalStore&&) noexcept = default;
ApprovalStore& ApprovalStore::operator=(ApprovalStore&&) noexcept = default;
ApprovalStore::~ApprovalStore() = default;

const std::filesystem::path& ApprovalStore::path() const {
  return impl_->path;
}

Result<ApprovalStore> ApprovalStore::open(const std::filesystem::path& database,
                                          ApprovalOptions options) {
  if (database.empty()) {
    return make_error(ErrorCode::InvalidArgument, "the approval database path is empty");
  }
  if (options.max_pending == 0) {
    return make_error(ErrorCode::InvalidArgument, "max_pending must be at least 1");
  }
  if (auto dir = database.parent_path(); !dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return make_error(ErrorCode::IoError, fmt::format("cannot create directory '{}': {}",
                                                        dir.string(), ec.message()));
    }
  }
  struct stat st {};
  // Who can write the database, or replace it in its folder, can approve.
  const auto folder = database.has_parent_path() ? database.parent_path() : ".";
  if (::stat(folder.c_str(), &st) == 0 && (st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("the folder '{}' of the approval database is writable by group "
                                  "or others (mode {:04o}), who could replace the database and "
                                  "approve components: run `chmod go-w '{}'`",
                                  folder.string(), st.st_mode & 07777, folder.string()));
  }
  if (::stat(database.c_str(), &st) == 0) {
    AIRSSYS_TRY(detail::check_owner(st, database, "approval database"));
    if (st.st_mode & 022) {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("approval database '{}' is writable by group or others (mode "
                                    "{:04o}), so anyone could approve components: run `chmod go-w "
                                    "'{}'`",
                                    database.string(), st.st_mode & 07777, database.string()));
    }
  }

  auto impl = std::make_unique<Impl>();
  impl->path = database;
  impl->options = options;
  int rc =
      sqlite3_open_v2(database.c_str(), &impl->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = impl->db != nullptr ? sqlite3_errmsg(impl->db) : sqlite3_errstr(rc);
    return make_error(ErrorCode::IoError, fmt::format("cannot open approval database '{}': {}",
                                                      database.string(), message));
  }
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, static_cast<int>(options.busy_timeout.count()));

  {
    AIRSSYS_TRY_ASSIGN(auto mode, Statement::prepare(impl->db, "PRAGMA journal_mode = WAL"));
    if (mode.step() != SQLITE_ROW || mode.text(0) != "wal") {
      return make_error(ErrorCode::IoError,
                        fmt::format("approval database '{}': cannot switch to WAL mode: {}",
                                    database.string(), sqlite3_errmsg(impl->db)));
    }
  }
  // An approval is a security decision: it must survive a power cut once made.
  AIRSSYS_TRY(exec(impl->db, "PRAGMA synchronous = FULL", "set synchronous mode"));

  auto prepared = impl->write_transaction([&]() -> Result<void> {
    int64_t found = 0;
    {
      // Finalized before the schema changes: COMMIT fails while a statement runs.
      AIRSSYS_TRY_ASSIGN(auto version, Statement::prepare(impl->db, "PRAGMA user_version"));
      if (version.step() != SQLITE_ROW) return db_error(impl->db, "read the schema version");
      found = version.integer(0);
    }
    if (found == kSchemaVersion) return {};
    if (found != 0) {
      return make_error(ErrorCode::IoError,
                        fmt::format("approval database '{}' has schema version {}; this host "
                                    "understands version {}",
                                    database.string(), found, kSchemaVersion));
    }
    AIRSSYS_TRY(exec(impl->db, kSchema, "create the schema"));
    return exec(impl->db, fmt::format("PRAGMA user_version = {}", kSchemaVersion),
                "set the schema version");
  });
  if (!prepared) return std::unexpected(prepared.error());
  return ApprovalStore(std::move(impl));
}

Result<ApprovalEntry> ApprovalStore::request(const ApprovalRequest& request, TrustLevel level,
                                             std::string_view reason) {
  if (request.name.empty()) {
    return make_error(ErrorCode::InvalidArgument, "an approval request needs a component name");
  }
  if (!is_lower_hex_digest(request.module_hash)) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("module hash '{}' of '{}' is not a SHA-256 digest (64 lowercase "
                                  "hex digits)",
                                  request.module_hash, request.name));
  }
  const std::string key = key_for(request.name, request.module_hash, request.capabilities);
  const ApprovalState target = state_for(level);
  std::lock_guard lock(impl_->mutex);
  return impl_->write_transaction([&]() -> Result<ApprovalEntry> {
    AIRSSYS_TRY_ASSIGN(auto found, impl_->find(key));
    if (!found) {
      if (target == ApprovalState::Pending)
        AIRSSYS_TRY(impl_->check_room_for_pending(request.name));
      ApprovalEntry entry;
      entry.key = key;
      entry.name = request.name;
      entry.version = request.version;
      entry.module_hash = request.module_hash;
      entry.capabilities = request.capabilities;
      entry.state = target;
      entry.requested_at = now();
      entry.decided_by = std::string(decider_for(target));
      if (target != ApprovalState::Pending) entry.decided_at = entry.requested_at;
      entry.reason = std::string(reason);
      AIRSSYS_TRY(impl_->insert(entry));
      return entry;
    }
    ApprovalEntry entry = std::move(*found);
    // An operator's decision is never overridden by trust, in either direction.
    if (entry.state == ApprovalState::Approved || entry.state == ApprovalState::Denied ||
        entry.state == target) {
      return entry;
    }
    if (target == ApprovalState::Pending) AIRSSYS_TRY(impl_->check_room_for_pending(entry.name));
    entry.state = target;
    entry.decided_by = std::string(decider_for(target));
    entry.decided_at =
        target == ApprovalState::Pending ? std::nullopt : std::optional<Clock::time_point>(now());
    entry.reason = std::string(reason);
    AIRSSYS_TRY(impl_->update_decision(entry));
    return entry;
  });
}

Result<ApprovalEntry> ApprovalStore::approve(std::string_view key, std::string_view decided_by,
                                             std::string_view reason) {
  return impl_->decide(key, ApprovalState::Approved, decided_by, reason);
}

Result<ApprovalEntry> ApprovalStore::deny(std::string_view key, std::string_view decided_by,
                                          std::string_view reason) {
  return impl_->decide(key, ApprovalState::Denied, decided_by, reason);
}

Result<ApprovalEntry> ApprovalStore::get(std::string_view key) {
  std::lock_guard lock(impl_->mutex);
  AIRSSYS_TRY_ASSIGN(auto found, impl_->find(key));
  if (!found) {
    return make_error(ErrorCode::NotFound,
                      fmt::format("no approval request has the key '{}'", key));
  }
  return std::move(*found);
}

Result<std::vector<ApprovalEntry>> ApprovalStore::list(std::optional<ApprovalState> state) {
  std::lock_guard lock(impl_->mutex);
  std::string sql = fmt::format("SELECT {} FROM approvals", kColumns);
  if (state) sql += " WHERE state = ?";
  sql += " ORDER BY requested_at, rowid";
  AIRSSYS_TRY_ASSIGN(auto stmt, Statement::prepare(impl_->db, sql));
  if (state) stmt.bind(1, approval_state_name(*state));
  std::vector<ApprovalEntry> out;
  while (true) {
    int rc = stmt.step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return db_error(impl_->db, "list entries");
    AIRSSYS_TRY_ASSIGN(auto entry, read_row(stmt));
    out.push_back(std::move(entry));
  }
  return out;
}

Result<size_t> ApprovalStore::pending_count() {
  std::lock_guard lock(impl_->mutex);
  return impl_->count_pending();
}

}  // namespace airssys::wasm::security
