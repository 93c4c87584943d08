#include "airssys/wasm/host/context.hpp"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

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

void ComponentContext::write_stdout(std::span<const uint8_t> bytes) const {
  if (wasi_.stdout_sink) {
    wasi_.stdout_sink(bytes);
  } else {
    write_all(STDOUT_FILENO, bytes);
  }
}

void ComponentContext::write_stderr(std::span<const uint8_t> bytes) const {
  if (wasi_.stderr_sink) {
    wasi_.stderr_sink(bytes);
  } else {
    write_all(STDERR_FILENO, bytes);
  }
}

Result<void> ComponentContext::authorize(security::Permission permission,
                                         std::string_view resource) const {
  using security::AuditResult;
  using security::DecisionLayer;
  const auto& ctx = security_.context;
  auto record = [&](AuditResult result, DecisionLayer layer, std::string_view reason) {
    if (!security_.audit) return;
    security::AuditRecord r;
    r.component = ctx ? ctx->component_id() : std::string("<unknown>");
    r.resource = std::string(resource);
    r.permission = std::string(security::permission_name(permission));
    r.result = result;
    if (ctx) r.trust = ctx->trust_level();
    r.reason = std::string(reason);
    r.layer = layer;
    security_.audit->record(std::move(r));
  };
  auto deny = [&](DecisionLayer layer, std::string_view reason) -> Result<void> {
    record(AuditResult::Denied, layer, reason);
    return make_error(ErrorCode::CapabilityDenied,
                      fmt::format("{} {} denied by {}: {}", security::permission_name(permission),
                                  resource, security::decision_layer_name(layer), reason));
  };
  if (!ctx) return deny(DecisionLayer::Component, "no security context");
  auto decision = ctx->check(permission, resource);
  if (!decision.granted) return deny(DecisionLayer::Component, decision.reason_text());
  if (security_.policy) {
    security::PolicySubject subject{ctx->component_id(), std::nullopt};
    if (security_.signer_key_id) subject.signer_key_id = *security_.signer_key_id;
    auto verdict = security_.policy->check(subject, permission, resource);
    if (!verdict.allowed) {
      std::string reason =
          verdict.rule ? fmt::format("rule '{}': {}", verdict.rule->name, verdict.reason)
                       : std::string(verdict.reason);
      return deny(DecisionLayer::HostPolicy, reason);
    }
  }
  record(AuditResult::Granted, DecisionLayer::Component, decision.reason_text());
  return {};
}

}  // namespace airssys::wasm::host
