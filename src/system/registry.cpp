#include "airssys/wasm/system/registry.hpp"

#include <sqlite3.h>

#include <mutex>

#include <fmt/format.h>

namespace airssys::wasm::system {

namespace {

constexpr int64_t kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS versions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  module_hash TEXT NOT NULL,
  manifest TEXT NOT NULL,
  signature TEXT,
  signer_key_id TEXT,
  trust_level TEXT NOT NULL,
  trust_reason TEXT NOT NULL,
  approval_key TEXT,
  source_dir TEXT NOT NULL,
  store_dir TEXT NOT NULL,
  installed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS components (
  name TEXT PRIMARY KEY,
  current INTEGER NOT NULL REFERENCES versions(id),
  previous INTEGER REFERENCES versions(id),
  desired TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
  status TEXT NOT NULL,
  status_detail TEXT NOT NULL DEFAULT ''
);
)sql";

constexpr const char* kVersionColumns =
    "id, name, version, module_hash, manifest, signature, signer_key_id, trust_level, "
    "trust_reason, approval_key, source_dir, store_dir, installed_at";

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  void bind(int i, std::string_view text) {
    // An empty view may have no data pointer, which SQLite would store as NULL.
    sqlite3_bind_text(stmt_, i, text.empty() ? "" : text.data(), static_cast<int>(text.size()),
                      SQLITE_TRANSIENT);
  }
  void bind(int i, const std::string& text) { bind(i, std::string_view(text)); }
  void bind(int i, const char* text) { bind(i, std::string_view(text)); }
  void bind(int i, const std::optional<std::string>& text) {
    if (text) {
      bind(i, std::string_view(*text));
    } else {
      sqlite3_bind_null(stmt_, i);
    }
  }
  void bind(int i, int64_t value) { sqlite3_bind_int64(stmt_, i, value); }
  void bind_null(int i) { sqlite3_bind_null(stmt_, i); }
  int step() { return sqlite3_step(stmt_); }
  std::string text(int i) const {
    auto p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
             : std::string();
  }
  std::optional<std::string> optional_text(int i) const {
    if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) return std::nullopt;
    return text(i);
  }
  int64_t integer(int i) const { return sqlite3_column_int64(stmt_, i); }
  bool is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

ComponentVersion read_version(const Statement& s, int first = 0) {
  ComponentVersion v;
  v.id = s.integer(first + 0);
  v.name = s.text(first + 1);
  v.version = s.text(first + 2);
  v.module_hash = s.text(first + 3);
  v.manifest = s.text(first + 4);
  v.signature = s.optional_text(first + 5);
  v.signer_key_id = s.optional_text(first + 6);
  v.trust = security::parse_trust_level(s.text(first + 7)).value_or(security::TrustLevel::Unknown);
  v.trust_reason = s.text(first + 8);
  v.approval_key = s.optional_text(first + 9);
  v.source_dir = s.text(first + 10);
  v.store_dir = s.text(first + 11);
  v.installed_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(s.integer(first + 12)));
  return v;
}

}  // namespace

const char* desired_state_name(DesiredState state) {
  return state == DesiredState::Running ? "running" : "stopped";
}

struct Registry::Impl {
  std::filesystem::path path;
  sqlite3* db = nullptr;
  mutable std::mutex mutex;

  ~Impl() { sqlite3_close(db); }

