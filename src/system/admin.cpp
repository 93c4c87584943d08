#include "airssys/wasm/system/admin.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::system {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string iso_time(std::chrono::system_clock::time_point t) {
  return security::format_audit_time(t);
}

Result<sockaddr_un> socket_address(const fs::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof addr.sun_path) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("{}: the socket path is longer than {} bytes", path.string(),
                                  sizeof addr.sun_path - 1));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.native().size() + 1);
  return addr;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

const std::string* string_field(const json& request, const char* key) {
  auto it = request.find(key);
  if (it == request.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

json fail(ErrorCode code, std::string message) {
  return {{"ok", false}, {"error", error_json(Error::of(code, std::move(message)))}};
}

}  // namespace

json error_json(const Error& error) {
  return {{"code", std::string(error_code_name(error.code))},
          {"category", std::string(error_category_name(error.category()))},
          {"message", error.message}};
}

json to_json(const InstalledComponent& c) {
  json out = {{"name", c.name},
              {"version", c.current.version},
              {"module_hash", c.current.module_hash},
              {"trust", std::string(security::trust_level_name(c.current.trust))},
              {"trust_reason", c.current.trust_reason},
              {"signed", c.current.signature.has_value()},
              {"desired", desired_state_name(c.desired)},
              {"status", c.status},
              {"installed_at", iso_time(c.current.installed_at)},
              {"source_dir", c.current.source_dir.string()},
              {"store_dir", c.current.store_dir.string()}};
  out["signer_key_id"] = c.current.signer_key_id ? json(*c.current.signer_key_id) : json();
  out["approval_key"] = c.current.approval_key ? json(*c.current.approval_key) : json();
  out["previous_version"] = c.previous ? json(c.previous->version) : json();
  if (!c.status_detail.empty()) out["status_detail"] = c.status_detail;
  return out;
}

namespace {
// Each quota's limit and unit, by quota name.
json limits_json(const security::QuotaLimits& limits) {
  json out = json::object();
  for (security::QuotaKind kind : security::kQuotaKinds) {
    out[std::string(security::quota_name(kind))] = {{"limit", limits.limit(kind)},
                                                    {"unit", security::quota_unit(kind)}};
  }
  return out;
}
}  // namespace

json quotas_json(const component::ComponentStatus& status) {
  json out = json::object();
  for (const auto& q : status.quotas) {
    out[std::string(security::quota_name(q.quota))] = {
        {"used", q.used},
        {"limit", q.limit},
        {"available", q.available},
        {"percent", std::round(q.percent * 10) / 10},
        {"level", security::quota_level_name(q.level)},
        {"unit", security::quota_unit(q.quota)}};
  }
  return out;
}

json status_json(std::string_view name, const component::ComponentStatus& status) {
  json out = {{"name", name},
              {"state", component::component_state_name(status.state)},
              {"messages_handled", status.messages_handled},
              {"restarts", status.restarts},
              {"throttled", status.throttled},
              {"cpu_time_us", status.cpu_time_us},
              {"undelivered", status.undelivered},
              {"tier", engine::tier_name(status.tier)},
              {"quotas", quotas_json(status)}};
  if (status.last_error) out["last_error"] = status.last_error->message;
  if (!status.health.empty()) out["health"] = status.health;
  return out;
}

json to_json(const ComponentReport& r) {
  json out = to_json(r.installed);
  out["manifest"] = r.installed.current.manifest;
  out["approval"] =
      r.approval ? json(std::string(security::approval_state_name(*r.approval))) : json();
  out["running"] = r.running;
  if (r.compiling_for) out["compiling_ms"] = r.compiling_for->count();
  if (r.status) {
    out["state"] = component::component_state_name(r.status->state);
    out["tier"] = engine::tier_name(r.status->tier);
    if (r.status->last_error) out["last_error"] = r.status->last_error->message;
    if (!r.status->health.empty()) out["health"] = r.status->health;
  }
  out["messages_handled"] = r.messages_handled;
  out["restarts"] = r.restarts;
  out["denials"] = r.denials;
  if (r.status) {
    out["quotas"] = quotas_json(*r.status);
    out["throttled"] = r.status->throttled;
    out["cpu_time_us"] = r.status->cpu_time_us;
  } else {
    // Not running: what it holds in storage, and its limits.
    json quotas = limits_json(r.quotas);
    quotas[std::string(security::quota_name(security::QuotaKind::Storage))]["used"] =
        r.storage_used;
    out["quotas"] = quotas;
  }
  return out;
}

json to_json(const ReloadReport& r) {
  json changes = json::array();
  for (const auto& t : r.trust_changes) {
    changes.push_back({{"name", t.name},
                       {"from", std::string(security::trust_level_name(t.from))},
                       {"to", std::string(security::trust_level_name(t.to))},
                       {"reason", t.reason},
                       {"running", t.running}});
  }
  return {{"trust_config", r.trust_config.string()},
          {"policy", r.policy.string()},
          {"policy_rules", r.policy_rules},
          {"policy_generation", r.policy_generation},
          {"trusted_keys", r.trusted_keys},
          {"trusted_paths", r.trusted_paths},
          {"dev_mode", r.dev_mode},
          {"default_quotas", limits_json(r.default_quotas)},
          {"trust_changes", changes}};
}

namespace {
constexpr std::string_view kAdminCommands =
    "ping, list, info, install, start, stop, upgrade, rollback, uninstall, approve, deny, send, "
    "metrics, status, reload, request, logs";

// Text for a JSON string: the bytes as they are when they are UTF-8, each
// invalid sequence replaced by U+FFFD otherwise.
std::string json_text(std::span<const uint8_t> bytes) {
  std::string text(bytes.begin(), bytes.end());
  json probe = text;
  return json::parse(probe.dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

// A non-negative integer field, or `fallback` when absent; nullopt when it
// is something else.
std::optional<uint64_t> count_field(const json& request, const char* key, uint64_t fallback) {
  auto it = request.find(key);
  if (it == request.end()) return fallback;
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
    return std::nullopt;
  }
  return it->get<uint64_t>();
}
}  // namespace

json handle_admin_request(Host& host, const json& request, std::string_view operator_name) {
  if (!request.is_object()) return fail(ErrorCode::InvalidArgument, "a request is a JSON object");
  const std::string* command = string_field(request, "command");
  if (!command) {
    return fail(ErrorCode::InvalidArgument, "the request names no \"command\" (a string)");
  }
  auto need = [&](const char* key) -> const std::string* {
    const std::string* value = string_field(request, key);
    return value && !value->empty() ? value : nullptr;
  };
  // A flag is true or false; anything else ("yes", 1) is refused rather
  // than read as false.
  for (const char* key : {"approve", "remove_state"}) {
    auto it = request.find(key);
    if (it != request.end() && !it->is_boolean()) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("\"{}\" is true or false, not {}", key, it->dump()));
    }
  }
  auto flag = [&](const char* key) {
    auto it = request.find(key);
    return it != request.end() && it->get<bool>();
  };
  auto missing = [&](const char* key) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("'{}' needs \"{}\" (a non-empty string)", *command, key));
  };
  auto done = [](const Result<void>& r) -> json {
    if (!r) return {{"ok", false}, {"error", error_json(r.error())}};
    return {{"ok", true}, {"result", nullptr}};
  };
  auto component = [](const Result<InstalledComponent>& r) -> json {
    if (!r) return {{"ok", false}, {"error", error_json(r.error())}};
    return {{"ok", true}, {"result", to_json(*r)}};
  };
  InstallOptions install;
  install.approve = flag("approve");
  install.operator_name = std::string(operator_name);

  const std::string& c = *command;
  if (c == "ping") return {{"ok", true}, {"result", {{"data_dir", host.config().data_dir}}}};
  if (c == "list") {
    auto all = host.list();
    if (!all) return {{"ok", false}, {"error", error_json(all.error())}};
    json out = json::array();
    for (const auto& x : *all) out.push_back(to_json(x));
    return {{"ok", true}, {"result", out}};
  }
  if (c == "metrics") return {{"ok", true}, {"result", host.metrics()}};
  if (c == "lattice") {
    auto view = host.lattice();
    if (!view) {
      return {{"ok", false},
              {"error", error_json(Error::of(ErrorCode::NotFound,
                                             "this host is on no lattice (host.toml has no "
                                             "[lattice])"))}};
    }
    json hosts = json::array();
    for (const auto& p : view->hosts) {
      hosts.push_back({{"name", p.name},
                       {"live", p.live},
                       {"boot", p.boot},
                       {"labels", p.labels},
                       {"last_heard_ms", p.last_heard.count()}});
    }
    return {{"ok", true},
            {"result",
             {{"lattice", view->lattice},
              {"host", view->host},
              {"boot", view->boot},
              {"connected", view->connected},
              {"server", view->server},
              {"hosts", hosts}}}};
  }
  if (c == "reload") {
    auto report = host.reload(operator_name);
    if (!report) return {{"ok", false}, {"error", error_json(report.error())}};
    return {{"ok", true}, {"result", to_json(*report)}};
  }
  if (c == "status") {
    // Running components with their quota usage; one when "name" is given.
    json out = json::array();
    const std::string* only = string_field(request, "name");
    for (const auto& name : host.running()) {
      if (only && !only->empty() && name != *only) continue;
      if (auto st = host.status(name)) out.push_back(status_json(name, *st));
    }
    for (const auto& [name, elapsed] : host.compiling()) {
      if (only && !only->empty() && name != *only) continue;
      out.push_back({{"name", name}, {"state", "compiling"}, {"compiling_ms", elapsed.count()}});
    }
    if (only && !only->empty() && out.empty()) {
      return fail(ErrorCode::NotFound, fmt::format("no running component named '{}'", *only));
    }
    return {{"ok", true}, {"result", out}};
  }
  if (c == "install" || c == "upgrade") {
    const std::string* dir = need("dir");
    if (!dir) return missing("dir");
    if (!fs::path(*dir).is_absolute()) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("'{}' needs an absolute \"dir\" (the host's working directory "
                              "is not the caller's): {}",
                              c, *dir));
    }
    return component(c == "install" ? host.install(*dir, install) : host.upgrade(*dir, install));
  }
  const std::string* name = need("name");
  if (!name) {
    if (c == "info" || c == "start" || c == "stop" || c == "rollback" || c == "uninstall" ||
        c == "approve" || c == "deny" || c == "send" || c == "request" || c == "logs") {
      return missing("name");
    }
    return fail(ErrorCode::InvalidArgument,
                fmt::format("unknown command '{}' (known: {})", c, kAdminCommands));
  }
  if (c == "info") {
    auto report = host.info(*name);
    if (!report) return {{"ok", false}, {"error", error_json(report.error())}};
    return {{"ok", true}, {"result", to_json(*report)}};
  }
  if (c == "start") {
    // A start that needs a native compile returns once it is under way,
    // unless the caller asks to wait ("wait": true); `info` and `status`
    // then say "compiling".
    install.wait_for_compile = flag("wait");
    auto started = host.start(*name, install);
    if (!started) return done(started);
    auto report = host.info(*name);
    if (!report) return {{"ok", false}, {"error", error_json(report.error())}};
    return {{"ok", true}, {"result", to_json(*report)}};
  }
  if (c == "stop") return done(host.stop(*name));
  if (c == "rollback") return component(host.rollback(*name));
  if (c == "uninstall") return done(host.uninstall(*name, {.remove_state = flag("remove_state")}));
  if (c == "approve" || c == "deny") {
    const std::string* reason = string_field(request, "reason");
    auto entry = c == "approve" ? host.approve(*name, operator_name, reason ? *reason : "")
                                : host.deny(*name, operator_name, reason ? *reason : "");
    if (!entry) return {{"ok", false}, {"error", error_json(entry.error())}};
    return {{"ok", true},
            {"result",
             {{"key", entry->key}, {"state", std::string(approval_state_name(entry->state))}}}};
  }
  if (c == "send") {
    const std::string* text = string_field(request, "text");
    if (!text) return missing("text");
    return done(host.send(*name, std::vector<uint8_t>(text->begin(), text->end())));
  }
  if (c == "request") {
    // A request from the host; the component's reply is the result.
    const std::string* payload = string_field(request, "payload");
    if (!payload) return missing("payload");
    auto timeout_ms = count_field(request, "timeout_ms", kDefaultRequestTimeout.count());
    if (!timeout_ms || *timeout_ms == 0 ||
        *timeout_ms > static_cast<uint64_t>(kMaxRequestTimeout.count())) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("\"timeout_ms\" is a number of milliseconds from 1 to {}",
                              kMaxRequestTimeout.count()));
    }
    auto reply = host.request(*name, std::vector<uint8_t>(payload->begin(), payload->end()),
                              std::chrono::milliseconds(*timeout_ms));
    if (!reply) return {{"ok", false}, {"error", error_json(reply.error())}};
    return {{"ok", true}, {"result", {{"reply", json_text(*reply)}, {"bytes", reply->size()}}}};
  }
  if (c == "logs") {
    // The lines kept of a component, after "after" (a sequence number) and
    // at or after "since" (a UTC time); with "wait_ms", waits that long for
    // a first line when none matches yet.
    LogQuery query;
    query.component = *name;
    auto after = count_field(request, "after", 0);
    auto wait_ms = count_field(request, "wait_ms", 0);
    auto limit = count_field(request, "limit", kLogLinesKept);
    if (!after || !wait_ms || !limit || *wait_ms > kMaxLogWait.count()) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("\"after\", \"limit\" and \"wait_ms\" are non-negative numbers, "
                              "\"wait_ms\" at most {}",
                              kMaxLogWait.count()));
    }
    query.after = *after;
    query.wait = std::chrono::milliseconds(*wait_ms);
    query.limit = static_cast<size_t>(*limit);
    if (const std::string* since = string_field(request, "since")) {
      query.since = security::parse_audit_time(*since);
      if (!query.since) {
        return fail(ErrorCode::InvalidArgument,
                    fmt::format("\"since\" is a UTC time such as 2026-11-25T16:00:00.000Z, "
                                "not '{}'",
                                *since));
      }
    }
    auto lines = host.logs(query);
    if (lines.empty() && query.after == 0 && !host.status(*name) && !host.info(*name)) {
      return fail(ErrorCode::NotFound, fmt::format("no component named '{}'", *name));
    }
    json out = json::array();
    uint64_t last = query.after;
    for (const auto& l : lines) {
      out.push_back({{"sequence", l.sequence},
                     {"time", iso_time(l.time)},
                     {"level", host::log_level_name(l.level)},
                     {"source", l.source},
                     {"text", json_text({reinterpret_cast<const uint8_t*>(l.text.data()),
                                         l.text.size()})}});
      last = std::max(last, l.sequence);
    }
    return {{"ok", true}, {"result", {{"lines", out}, {"last", last}}}};
  }
  return fail(ErrorCode::InvalidArgument,
              fmt::format("unknown command '{}' (known: {})", c, kAdminCommands));
}

