#include "airssys/wasm/host/context.hpp"

#include "airssys/wasm/host/log.hpp"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "airssys/wasm/host/files.hpp"

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

Result<void> ComponentContext::authorize(security::Permission permission,
                                         std::string_view resource) const {
  using security::AuditResult;
  using security::DecisionLayer;
  const auto& ctx = security_.context;
  const auto name = security::permission_name(permission);
  auto deny = [&](DecisionLayer layer, std::string_view reason) -> Result<void> {
    audit(name, resource, AuditResult::Denied, layer, reason);
    return make_error(ErrorCode::CapabilityDenied,
                      fmt::format("{} {} denied by {}: {}", name, resource,
                                  security::decision_layer_name(layer), reason));
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
  audit(name, resource, AuditResult::Granted, DecisionLayer::Component, decision.reason_text());
  return {};
}

bool ComponentContext::permits(security::Permission permission, std::string_view resource) const {
  const auto& ctx = security_.context;
  if (!ctx || !ctx->check(permission, resource).granted) return false;
  if (!security_.policy) return true;
  security::PolicySubject subject{ctx->component_id(), security_.signer_key_id};
  return security_.policy->check(subject, permission, resource).allowed;
}

FileTable& ComponentContext::files() {
  if (!files_) {
    std::vector<std::string> preopens;
    if (security_.context) preopens = preopen_directories(security_.context->capabilities());
    files_ = std::make_shared<FileTable>(preopens);
  }
  return *files_;
}

}  // namespace airssys::wasm::host
