#include "run.hpp"

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "airssys/wasm/security/admission.hpp"
#include "airssys/wasm/security/policy.hpp"

namespace airssys::wasm::cli {
namespace {

Result<security::TrustConfig> load_trust(const HostPaths& paths) {
  if (!paths.trust_config.empty()) {
    if (!std::filesystem::exists(paths.trust_config)) {
      return make_error(ErrorCode::IoError,
                        fmt::format("{}: no such trust configuration", paths.trust_config));
    }
    return security::TrustConfig::load(paths.trust_config);
  }
  auto path = security::default_trust_config_path();
  if (!path) return std::unexpected(path.error());
  return security::TrustConfig::load(*path);  // absent: nothing trusted, dev mode off
}

Result<security::HostPolicy> load_policy(const HostPaths& paths) {
  if (!paths.policy.empty()) return security::HostPolicy::load(paths.policy);
  auto path = security::default_policy_path();
  if (!path) return std::unexpected(path.error());
  return security::HostPolicy::load(*path, /*missing_ok=*/true);
}

// A manifest that cannot be loaded refuses the component: that is on record too.
void audit_manifest_refusal(const HostPaths& paths, const ComponentFiles& files,
                            const Error& error) {
  auto path = audit_log_path(paths);
  if (!path) return;
  auto log = security::AuditLog::open(*path);
  if (!log) {
    report(log.error());
    return;
  }
  security::AdmissionRequest unnamed;  // no manifest: named after its module
  unnamed.module = files.module;
  security::AuditRecord record;
  record.component = security::component_name(unnamed);
  record.resource = files.dir.string();
  record.permission = "manifest.load";
  record.result = security::AuditResult::Denied;
  record.reason = error.message;
  record.layer = security::DecisionLayer::Component;
  (*log)->record(std::move(record));
}

// A path as one shell word, double-quoted when needed (the message that
// suggests the command puts it in single quotes).
std::string shell_word(const std::string& text) {
  constexpr std::string_view kPlain =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:,=@";
  if (!text.empty() && text.find_first_not_of(kPlain) == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\' || c == '$' || c == '`') out += '\\';
    out += c;
  }
  return out + "\"";
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
  if (!paths.data_dir.empty()) options += " --data-dir " + shell_word(paths.data_dir);
  if (!paths.audit_log.empty()) options += " --audit-log " + shell_word(paths.audit_log);
  return options;
}

}  // namespace

int run_component(const RunOptions& options) {
  auto files = locate_component(options.path);
  if (!files) {
    report(files.error());
    return kExitLoadFailed;
  }
  auto manifest = load_component_manifest(*files);
  if (!manifest) {
    report(manifest.error());
    audit_manifest_refusal(options.paths, *files, manifest.error());
    return kExitLoadFailed;
  }
  auto trust = load_trust(options.paths);
  if (!trust) {
    report(trust.error());
    return kExitUsage;
  }
  auto policy = load_policy(options.paths);
  if (!policy) {
    report(policy.error());
    return kExitUsage;
  }
  auto audit_path = audit_log_path(options.paths);
  if (!audit_path) {
    report(audit_path.error());
    return kExitUsage;
  }
  auto audit = security::AuditLog::open(*audit_path);
  if (!audit) {
    report(audit.error());
    return kExitUsage;
  }

  std::optional<security::ApprovalStore> approvals;
  if (*manifest && (*manifest)->requests_capabilities()) {
    auto dir = data_dir(options.paths);
    if (!dir) {
      report(dir.error());
      return kExitUsage;
    }
    auto store = security::ApprovalStore::open(*dir / "approvals.db");
    if (!store) {
      report(store.error());
      return kExitUsage;
    }
    approvals.emplace(std::move(*store));
  }

  security::AdmissionRequest request;
  request.component_dir = files->dir;
  request.module = files->module;
  request.manifest = *manifest;
  request.manifest_file = files->manifest;
  request.signature_file = files->signature;
  request.trust = &*trust;
  request.approvals = approvals ? &*approvals : nullptr;
  request.audit = audit->get();
  request.approve = options.approve;
  request.approve_options = approve_options(options.paths);
  request.default_quotas.memory_bytes = options.max_memory;
  auto admission = security::admit(request);
  if (!admission) {
    report(admission.error());
    return exit_code_for(admission.error());
  }
  if (admission->trust.level == security::TrustLevel::DevMode) {
    print_dev_mode_warning(admission->trust, options.paths);
  }

  auto engine = engine::Engine::interpreter();
  auto module = engine->load_file(files->module);
  if (!module) {
    report(module.error());
    return exit_code_for(module.error());
  }

  engine::Linker linker;
  host::add_wasi(linker);
  host::WasiOptions wasi;
  wasi.args.push_back(files->module.filename().string());
  wasi.args.insert(wasi.args.end(), options.args.begin(), options.args.end());
  host::SecurityBinding binding{admission->context, &*policy, audit->get(),
                                admission->signer_key_id};
  host::ComponentContext context(std::move(wasi), std::move(binding));

  engine::InstanceOptions instance_options;
  instance_options.limits.max_memory_bytes =
      std::min(options.max_memory, admission->context->quotas().memory_bytes);
  instance_options.user_data = &context;
  if (options.fuel != engine::kUnlimitedFuel) instance_options.start_fuel = options.fuel;

  auto store = engine->new_store();
  auto instance = store->instantiate(**module, linker, instance_options);
  if (!instance) {
    if (instance.error().code == ErrorCode::ProcExit) return instance.error().exit_status;
    report(instance.error());
    return exit_code_for(instance.error());
  }
  bool has_start = false;
  for (const auto& e : (*module)->exports()) {
    has_start |= e.name == "_start" && e.kind == engine::ExternKind::Func;
  }
  if (!has_start) {
    report(Error{ErrorCode::MissingExport,
                 fmt::format("{} exports no _start function; it is not a WASI command",
                             files->module.string()),
                 {},
                 0});
    return kExitLinkFailed;
  }

  engine::CallOptions call_options;
  call_options.fuel = options.fuel;
  auto result = (*instance)->call("_start", {}, call_options);
  std::fflush(stdout);
  if (result) return 0;
  if (result.error().code == ErrorCode::ProcExit) return result.error().exit_status;
  report(result.error());
  return exit_code_for(result.error());
}

}  // namespace airssys::wasm::cli
