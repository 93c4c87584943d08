#pragma once
// Admission: the decision whether a component may start, and with what.
// Signature, trust level, approval and the immutable security context, each
// decision audited. Nothing unknown that asks for capabilities, or for more
// than the host's default quotas, runs without an approval on record; no
// manifest gets more than the operator's quota ceilings, whoever approved it.
//
// Example:
//   AdmissionRequest request{.component_dir = dir, .module = dir / "component.wasm",
//                            .manifest_file = dir / "Component.toml", ...};
//   auto admission = admit(request);
//   if (!admission) { /* refused: a typed error, already audited */ }

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/approval.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/security/manifest.hpp"
#include "airssys/wasm/security/trust.hpp"

namespace airssys::wasm::security {

struct AdmissionRequest {
  std::filesystem::path component_dir;   // where the component comes from
  std::filesystem::path module;          // its .wasm
  std::optional<Manifest> manifest;      // absent: a bare module, no capabilities
  std::filesystem::path manifest_file;   // signed together with the module
  std::filesystem::path signature_file;  // absent file: unsigned
  const TrustConfig* trust = nullptr;    // required
  ApprovalStore* approvals = nullptr;    // required when needs_approval() holds
  AuditLog* audit = nullptr;             // required
  QuotaLimits default_quotas;            // the host's defaults; the manifest's [quota] overrides
  // The operator's ceilings ([ceiling] of policy.toml and host.toml): a
  // manifest quota above one is refused; the defaults are lowered to them.
  QuotaSpec quota_ceilings;
  // Lowers the memory quota of this one admission (`run --max-memory`),
  // after the approval decision: it narrows, it is not a default.
  std::optional<uint64_t> memory_cap;
  bool approve = false;                  // approve exactly this module hash and capability set
  std::string operator_name = "operator";
  // Options a refusal adds to the approve command it suggests, so that it
  // reaches the same approval store (e.g. " --data-dir /srv/x").
  std::string approve_options;
};

struct Admission {
  std::shared_ptr<const WasmSecurityContext> context;
  TrustDecision trust;
  std::optional<std::string> signer_key_id;
  std::string module_sha256;                // hex
  std::optional<ApprovalEntry> approval;    // when needs_approval() held
};

// A quota of a manifest above a bound: its [quota] key ("memory",
// "network_bandwidth", ...), the value asked and the bound, in the
// manifest's units (bytes, messages/s, bytes/s, ms/s).
struct QuotaOverrun {
  std::string_view key;
  uint64_t asked = 0;
  uint64_t bound = 0;

  // "memory 4 GB, over 64 MB"
  [[nodiscard]] std::string to_string() const;
};

// The quotas `asked` sets above `bounds` (an unset bound bounds nothing).
[[nodiscard]] std::vector<QuotaOverrun> quotas_above(const QuotaSpec& asked,
                                                     const QuotaSpec& bounds);
// The limits as a spec that sets every quota.
[[nodiscard]] QuotaSpec quota_spec_of(const QuotaLimits& limits);
// The lower of two ceilings for each quota (unset: no ceiling).
[[nodiscard]] QuotaSpec tighter_ceilings(const QuotaSpec& a, const QuotaSpec& b);
// The limits, each lowered to its ceiling.
[[nodiscard]] QuotaLimits clamp_to_ceilings(QuotaLimits limits, const QuotaSpec& ceilings);

// Whether the manifest needs an approval before it runs: it asks for
// capabilities, or sets a quota above the host's defaults.
[[nodiscard]] bool needs_approval(const Manifest& manifest, const QuotaLimits& defaults);

// The component's name: the manifest's, or the module's file stem for a bare module.
[[nodiscard]] std::string component_name(const AdmissionRequest& request);

// A path as one shell word for the commands a message suggests (the approve
// options, dev mode's off switch): as it is when plain, double-quoted
// otherwise, so that a message may still put the whole command in single quotes.
[[nodiscard]] std::string shell_word(std::string_view text);

[[nodiscard]] Result<Admission> admit(const AdmissionRequest& request);

// The quota limits a manifest asks for, over the host's defaults.
[[nodiscard]] QuotaLimits effective_quotas(const QuotaSpec& spec, const QuotaLimits& defaults);

}  // namespace airssys::wasm::security
