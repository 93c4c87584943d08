#include "airssys/wasm/security/admission.hpp"

#include <fmt/format.h>

#include "airssys/wasm/security/signing.hpp"

namespace airssys::wasm::security {
namespace {

void audit(const AdmissionRequest& request, std::string_view component, std::string permission,
           AuditResult result, std::optional<TrustLevel> trust, std::string reason,
           DecisionLayer layer) {
  AuditRecord record;
  record.component = std::string(component);
  record.resource = request.component_dir.string();
  record.permission = std::move(permission);
  record.result = result;
  record.trust = trust;
  record.reason = std::move(reason);
  record.layer = layer;
  request.audit->record(std::move(record));
}

std::unexpected<Error> refuse(const AdmissionRequest& request, std::string_view component,
                              std::string permission, std::optional<TrustLevel> trust,
                              DecisionLayer layer, Error error) {
  audit(request, component, std::move(permission), AuditResult::Denied, trust, error.message,
        layer);
  return std::unexpected(std::move(error));
}

}  // namespace

std::string component_name(const AdmissionRequest& request) {
  if (request.manifest) return request.manifest->component.name;
  // A bare module is named after its file, folded into the name rule.
  std::string name;
  for (char c : request.module.stem().string()) {
    char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9');
    if (ok) {
      name += l;
    } else if (!name.empty() && name.back() != '-') {
      name += '-';
    }
  }
  if (name.size() > 64) name.resize(64);
  while (!name.empty() && name.back() == '-') name.pop_back();
  if (name.size() < 3) name = name.empty() ? "module" : "module-" + name;
  return name;
}

std::string shell_word(std::string_view text) {
  constexpr std::string_view kPlain =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:,=@";
  if (!text.empty() && text.find_first_not_of(kPlain) == std::string_view::npos) {
    return std::string(text);
  }
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\' || c == '$' || c == '`') out += '\\';
    out += c;
  }
  return out + "\"";
}

QuotaLimits effective_quotas(const QuotaSpec& spec, const QuotaLimits& defaults) {
  QuotaLimits q = defaults;
  q.storage_bytes = spec.storage_bytes.value_or(q.storage_bytes);
  q.messages_per_second = spec.message_rate.value_or(q.messages_per_second);
  q.network_bytes_per_second = spec.network_bytes_per_second.value_or(q.network_bytes_per_second);
  q.cpu_ms_per_second = spec.cpu_ms_per_second.value_or(q.cpu_ms_per_second);
  q.memory_bytes = spec.memory_bytes.value_or(q.memory_bytes);
  return q;
}

Result<Admission> admit(const AdmissionRequest& request) {
  if (!request.trust || !request.audit) {
    return make_error(ErrorCode::InternalError, "admission needs a trust configuration and an "
                                                "audit log");
  }
  const std::string name = component_name(request);
  Admission admission;

  auto module_hash = sha256_file(request.module);
  if (!module_hash) return std::unexpected(module_hash.error());
  admission.module_sha256 = to_hex(*module_hash);

  SignatureCheck signature =
      check_component_signature(request.module, request.manifest_file, request.signature_file);
  if (!signature) {
    return refuse(request, name, "trust.signature", std::nullopt, DecisionLayer::Trust,
                  signature.error());
  }
  if (*signature) admission.signer_key_id = (*signature)->key_id;

  auto trust = request.trust->decide(request.component_dir, signature);
  if (!trust) {
    return refuse(request, name, "trust.decide", std::nullopt, DecisionLayer::Trust,
                  trust.error());
  }
  admission.trust = *trust;
  const TrustLevel level = trust->level;
  if (level == TrustLevel::DevMode) {
    audit(request, name, "trust.dev-mode", AuditResult::Granted, level,
          trust->warning.empty() ? trust->reason : trust->warning, DecisionLayer::Trust);
  }

  PatternLists patterns;
  QuotaLimits quotas = request.default_quotas;
  bool asks = false;
  if (request.manifest) {
    patterns = request.manifest->capabilities;
    quotas = effective_quotas(request.manifest->quota, request.default_quotas);
    asks = request.manifest->requests_capabilities();
  }

  if (asks) {
    if (!request.approvals) {
      return make_error(ErrorCode::InternalError, "admission needs the approval store");
    }
    ApprovalRequest approval_request{name, request.manifest->component.version,
                                     admission.module_sha256,
                                     canonical_capabilities(*request.manifest)};
    auto entry = request.approvals->request(approval_request, level, trust->reason);
    if (!entry) {
      return refuse(request, name, "approval.request", level, DecisionLayer::Approval,
                    entry.error());
    }
    if (entry->state == ApprovalState::Pending && request.approve) {
      entry = request.approvals->approve(entry->key, request.operator_name,
                                         "approved at start (--approve)");
      if (!entry) {
        return refuse(request, name, "approval.approve", level, DecisionLayer::Approval,
                      entry.error());
      }
      audit(request, name, "approval.approve", AuditResult::Granted, level,
            fmt::format("approved by {} at start for module {} and the requested capabilities",
                        request.operator_name, admission.module_sha256),
            DecisionLayer::Approval);
    }
    if (auto ok = may_run(*entry); !ok) {
      Error error = ok.error();
      if (entry->state == ApprovalState::Pending) {
        error.message = fmt::format(
            "component '{}' is {} ({}) and asks for capabilities; its approval is pending. "
            "Approve it with 'airssys-wasm approvals approve {}{}', or run it again with "
            "--approve to approve exactly this module and capability set",
            name, trust_level_name(level), trust->reason, entry->key, request.approve_options);
      }
      return refuse(request, name, "approval.check", level, DecisionLayer::Approval,
                    std::move(error));
    }
    audit(request, name, "approval.check", AuditResult::Granted, level,
          fmt::format("approval {} is {}; trust: {}", entry->key, approval_state_name(entry->state),
                      trust->reason),
          DecisionLayer::Approval);
    admission.approval = *entry;
  }

  auto capabilities = CapabilitySet::build(patterns);
  if (!capabilities) return std::unexpected(capabilities.error());
  auto context = WasmSecurityContext::create(name, std::move(*capabilities), level, quotas);
  if (!context) return std::unexpected(context.error());
  admission.context = std::move(*context);
  return admission;
}

}  // namespace airssys::wasm::security