// --- the server ------------------------------------------------------------------

struct AdminServer::Impl {
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  Host& host;
  fs::path path;
  AdminOptions options;
  int listen_fd = -1;
  int wake[2] = {-1, -1};
  std::thread acceptor;
  std::mutex mutex;
  std::list<Connection> connections;  // guarded by mutex
  std::atomic<uint64_t> refused{0};
  std::atomic<bool> stopping{false};

  Impl(Host& h, fs::path p, AdminOptions o) : host(h), path(std::move(p)), options(o) {}

  void audit_refusal(std::string reason) {
    security::AuditRecord r;
    r.permission = "admin.connect";
    r.resource = path.string();
    r.result = security::AuditResult::Denied;
    r.reason = std::move(reason);
    r.layer = security::DecisionLayer::HostPolicy;
    host.audit().record(std::move(r));
  }

  // Serves one connection until the peer closes it, it stays idle too long
  // or it sends a line too long; then the connection is shut down at once
  // (its slot is freed at the next accept).
  // The slot is free before the peer sees the end of its connection, so a
  // client that saw it closed may connect again at once.
  void serve(Connection& c, uid_t uid) {
    serve_lines(c, uid);
    c.done.store(true);
    ::shutdown(c.fd, SHUT_RDWR);
  }

  void serve_lines(Connection& c, uid_t uid) {
    std::string op = fmt::format("admin (uid {})", uid);
    std::string buffer;
    char chunk[4096];
    for (;;) {
      size_t eol;
      while ((eol = buffer.find('\n')) == std::string::npos) {
        if (buffer.size() > kMaxAdminLine) {
          (void)write_all(c.fd, fail(ErrorCode::InvalidArgument,
                                     fmt::format("a request line is longer than {} bytes; "
                                                 "the connection is closed",
                                                 kMaxAdminLine))
                                        .dump() +
                                    "\n");
          return;
        }
        // A connection that sends nothing holds a slot: it is closed once
        // idle for options.idle_timeout.
        pollfd readable{c.fd, POLLIN, 0};
        const int ready = ::poll(&readable, 1, static_cast<int>(options.idle_timeout.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) {
          (void)write_all(c.fd, fail(ErrorCode::IoError,
                                     fmt::format("no request for {} ms; the connection is closed",
                                                 options.idle_timeout.count()))
                                        .dump() +
                                    "\n");
          return;
        }
        if (ready < 0) return;
        ssize_t n = ::recv(c.fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        buffer.append(chunk, static_cast<size_t>(n));
      }
      std::string line = buffer.substr(0, eol);
      buffer.erase(0, eol + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      json response;
      auto request = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (request.is_discarded()) {
        response = fail(ErrorCode::InvalidArgument, "the request is not valid JSON");
      } else {
        try {
          response = handle_admin_request(host, request, op);
        } catch (const std::exception& e) {
          response = fail(ErrorCode::InternalError, e.what());
        }
      }
      if (!write_all(c.fd, response.dump() + "\n")) return;
    }
  }

  void reap() {
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->done.load()) {
        it->thread.join();
        ::close(it->fd);
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }

  void accept_loop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
      int n = ::poll(fds, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (stopping.load() || fds[1].revents) return;
      if (!(fds[0].revents & POLLIN)) continue;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ucred cred{};
      socklen_t len = sizeof cred;
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::geteuid()) {
        refused.fetch_add(1);
        std::string reason = fmt::format("peer uid {} (pid {}) is not the host's user (uid {})",
                                         static_cast<long>(cred.uid), static_cast<long>(cred.pid),
                                         static_cast<long>(::geteuid()));
        // The refusal is on record before the peer learns of it.
        audit_refusal(std::move(reason));
        (void)write_all(fd, fail(ErrorCode::CapabilityDenied,
                                 "the admin endpoint serves only the host's own user")
                                    .dump() +
                                "\n");
        ::close(fd);
        continue;
      }
      std::lock_guard lock(mutex);
      reap();
      if (connections.size() >= options.max_connections) {
        std::string reason = fmt::format("more than {} admin connections", options.max_connections);
        audit_refusal(reason);
        (void)write_all(fd, fail(ErrorCode::MailboxFull, reason).dump() + "\n");
        ::close(fd);
        continue;
      }
      auto& c = connections.emplace_back();
      c.fd = fd;
      uid_t uid = cred.uid;
      c.thread = std::thread([this, &c, uid] { serve(c, uid); });
    }
  }
};

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() {
  stop();
}

Result<std::unique_ptr<AdminServer>> AdminServer::start(Host& host, const fs::path& socket,
                                                        AdminOptions options) {
  auto impl = std::make_unique<Impl>(host, socket, options);
  AIRSSYS_TRY_ASSIGN(auto addr, socket_address(socket));
  // Only the owner may create or replace entries next to the socket.
  struct stat dir {};
  auto parent = socket.parent_path().empty() ? fs::path(".") : socket.parent_path();
  if (::stat(parent.c_str(), &dir) != 0) {
    return make_error(ErrorCode::IoError,
                      fmt::format("{}: {}", parent.string(), std::strerror(errno)));
  }
  if (dir.st_uid != ::geteuid() || (dir.st_mode & 022) != 0) {
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("{}: the admin socket's folder must belong to uid {} and not "
                                  "be writable by group or others (chmod 700)",
                                  parent.string(), static_cast<long>(::geteuid())));
  }
  struct stat existing {};
  if (::lstat(socket.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      return make_error(ErrorCode::InvalidConfig,
                        fmt::format("{}: exists and is not a socket", socket.string()));
    }
    if (auto live = AdminClient::connect(socket)) {
      return make_error(ErrorCode::InvalidTransition,
                        fmt::format("{}: another host is listening there", socket.string()));
    }
    ::unlink(socket.c_str());  // left behind by a host that died
  }
  impl->listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (impl->listen_fd < 0) {
    return make_error(ErrorCode::IoError, fmt::format("socket: {}", std::strerror(errno)));
  }
  mode_t old_mask = ::umask(0177);
  int bound = ::bind(impl->listen_fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0 || ::chmod(socket.c_str(), 0600) != 0 || ::listen(impl->listen_fd, 16) != 0) {
    ::close(impl->listen_fd);
    return make_error(ErrorCode::IoError, fmt::format("{}: cannot listen: {}", socket.string(),
                                                      std::strerror(bound ? bind_errno : errno)));
  }
  if (::pipe2(impl->wake, O_CLOEXEC) != 0) {
    ::close(impl->listen_fd);
    ::unlink(socket.c_str());
    return make_error(ErrorCode::IoError, fmt::format("pipe: {}", std::strerror(errno)));
  }
  Impl* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->accept_loop(); });
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

