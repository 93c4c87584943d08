#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "host_impl.hpp"

namespace airssys::wasm::system {

namespace detail {

Result<std::string> read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(ErrorCode::IoError, fmt::format("{}: cannot read", file.string()));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Result<std::vector<uint8_t>> read_bytes(const fs::path& file) {
  AIRSSYS_TRY_ASSIGN(auto text, read_text(file));
  return std::vector<uint8_t>(text.begin(), text.end());
}

// The operator's ceilings: host.toml's [ceiling] (or the builder's) and the
// policy's, the lower of the two for each quota.
security::QuotaSpec host_quota_ceilings(const HostConfig& config,
                                        const security::HostPolicy& policy) {
  return security::tighter_ceilings(config.ceiling, policy.quota_ceilings());
}

// The host's default quotas: host.toml's [quota] (or the builder's), then
// the policy's [quota], then the built-in defaults; each lowered to its ceiling.
security::QuotaLimits host_default_quotas(const HostConfig& config,
                                          const security::HostPolicy& policy) {
  return security::clamp_to_ceilings(
      security::effective_quotas(config.quota,
                                 security::effective_quotas(policy.quota_defaults(), {})),
      host_quota_ceilings(config, policy));
}

}  // namespace detail

// The approval key of an installed version, from its manifest and module,
// when it needs an approval under the host's current defaults: the key the
// next admission asks for (a key recorded at install may be older).
std::optional<std::string> Host::Impl::approval_key_of(const ComponentVersion& v) const {
  auto manifest = security::parse_manifest(v.manifest, "Component.toml");
  if (!manifest || !security::needs_approval(*manifest, default_quotas())) return std::nullopt;
  return security::ApprovalStore::key_for(v.name, v.module_hash,
                                          security::canonical_approval_terms(*manifest));
}

Host::Host(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Host::~Host() {
  shutdown();
}

const HostConfig& Host::config() const {
  return impl_->config;
}
security::QuotaLimits Host::default_quotas() const {
  return impl_->default_quotas();
}
security::AuditLog& Host::audit() {
  return *impl_->audit;
}
storage::KeyValueStore& Host::state() {
  return *impl_->kv;
}

Result<std::vector<InstalledComponent>> Host::list() const {
  return impl_->registry->list();
}

Result<ComponentReport> Host::info(std::string_view name) const {
  auto& i = *impl_;
  AIRSSYS_TRY_ASSIGN(auto c, i.registry->get(name));
  ComponentReport report;
  report.installed = std::move(c);
  auto& current = report.installed.current;
  // The key the next admission asks for, under the current defaults; the
  // one recorded at install may predate them or the terms an approval covers.
  current.approval_key = i.approval_key_of(current);
  if (const auto& key = current.approval_key) {
    std::lock_guard lock(i.approvals_mutex);
    auto entry = i.approvals->get(*key);
    report.approval = entry ? entry->state : security::ApprovalState::Pending;
  }
  report.status = i.system->status(name);
  report.compiling_for = i.compiling_for(name);
  report.running = report.status && report.status->state == component::ComponentState::Ready;
  auto& counters = i.counters_for(name);
  {
    std::lock_guard lock(i.counters_mutex);
    report.messages_handled = counters.handled_base;
    report.restarts = counters.restarts_base;
  }
  if (report.status) {
    report.messages_handled += report.status->messages_handled;
    report.restarts += report.status->restarts;
  }
  report.denials = counters.denials.load();
  auto used = i.kv->usage(name);
  if (used) report.storage_used = *used;
  if (auto manifest = security::parse_manifest(current.manifest, "Component.toml")) {
    report.quotas = security::effective_quotas(manifest->quota, i.default_quotas());
  }
  return report;
}

Result<void> Host::send(std::string_view name, std::vector<uint8_t> payload) {
  auto& i = *impl_;
  auto sent = i.system->send_from_host(name, std::move(payload));
  auto& c = i.counters_for(name);
  (sent ? c.host_accepted : c.host_refused).fetch_add(1, std::memory_order_relaxed);
  if (!sent && sent.error().code == ErrorCode::ActorNotFound) {
    // Installed but not running is not "no such component".
    if (auto installed = i.registry->get(name)) {
      return make_error(ErrorCode::ActorStopped,
                        fmt::format("component '{}' is installed but not running (status {}); "
                                    "start it with 'airssys-wasm start {}'",
                                    name, installed->status, name));
    }
  }
  return sent;
}

Result<std::vector<uint8_t>> Host::request(std::string_view name, std::vector<uint8_t> payload,
                                           std::chrono::milliseconds timeout) {
  auto& i = *impl_;
  auto reply = i.system->request_from_host(name, std::move(payload), timeout);
  auto& c = i.counters_for(name);
  (reply ? c.host_accepted : c.host_refused).fetch_add(1, std::memory_order_relaxed);
  if (!reply && reply.error().code == ErrorCode::ActorNotFound) {
    if (auto installed = i.registry->get(name)) {
      return make_error(ErrorCode::ActorStopped,
                        fmt::format("component '{}' is installed but not running (status {}); "
                                    "start it with 'airssys-wasm start {}'",
                                    name, installed->status, name));
    }
  }
  return reply;
}

std::vector<LogEntry> Host::logs(const LogQuery& query) const {
  return impl_->log_book->read(query);
}

void LogBook::add(const host::LogLine& line) {
  std::lock_guard lock(mutex_);
  auto it = lines_.find(line.component);
  if (it == lines_.end()) it = lines_.emplace(std::string(line.component), std::deque<LogEntry>()).first;
  auto& kept = it->second;
  if (kept.size() >= kLogLinesKept) kept.pop_front();
  kept.push_back({++sequence_, std::chrono::system_clock::now(), std::string(line.component),
                  line.level, std::string(line.source), std::string(line.text)});
  added_.notify_all();
}

std::vector<LogEntry> LogBook::matching(const LogQuery& query) const {
  std::vector<LogEntry> out;
  auto it = lines_.find(query.component);
  if (it == lines_.end()) return out;
  for (const auto& e : it->second) {
    if (e.sequence <= query.after) continue;
    if (query.since && e.time < *query.since) continue;
    out.push_back(e);
  }
  if (out.size() > query.limit) out.erase(out.begin(), out.end() - static_cast<ptrdiff_t>(query.limit));
  return out;
}

std::vector<LogEntry> LogBook::read(const LogQuery& query) const {
  std::unique_lock lock(mutex_);
  auto out = matching(query);
  if (out.empty() && query.wait.count() > 0) {
    const auto deadline = std::chrono::steady_clock::now() + query.wait;
    while (out.empty() && !waits_ended_ &&
           added_.wait_until(lock, deadline) != std::cv_status::timeout) {
      out = matching(query);
    }
    if (out.empty()) out = matching(query);
  }
  return out;
}

void LogBook::end_waits() {
  std::lock_guard lock(mutex_);
  waits_ended_ = true;
  added_.notify_all();
}

void Host::end_waits() {
  impl_->log_book->end_waits();
  impl_->system->end_host_requests();
}

std::optional<component::ComponentStatus> Host::status(std::string_view name) const {
  return impl_->system->status(name);
}

std::vector<std::string> Host::running() const {
  std::lock_guard lock(impl_->counters_mutex);
  return impl_->start_order;
}

}  // namespace airssys::wasm::system