  Error sql_error(std::string_view what) const {
    return Error::of(ErrorCode::IoError,
                     fmt::format("registry {}: {}: {}", path.string(), what, sqlite3_errmsg(db)));
  }
  Result<void> exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : "unknown error";
      sqlite3_free(message);
      return make_error(ErrorCode::IoError,
                        fmt::format("registry {}: {}", path.string(), text));
    }
    return {};
  }
  Result<std::optional<ComponentVersion>> version(int64_t id) const {
    auto sql = fmt::format("SELECT {} FROM versions WHERE id = ?1", kVersionColumns);
    Statement s(db, sql.c_str());
    if (!s.ok()) return std::unexpected(sql_error("read a version"));
    s.bind(1, id);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<ComponentVersion>{};
    if (rc != SQLITE_ROW) return std::unexpected(sql_error("read a version"));
    return std::optional<ComponentVersion>(read_version(s));
  }
  Result<std::vector<ComponentVersion>> versions_of(std::string_view name) const {
    auto sql = fmt::format("SELECT {} FROM versions WHERE name = ?1 ORDER BY id", kVersionColumns);
    Statement s(db, sql.c_str());
    if (!s.ok()) return std::unexpected(sql_error("list versions"));
    s.bind(1, name);
    std::vector<ComponentVersion> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_version(s));
    if (rc != SQLITE_DONE) return std::unexpected(sql_error("list versions"));
    return out;
  }
  Result<InstalledComponent> component(std::string_view name) const {
    Statement s(db,
                "SELECT name, current, previous, desired, status, status_detail FROM components "
                "WHERE name = ?1");
    if (!s.ok()) return std::unexpected(sql_error("read a component"));
    s.bind(1, name);
    int rc = s.step();
    if (rc == SQLITE_DONE) {
      return make_error(ErrorCode::NotFound, fmt::format("no component named '{}' is installed",
                                                         name));
    }
    if (rc != SQLITE_ROW) return std::unexpected(sql_error("read a component"));
    InstalledComponent c;
    c.name = s.text(0);
    int64_t current = s.integer(1);
    std::optional<int64_t> previous;
    if (!s.is_null(2)) previous = s.integer(2);
    c.desired = s.text(3) == "running" ? DesiredState::Running : DesiredState::Stopped;
    c.status = s.text(4);
    c.status_detail = s.text(5);
    AIRSSYS_TRY_ASSIGN(auto cur, version(current));
    if (!cur) return std::unexpected(sql_error("a component without its current version"));
    c.current = std::move(*cur);
    if (previous) {
      AIRSSYS_TRY_ASSIGN(auto prev, version(*previous));
      if (prev) c.previous = std::move(*prev);
    }
    return c;
  }
  Result<void> update(const char* sql, std::string_view name, std::string_view a,
                      std::optional<std::string_view> b = std::nullopt) {
    Statement s(db, sql);
    if (!s.ok()) return std::unexpected(sql_error("update a component"));
    s.bind(1, name);
    s.bind(2, a);
    if (b) s.bind(3, *b);
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error("update a component"));
    if (sqlite3_changes(db) == 0) {
      return make_error(ErrorCode::NotFound,
                        fmt::format("no component named '{}' is installed", name));
    }
    return {};
  }
};

Registry::Registry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Registry::~Registry() = default;

Result<std::unique_ptr<Registry>> Registry::open(const std::filesystem::path& file) {
  auto impl = std::make_unique<Impl>();
  impl->path = file;
  if (sqlite3_open_v2(file.c_str(), &impl->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return std::unexpected(impl->sql_error("open"));
  }
  sqlite3_busy_timeout(impl->db, 5000);
  AIRSSYS_TRY(impl->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                         "PRAGMA foreign_keys=ON;"));
  // The schema's version: 0 is a new file, 1 is this schema.
  {
    Statement s(impl->db, "PRAGMA user_version");
    if (!s.ok() || s.step() != SQLITE_ROW) return std::unexpected(impl->sql_error("open"));
    int64_t version = s.integer(0);
    if (version != 0 && version != kSchemaVersion) {
      return make_error(ErrorCode::IoError,
                        fmt::format("registry {}: schema version {} is not the version {} this "
                                    "host reads",
                                    file.string(), version, kSchemaVersion));
    }
  }
  AIRSSYS_TRY(impl->exec(kSchema));
  AIRSSYS_TRY(impl->exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str()));
  return std::unique_ptr<Registry>(new Registry(std::move(impl)));
}

const std::filesystem::path& Registry::path() const { return impl_->path; }

Result<int64_t> Registry::add_version(const ComponentVersion& v) {
  std::lock_guard lock(impl_->mutex);
  Statement s(impl_->db,
              "INSERT INTO versions (name, version, module_hash, manifest, signature, "
              "signer_key_id, trust_level, trust_reason, approval_key, source_dir, store_dir, "
              "installed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  if (!s.ok()) return std::unexpected(impl_->sql_error("record a version"));
  s.bind(1, v.name);
  s.bind(2, v.version);
  s.bind(3, v.module_hash);
  s.bind(4, v.manifest);
  s.bind(5, v.signature);
  s.bind(6, v.signer_key_id);
  s.bind(7, security::trust_level_name(v.trust));
  s.bind(8, v.trust_reason);
  s.bind(9, v.approval_key);
  s.bind(10, v.source_dir.string());
  s.bind(11, v.store_dir.string());
  s.bind(12, static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      v.installed_at.time_since_epoch())
                                      .count()));
  if (s.step() != SQLITE_DONE) return std::unexpected(impl_->sql_error("record a version"));
  return sqlite3_last_insert_rowid(impl_->db);
}

Result<void> Registry::install(std::string_view name, int64_t version_id) {
  std::lock_guard lock(impl_->mutex);
  Statement s(impl_->db,
              "INSERT INTO components (name, current, previous, desired, status) "
              "VALUES (?1, ?2, NULL, 'stopped', 'installed')");
  if (!s.ok()) return std::unexpected(impl_->sql_error("install"));
  s.bind(1, name);
  s.bind(2, version_id);
  int rc = s.step();
  if (rc == SQLITE_CONSTRAINT) {
    return make_error(ErrorCode::InvalidTransition,
                      fmt::format("'{}' is installed already; upgrade it instead", name));
  }
  if (rc != SQLITE_DONE) return std::unexpected(impl_->sql_error("install"));
  return {};
}