void AdminServer::stop() {
  auto& i = *impl_;
  if (i.stopping.exchange(true)) return;
  char byte = 1;
  (void)!::write(i.wake[1], &byte, 1);
  i.acceptor.join();
  {
    std::lock_guard lock(i.mutex);
    for (auto& c : i.connections) ::shutdown(c.fd, SHUT_RDWR);
    for (auto& c : i.connections) {
      c.thread.join();
      ::close(c.fd);
    }
    i.connections.clear();
  }
  ::close(i.listen_fd);
  ::close(i.wake[0]);
  ::close(i.wake[1]);
  ::unlink(i.path.c_str());
}

const fs::path& AdminServer::path() const {
  return impl_->path;
}
uint64_t AdminServer::refused_peers() const {
  return impl_->refused.load();
}

// --- the client ------------------------------------------------------------------

Result<AdminClient> AdminClient::connect(const fs::path& socket) {
  AIRSSYS_TRY_ASSIGN(auto addr, socket_address(socket));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error(ErrorCode::IoError, fmt::format("socket: {}", std::strerror(errno)));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    if (e == ENOENT || e == ECONNREFUSED) {
      return make_error(ErrorCode::NotFound, fmt::format("no host listens on {}", socket.string()));
    }
    return make_error(ErrorCode::IoError,
                      fmt::format("{}: cannot connect: {}", socket.string(), std::strerror(e)));
  }
  return AdminClient(fd);
}

AdminClient::AdminClient(AdminClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}
AdminClient& AdminClient::operator=(AdminClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}
AdminClient::~AdminClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<json> AdminClient::call(const json& request) {
  // A host that refuses the connection (too many, or another user) sends
  // its refusal and closes at once, maybe before this request is written:
  // a failed write still reads that refusal, which is the answer.
  (void)write_all(fd_, request.dump() + "\n");
  size_t eol;
  char chunk[4096];
  while ((eol = buffer_.find('\n')) == std::string::npos) {
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(ErrorCode::IoError, "the host closed the admin connection");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
  std::string line = buffer_.substr(0, eol);
  buffer_.erase(0, eol + 1);
  auto response = json::parse(line, nullptr, false);
  if (response.is_discarded() || !response.is_object()) {
    return make_error(ErrorCode::IoError, "the host's response is not a JSON object");
  }
  return response;
}

}  // namespace airssys::wasm::system
