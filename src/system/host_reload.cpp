#include <fmt/format.h>

#include "host_impl.hpp"

namespace airssys::wasm::system {

Result<ReloadReport> Host::reload(std::string_view operator_name) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  // The audit log first, so that this reload's record goes to the file now
  // at its path (moved away by a log rotation tool, or removed).
  i.audit->reopen();
  const std::string files =
      fmt::format("{}, {}", i.config.trust_config.string(), i.config.policy.string());
  auto audit = [&](AuditResult result, std::string reason) {
    AuditRecord r;
    r.permission = "host.reload";
    r.resource = files;
    r.result = result;
    r.reason = fmt::format("by {}: {}", operator_name, reason);
    r.layer = DecisionLayer::HostPolicy;
    i.audit->record(std::move(r));
  };
  auto refuse = [&](Error e) -> Result<ReloadReport> {
    audit(AuditResult::Denied, "nothing changed: " + e.message);
    return std::unexpected(std::move(e));
  };
  if (auto open = i.refuse_if_shut_down(); !open) return refuse(open.error());
  // Both files are read and checked before either is put in force.
  auto trust = security::TrustConfig::load(i.config.trust_config);
  if (!trust) return refuse(trust.error());
  auto policy = security::HostPolicy::load(i.config.policy, /*missing_ok=*/true);
  if (!policy) return refuse(policy.error());

  ReloadReport report;
  report.trust_config = i.config.trust_config;
  report.policy = i.config.policy;
  report.policy_rules = policy->rules().size();
  report.trusted_keys = trust->keys().size();
  report.trusted_paths = trust->paths().size();
  report.dev_mode = trust->dev_mode();
  report.default_quotas = detail::host_default_quotas(i.config, *policy);
  report.quota_ceilings = detail::host_quota_ceilings(i.config, *policy);
  if (auto all = i.registry->list()) {
    for (const auto& c : *all) {
      auto decision = Impl::decide_trust(*trust, c.current.source_dir, c.current.store_dir);
      if (decision && decision->level == c.current.trust) continue;
      report.trust_changes.push_back(
          {c.name, c.current.trust, decision ? decision->level : security::TrustLevel::Unknown,
           decision ? decision->reason : decision.error().message, i.is_running(c.name)});
    }
  }

  i.trust = std::move(*trust);
  {
    std::lock_guard defaults(i.defaults_mutex);
    i.quota_defaults = report.default_quotas;
    i.quota_ceilings = report.quota_ceilings;
  }
  const bool native_bounds_changed = policy->native_bounds() != i.policy->current().native_bounds();
  i.policy->replace(std::move(*policy));
  report.policy_generation = i.policy->generation();
  if (native_bounds_changed) {
    // The next native compile runs under the new [native] bounds; those
    // under way end under the old ones.
    std::lock_guard native(i.native_mutex);
    if (i.native) i.retired_natives.push_back(std::move(i.native));
    i.native.reset();
    i.native_unavailable.reset();
  }

  std::string changes;
  for (const auto& t : report.trust_changes) {
    changes += fmt::format("; {}: trust {} -> {}{}", t.name, security::trust_level_name(t.from),
                           security::trust_level_name(t.to),
                           t.running ? " (running: applies at its next start)" : "");
  }
  audit(AuditResult::Granted,
        fmt::format("policy {} ({} rules), {} trusted keys, {} trusted paths{}{}",
                    report.policy_generation, report.policy_rules, report.trusted_keys,
                    report.trusted_paths, report.dev_mode ? ", dev mode" : "", changes));
  return report;
}

}  // namespace airssys::wasm::system
