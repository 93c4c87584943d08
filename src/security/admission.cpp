#include "airssys/wasm/security/admission.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "airssys/wasm/core/units.hpp"
#include "airssys/wasm/security/pattern.hpp"
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
  if (!is_valid_component_name(name) || name == kHostSenderName) {
    name = name.empty() ? "module" : "module-" + name;
  }
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

namespace {

// A quota value in its key's unit, as a person reads it.
std::string quota_value_text(std::string_view key, uint64_t v) {
  if (key == "message_rate") return fmt::format("{} messages/s", v);
  if (key == "cpu_time") return fmt::format("{}ms/s", v);
  if (key == "network_bandwidth") return format_byte_size(v) + "/s";
  return format_byte_size(v);
}

// The quotas of a spec with their [quota] keys, in the table's order.
std::array<std::pair<std::string_view, const std::optional<uint64_t>*>, 5> quota_fields(
    const QuotaSpec& spec) {
  return {{{"storage", &spec.storage_bytes},
           {"message_rate", &spec.message_rate},
           {"network_bandwidth", &spec.network_bytes_per_second},
           {"cpu_time", &spec.cpu_ms_per_second},
           {"memory", &spec.memory_bytes}}};
}

}  // namespace

std::string QuotaOverrun::to_string() const {
  return fmt::format("{} {}, over {}", key, quota_value_text(key, asked),
                     quota_value_text(key, bound));
}

std::vector<QuotaOverrun> quotas_above(const QuotaSpec& asked, const QuotaSpec& bounds) {
  std::vector<QuotaOverrun> out;
  auto a = quota_fields(asked);
  auto b = quota_fields(bounds);
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& value = *a[i].second;
    const auto& bound = *b[i].second;
    if (value && bound && *value > *bound) out.push_back({a[i].first, *value, *bound});
  }
  return out;
}

QuotaSpec quota_spec_of(const QuotaLimits& limits) {
  return QuotaSpec{limits.storage_bytes, limits.messages_per_second,
                   limits.network_bytes_per_second, limits.cpu_ms_per_second,
                   limits.memory_bytes};
}

QuotaSpec tighter_ceilings(const QuotaSpec& a, const QuotaSpec& b) {
  auto lower = [](const std::optional<uint64_t>& x, const std::optional<uint64_t>& y) {
    if (x && y) return std::optional<uint64_t>(std::min(*x, *y));
    return x ? x : y;
  };
  return QuotaSpec{lower(a.storage_bytes, b.storage_bytes), lower(a.message_rate, b.message_rate),
                   lower(a.network_bytes_per_second, b.network_bytes_per_second),
                   lower(a.cpu_ms_per_second, b.cpu_ms_per_second),
                   lower(a.memory_bytes, b.memory_bytes)};
}

QuotaLimits clamp_to_ceilings(QuotaLimits limits, const QuotaSpec& ceilings) {
  auto clamp = [](uint64_t& value, const std::optional<uint64_t>& ceiling) {
    if (ceiling) value = std::min(value, *ceiling);
  };
  clamp(limits.storage_bytes, ceilings.storage_bytes);
  clamp(limits.messages_per_second, ceilings.message_rate);
  clamp(limits.network_bytes_per_second, ceilings.network_bytes_per_second);
  clamp(limits.cpu_ms_per_second, ceilings.cpu_ms_per_second);
  clamp(limits.memory_bytes, ceilings.memory_bytes);
  return limits;
}

bool needs_approval(const Manifest& manifest, const QuotaLimits& defaults) {
  return manifest.requests_capabilities() ||
         !quotas_above(manifest.quota, quota_spec_of(defaults)).empty();
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

  AIRSSYS_TRY_ASSIGN(auto module_hash, sha256_file(request.module));
  admission.module_sha256 = to_hex(module_hash);

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

  // The operator's ceilings hold for everyone, trusted, approved or in dev
  // mode: no manifest gets more, and the defaults are lowered to them.
  const QuotaLimits defaults = clamp_to_ceilings(request.default_quotas, request.quota_ceilings);
  PatternLists patterns;
  QuotaLimits quotas = defaults;
  bool asks = false;
  std::vector<QuotaOverrun> above_defaults;
  if (request.manifest) {
    const Manifest& manifest = *request.manifest;
    if (auto over = quotas_above(manifest.quota, request.quota_ceilings); !over.empty()) {
      std::string list;
      for (const auto& o : over) {
        list += fmt::format("{}quota.{} asks for {}, the ceiling is {}", list.empty() ? "" : "; ",
                            o.key, quota_value_text(o.key, o.asked),
                            quota_value_text(o.key, o.bound));
      }
      return refuse(request, name, "quota.ceiling", level, DecisionLayer::HostPolicy,
                    Error::of(ErrorCode::QuotaExceeded,
                              fmt::format("component '{}' asks for more than the operator's "
                                          "[ceiling] allows any component: {}; lower its [quota] "
                                          "in {}",
                                          name, list, request.manifest_file.string())));
    }
    patterns = manifest.capabilities;
    quotas = effective_quotas(manifest.quota, defaults);
    above_defaults = quotas_above(manifest.quota, quota_spec_of(defaults));
    asks = manifest.requests_capabilities() || !above_defaults.empty();
  }
  std::string asks_for;
  if (request.manifest && request.manifest->requests_capabilities()) asks_for = "capabilities";
  if (!above_defaults.empty()) {
    asks_for += fmt::format("{}quotas above the host's defaults (", asks_for.empty() ? "" : " and ");
    for (size_t i = 0; i < above_defaults.size(); ++i) {
      asks_for += (i ? "; " : "") + above_defaults[i].to_string();
    }
    asks_for += ")";
  }

  if (asks) {
    if (!request.approvals) {
      return make_error(ErrorCode::InternalError, "admission needs the approval store");
    }
    ApprovalRequest approval_request{name, request.manifest->component.version,
                                     admission.module_sha256,
                                     canonical_approval_terms(*request.manifest)};
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
            fmt::format("approved by {} at start for module {} and what its manifest asks for",
                        request.operator_name, admission.module_sha256),
            DecisionLayer::Approval);
    }
    if (auto ok = may_run(*entry); !ok) {
      Error error = ok.error();
      if (entry->state == ApprovalState::Pending) {
        error.message = fmt::format(
            "component '{}' is {} ({}) and asks for {}; its approval is pending. "
            "Approve it with 'airssys-wasm approvals approve {}{}', or run it again with "
            "--approve to approve exactly this module and what its manifest asks for",
            name, trust_level_name(level), trust->reason, asks_for, entry->key,
            request.approve_options);
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
  if (request.memory_cap) quotas.memory_bytes = std::min(quotas.memory_bytes, *request.memory_cap);

  AIRSSYS_TRY_ASSIGN(auto capabilities, CapabilitySet::build(patterns));
  AIRSSYS_TRY_ASSIGN(admission.context,
                     WasmSecurityContext::create(name, std::move(capabilities), level, quotas));
  return admission;
}

}  // namespace airssys::wasm::security
