#include "airssys/wasm/host/context.hpp"

#include "airssys/wasm/host/log.hpp"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "airssys/wasm/host/files.hpp"
#include "airssys/wasm/storage/kv.hpp"

namespace airssys::wasm::host {
namespace {

void write_all(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the host's own stream is gone; the component's output is dropped
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
}

}  // namespace

std::expected<size_t, int> ComponentContext::read_stdin(std::span<uint8_t> buffer) const {
  if (!wasi_.stdin_source || buffer.empty()) return size_t{0};
  return wasi_.stdin_source(buffer);
}

void ComponentContext::write_stdout(std::span<const uint8_t> bytes) const {
  if (log_) {
    log_->output("stdout", bytes);
  } else if (wasi_.stdout_sink) {
    wasi_.stdout_sink(bytes);
  } else {
    write_all(STDOUT_FILENO, bytes);
  }
}

void ComponentContext::write_stderr(std::span<const uint8_t> bytes) const {
  if (log_) {
    log_->output("stderr", bytes);
  } else if (wasi_.stderr_sink) {
    wasi_.stderr_sink(bytes);
  } else {
    write_all(STDERR_FILENO, bytes);
  }
}

std::string_view ComponentContext::name() const {
  return security_.context ? std::string_view(security_.context->component_id())
                           : std::string_view();
}

void ComponentContext::audit(std::string_view permission, std::string_view resource,
                             security::AuditResult result, security::DecisionLayer layer,
                             std::string_view reason) const {
  if (!security_.audit) return;
  security::AuditRecord r;
  r.component = security_.context ? security_.context->component_id() : std::string("<unknown>");
  r.resource = std::string(resource);
  r.permission = std::string(permission);
  r.result = result;
  if (security_.context) r.trust = security_.context->trust_level();
  r.reason = std::string(reason);
  r.layer = layer;
  security_.audit->record(std::move(r));
}

ComponentContext::ComponentContext(WasiOptions wasi, SecurityBinding security)
    : wasi_(std::move(wasi)), security_(std::move(security)) {
  // A context without a tracker of its own gets one for its lifetime; a
  // supervisor hands the same tracker to every restart instead.
  if (!security_.quota && security_.context) {
    security_.quota = std::make_shared<security::QuotaTracker>(security_.context->quotas());
  }
}

std::optional<ComponentContext::Denial> ComponentContext::decide(security::Permission permission,
                                                                 std::string_view resource,
                                                                 std::string* granted_reason) const {
  using security::DecisionLayer;
  const auto& ctx = security_.context;
  if (!ctx) return Denial{DecisionLayer::Component, "no security context"};
  auto decision = ctx->check(permission, resource);
  if (!decision.granted) return Denial{DecisionLayer::Component, std::string(decision.reason_text())};
  if (security_.policy) {
    security::PolicySubject subject{ctx->component_id(), std::nullopt};
    if (security_.signer_key_id) subject.signer_key_id = *security_.signer_key_id;
    auto verdict = security_.policy->current().check(subject, permission, resource);
    if (!verdict.allowed) {
      return Denial{DecisionLayer::HostPolicy,
                    verdict.rule ? fmt::format("rule '{}': {}", verdict.rule->name, verdict.reason)
                                 : std::string(verdict.reason)};
    }
  }
  if (granted_reason) *granted_reason = std::string(decision.reason_text());
  return std::nullopt;
}

Result<void> ComponentContext::deny(security::Permission permission, std::string_view resource,
                                    const Denial& denial) const {
  const auto name = security::permission_name(permission);
  audit(name, resource, security::AuditResult::Denied, denial.layer, denial.reason);
  return make_error(ErrorCode::CapabilityDenied,
                    fmt::format("{} {} denied by {}: {}", name, resource,
                                security::decision_layer_name(denial.layer), denial.reason));
}

Result<void> ComponentContext::authorize(security::Permission permission,
                                         std::string_view resource) const {
  std::string reason;  // only read for the audit record
  if (auto denial = decide(permission, resource, security_.audit ? &reason : nullptr)) {
    return deny(permission, resource, *denial);
  }
  audit(security::permission_name(permission), resource, security::AuditResult::Granted,
        security::DecisionLayer::Component, reason);
  return {};
}

Result<void> ComponentContext::check_capability_with_quota(security::Permission permission,
                                                           std::string_view resource,
                                                           security::QuotaKind quota,
                                                           uint64_t amount) const {
  std::string reason;
  if (auto denial = decide(permission, resource, &reason)) return deny(permission, resource, *denial);
  const auto name = security::permission_name(permission);
  if (auto reserved = security_.quota->try_consume(quota, amount); !reserved) {
    return refuse_quota(name, resource, reserved.error());
  }
  audit(name, resource, security::AuditResult::Granted, security::DecisionLayer::Component,
        reason);
  report_quota(quota);
  return {};
}

Result<void> ComponentContext::consume_quota(std::string_view what, std::string_view resource,
                                             security::QuotaKind quota, uint64_t amount) const {
  if (!security_.quota) {
    return make_error(ErrorCode::QuotaExceeded, fmt::format("{} {}: no quota tracker", what, resource));
  }
  if (auto consumed = security_.quota->try_consume(quota, amount); !consumed) {
    return refuse_quota(what, resource, consumed.error());
  }
  report_quota(quota);
  return {};
}

Result<void> ComponentContext::refuse_quota(std::string_view what, std::string_view resource,
                                            const security::QuotaError& error) const {
  audit(what, resource, security::AuditResult::Denied, security::DecisionLayer::Quota,
        error.to_string());
  return std::unexpected(error.to_error());
}

void ComponentContext::settle_quota(security::QuotaKind quota, uint64_t reserved,
                                    uint64_t used) const {
  if (!security_.quota) return;
  if (used < reserved) {
    security_.quota->release(quota, reserved - used);
  } else if (used > reserved) {
    security_.quota->record(quota, used - reserved);
  }
  report_quota(quota);
}

void ComponentContext::on_memory_grow(const engine::MemoryGrowEvent& e) const {
  if (!security_.quota) return;
  auto& tracker = *security_.quota;
  tracker.set_used(security::QuotaKind::Memory, e.granted ? e.requested_bytes : e.old_bytes);
  const uint64_t limit = tracker.limits().memory_bytes;
  if (!e.granted && e.requested_bytes > limit) {
    security::QuotaError refused{security::QuotaKind::Memory, e.old_bytes,
                                 e.requested_bytes - e.old_bytes, limit};
    audit("memory.grow", fmt::format("{} bytes", e.requested_bytes), security::AuditResult::Denied,
          security::DecisionLayer::Quota, refused.to_string());
  }
  report_quota(security::QuotaKind::Memory);
}

void ComponentContext::report_quota(security::QuotaKind quota) const {
  if (!security_.quota) return;
  // Rising crossings are reported; falling back (a rate's new window) is
  // only remembered, so that the next rise is reported again.
  auto crossing = security_.quota->observe(quota);
  if (!crossing || !crossing->rising()) return;
  report_quota_crossing(security_, log_, *crossing);
}

void report_quota_crossing(const SecurityBinding& security, ComponentLog* log,
                           const security::QuotaCrossing& crossing) {
  const std::string text = crossing.to_string();
  if (log) {
    log->write(crossing.to == security::QuotaLevel::Critical  ? LogLevel::Error
               : crossing.to == security::QuotaLevel::Warning ? LogLevel::Warn
                                                              : LogLevel::Info,
               "quota", text);
  }
  if (!security.audit) return;
  security::AuditRecord r;
  r.component = security.context ? security.context->component_id() : std::string("<unknown>");
  r.resource = std::string(security::quota_level_name(crossing.to));
  r.permission = fmt::format("quota.{}", security::quota_name(crossing.quota));
  r.result = security::AuditResult::Granted;
  if (security.context) r.trust = security.context->trust_level();
  r.reason = text;
  r.layer = security::DecisionLayer::Quota;
  security.audit->record(std::move(r));
}

bool ComponentContext::permits(security::Permission permission, std::string_view resource) const {
  const auto& ctx = security_.context;
  if (!ctx || !ctx->check(permission, resource).granted) return false;
  if (!security_.policy) return true;
  security::PolicySubject subject{ctx->component_id(), security_.signer_key_id};
  return security_.policy->current().check(subject, permission, resource).allowed;
}

void ComponentContext::set_kv(storage::KeyValueStore* store) {
  kv_ = store;
  if (!kv_ || !security_.quota || name().empty()) return;
  // The namespace's bytes, as the store counts them; a failure leaves the
  // tracker as it is (the store still enforces the quota in each write).
  if (auto used = kv_->usage(name())) security_.quota->set_used(security::QuotaKind::Storage, *used);
}

FileTable& ComponentContext::files() {
  if (!files_) {
    std::vector<Preopen> preopens;
    if (security_.context && wasi_.preopen_grant_roots) {
      for (auto& d : preopen_directories(security_.context->capabilities())) {
        preopens.push_back({d, d});
      }
    }
    preopens.insert(preopens.end(), wasi_.dirs.begin(), wasi_.dirs.end());
    files_ = std::make_shared<FileTable>(preopens, default_resolver());
  }
  return *files_;
}

}  // namespace airssys::wasm::host