Result<std::vector<ComponentVersion>> Registry::switch_versions(std::string_view name,
                                                                int64_t current,
                                                                std::optional<int64_t> previous) {
  std::lock_guard lock(impl_->mutex);
  AIRSSYS_TRY(impl_->exec("BEGIN IMMEDIATE"));
  auto fail = [&](Error e) -> Result<std::vector<ComponentVersion>> {
    (void)impl_->exec("ROLLBACK");
    return std::unexpected(std::move(e));
  };
  {
    Statement s(impl_->db, "UPDATE components SET current = ?2, previous = ?3 WHERE name = ?1");
    if (!s.ok()) return fail(impl_->sql_error("switch versions"));
    s.bind(1, name);
    s.bind(2, current);
    if (previous) {
      s.bind(3, *previous);
    } else {
      s.bind_null(3);
    }
    if (s.step() != SQLITE_DONE) return fail(impl_->sql_error("switch versions"));
    if (sqlite3_changes(impl_->db) == 0) {
      return fail(Error::of(ErrorCode::NotFound,
                            fmt::format("no component named '{}' is installed", name)));
    }
  }
  auto all = impl_->versions_of(name);
  if (!all) return fail(all.error());
  std::vector<ComponentVersion> dropped;
  for (auto& v : *all) {
    if (v.id == current || (previous && v.id == *previous)) continue;
    Statement s(impl_->db, "DELETE FROM versions WHERE id = ?1");
    if (!s.ok()) return fail(impl_->sql_error("drop a version"));
    s.bind(1, v.id);
    if (s.step() != SQLITE_DONE) return fail(impl_->sql_error("drop a version"));
    dropped.push_back(std::move(v));
  }
  AIRSSYS_TRY(impl_->exec("COMMIT"));
  return dropped;
}

Result<void> Registry::set_desired(std::string_view name, DesiredState desired) {
  std::lock_guard lock(impl_->mutex);
  return impl_->update("UPDATE components SET desired = ?2 WHERE name = ?1", name,
                       desired_state_name(desired));
}

Result<void> Registry::set_status(std::string_view name, std::string_view status,
                                  std::string_view detail) {
  std::lock_guard lock(impl_->mutex);
  return impl_->update("UPDATE components SET status = ?2, status_detail = ?3 WHERE name = ?1",
                       name, status, detail);
}

Result<InstalledComponent> Registry::get(std::string_view name) const {
  std::lock_guard lock(impl_->mutex);
  return impl_->component(name);
}

Result<std::vector<InstalledComponent>> Registry::list() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<std::string> names;
  {
    Statement s(impl_->db, "SELECT name FROM components ORDER BY name");
    if (!s.ok()) return std::unexpected(impl_->sql_error("list"));
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) names.push_back(s.text(0));
    if (rc != SQLITE_DONE) return std::unexpected(impl_->sql_error("list"));
  }
  std::vector<InstalledComponent> out;
  for (const auto& name : names) {
    AIRSSYS_TRY_ASSIGN(auto c, impl_->component(name));
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<ComponentVersion>> Registry::remove(std::string_view name) {
  std::lock_guard lock(impl_->mutex);
  AIRSSYS_TRY_ASSIGN(auto all, impl_->versions_of(name));
  AIRSSYS_TRY(impl_->exec("BEGIN IMMEDIATE"));
  Statement c(impl_->db, "DELETE FROM components WHERE name = ?1");
  Statement v(impl_->db, "DELETE FROM versions WHERE name = ?1");
  if (!c.ok() || !v.ok()) {
    (void)impl_->exec("ROLLBACK");
    return std::unexpected(impl_->sql_error("uninstall"));
  }
  c.bind(1, name);
  v.bind(1, name);
  if (c.step() != SQLITE_DONE) {
    (void)impl_->exec("ROLLBACK");
    return std::unexpected(impl_->sql_error("uninstall"));
  }
  if (sqlite3_changes(impl_->db) == 0) {
    (void)impl_->exec("ROLLBACK");
    return make_error(ErrorCode::NotFound,
                      fmt::format("no component named '{}' is installed", name));
  }
  if (v.step() != SQLITE_DONE) {
    (void)impl_->exec("ROLLBACK");
    return std::unexpected(impl_->sql_error("uninstall"));
  }
  AIRSSYS_TRY(impl_->exec("COMMIT"));
  return all;
}

Result<void> Registry::drop_version(int64_t version_id) {
  std::lock_guard lock(impl_->mutex);
  Statement s(impl_->db,
              "DELETE FROM versions WHERE id = ?1 AND id NOT IN (SELECT current FROM components) "
              "AND id NOT IN (SELECT previous FROM components WHERE previous IS NOT NULL)");
  if (!s.ok()) return std::unexpected(impl_->sql_error("drop a version"));
  s.bind(1, version_id);
  if (s.step() != SQLITE_DONE) return std::unexpected(impl_->sql_error("drop a version"));
  return {};
}

}  // namespace airssys::wasm::system
