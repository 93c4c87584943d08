#pragma once
// What `run` and `up` share: the host's trust configuration, policy, audit
// log and approval store, and the admission of a component from disk.

#include <memory>
#include <optional>
#include <string>

#include "airssys/wasm/security/admission.hpp"
#include "airssys/wasm/security/approval.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/policy.hpp"
#include "airssys/wasm/security/trust.hpp"
#include "common.hpp"

namespace airssys::wasm::cli {

struct HostSetup {
  HostPaths paths;
  security::TrustConfig trust;
  security::PolicySlot policy;
  std::unique_ptr<security::AuditLog> audit;
  std::optional<security::ApprovalStore> approvals;

  // Errors here are the operator's configuration: exit kExitUsage.
  [[nodiscard]] static Result<std::unique_ptr<HostSetup>> open(
      const HostPaths& paths, security::AuditLogOptions audit_options = {});
  [[nodiscard]] Result<security::ApprovalStore*> approval_store();
};

struct AdmittedComponent {
  ComponentFiles files;
  std::optional<security::Manifest> manifest;
  security::Admission admission;
};

// Locates, loads the manifest, and admits (signature, trust, approval); prints
// the dev-mode warning. The error's category gives the exit code.
[[nodiscard]] Result<AdmittedComponent> admit_component(HostSetup& host, const std::string& path,
                                                        bool approve,
                                                        std::optional<uint64_t> memory_cap);

}  // namespace airssys::wasm::cli
