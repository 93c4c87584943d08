#include "host_setup.hpp"

#include <filesystem>

#include <fmt/format.h>

namespace airssys::wasm::cli {
namespace {

using security::shell_word;

Result<security::TrustConfig> load_trust(const HostPaths& paths) {
  if (!paths.trust_config.empty()) {
    if (!std::filesystem::exists(paths.trust_config)) {
      return make_error(ErrorCode::IoError,
                        fmt::format("{}: no such trust configuration", paths.trust_config));
    }
    return security::TrustConfig::load(paths.trust_config);
  }
  AIRSSYS_TRY_ASSIGN(auto path, trust_config_path(paths));
  return security::TrustConfig::load(path);  // absent: nothing trusted, dev mode off
}

Result<security::HostPolicy> load_policy(const HostPaths& paths) {
  AIRSSYS_TRY_ASSIGN(auto path, policy_path(paths));
  return security::HostPolicy::load(path, /*missing_ok=*/paths.policy.empty());
}

// A manifest that cannot be loaded refuses the component: that is on record too.
void audit_manifest_refusal(const HostPaths& paths, const ComponentFiles& files,
                            const Error& error) {
  auto log = open_audit_log(paths);
  if (!log) return;
  security::AdmissionRequest unnamed;  // no manifest: named after its module
  unnamed.module = files.module;
  security::AuditRecord record;
  record.component = security::component_name(unnamed);
  record.resource = files.dir.string();
  record.permission = "manifest.load";
  record.result = security::AuditResult::Denied;
  record.reason = error.message;
  record.layer = security::DecisionLayer::Component;
  log->record(std::move(record));
}

void print_dev_mode_warning(const security::TrustDecision& trust, const HostPaths& paths) {
  std::string line(72, '!');
  std::string off = "airssys-wasm trust dev-mode off";
  if (!paths.trust_config.empty()) off += " --trust-config " + shell_word(paths.trust_config);
  fmt::print(stderr,
             "{}\n!! DEV MODE: capability checks are bypassed for this component.\n"
             "!! {}\n!! Switch it off with: {}\n{}\n",
             line, trust.warning.empty() ? trust.reason : trust.warning, off, line);
}

// What `approvals approve` needs to reach the same approval store and audit log.
std::string approve_options(const HostPaths& paths) {
  std::string options;
  if (!paths.config.empty()) options += " --config " + shell_word(paths.config);
  if (!paths.data_dir.empty()) options += " --data-dir " + shell_word(paths.data_dir);
  if (!paths.audit_log.empty()) options += " --audit-log " + shell_word(paths.audit_log);
  return options;
}

}  // namespace

Result<std::unique_ptr<HostSetup>> HostSetup::open(const HostPaths& paths,
                                                   security::AuditLogOptions audit_options) {
  auto host = std::make_unique<HostSetup>();
  host->paths = paths;
  AIRSSYS_TRY_ASSIGN(host->trust, load_trust(paths));
  AIRSSYS_TRY_ASSIGN(auto policy, load_policy(paths));
  host->policy.replace(std::move(policy));
  AIRSSYS_TRY_ASSIGN(auto audit_path, audit_log_path(paths));
  AIRSSYS_TRY_ASSIGN(host->audit, security::AuditLog::open(audit_path, std::move(audit_options)));
  return host;
}

Result<security::ApprovalStore*> HostSetup::approval_store() {
  if (approvals) return &*approvals;
  AIRSSYS_TRY_ASSIGN(auto dir, data_dir(paths));
  AIRSSYS_TRY_ASSIGN(auto store, security::ApprovalStore::open(dir / "approvals.db"));
  approvals.emplace(std::move(store));
  return &*approvals;
}

Result<AdmittedComponent> admit_component(HostSetup& host, const std::string& path, bool approve,
                                          std::optional<uint64_t> memory_cap) {
  AdmittedComponent out;
  AIRSSYS_TRY_ASSIGN(auto files, locate_component(path));
  out.files = files;
  auto manifest = load_component_manifest(files);
  if (!manifest) {
    audit_manifest_refusal(host.paths, files, manifest.error());
    return std::unexpected(manifest.error());
  }
  out.manifest = std::move(*manifest);
  // The host's defaults: built in, then the operator's [quota] in
  // policy.toml; its [ceiling] bounds every manifest.
  const auto& policy = host.policy.current();
  const security::QuotaLimits defaults = security::clamp_to_ceilings(
      security::effective_quotas(policy.quota_defaults(), {}), policy.quota_ceilings());
  security::ApprovalStore* approvals = nullptr;
  if (out.manifest && security::needs_approval(*out.manifest, defaults)) {
    auto store = host.approval_store();
    if (!store) {
      Error e = store.error();
      e.code = ErrorCode::InvalidConfig;
      return std::unexpected(std::move(e));
    }
    approvals = *store;
  }
  security::AdmissionRequest request;
  request.component_dir = files.dir;
  request.module = files.module;
  request.manifest = out.manifest;
  request.manifest_file = files.manifest;
  request.signature_file = files.signature;
  request.trust = &host.trust;
  request.approvals = approvals;
  request.audit = host.audit.get();
  request.approve = approve;
  request.approve_options = approve_options(host.paths);
  request.default_quotas = defaults;
  request.quota_ceilings = policy.quota_ceilings();
  // A memory cap from the command line lowers the memory of this run only.
  request.memory_cap = memory_cap;
  AIRSSYS_TRY_ASSIGN(auto admission, security::admit(request));
  if (admission.trust.level == security::TrustLevel::DevMode) {
    print_dev_mode_warning(admission.trust, host.paths);
  }
  out.admission = std::move(admission);
  return out;
}

}  // namespace airssys::wasm::cli
