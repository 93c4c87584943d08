#pragma once
// The host policy: the operator's host-wide allow and deny rules
// (`policy.toml`), checked after a component's own grants. A grant lets
// nothing through that the host policy refuses; deny rules win.
//
// Example policy.toml:
//   [[rule]]
//   name = "no-writes-under-etc"
//   effect = "deny"
//   permissions = ["filesystem.write"]
//   resources = ["/etc/**"]
//   reason = "no component ever writes under /etc"
//
//   [[rule]]
//   name = "internal-network-only"
//   effect = "allow"
//   permissions = ["network.connect"]
//   resources = ["*.internal.example.com:443"]
//   except_signers = ["3f9a0c2e61d4b7a8"]   # key ids; these may connect anywhere granted
//
// A rule applies to a request when the permission is listed, the component
// matches `components` (default: every component) and the signer conditions
// hold (`signers`: signed by one of these key ids; `except_signers`: not
// signed by any of them; unsigned components are signed by none). Then:
// - a deny rule that applies and whose `resources` match (default: all)
//   refuses the request;
// - when allow rules apply to the request, its resource must match one of
//   them, or the request is refused;
// - otherwise the host policy has no objection.
// Deny rules hold in dev mode too: they are the operator's hard limits.
//
// [quota] sets the default quotas of components; [ceiling] (same keys) the
// most any manifest may ask for:
//   [ceiling]
//   memory = "512MB"
//   cpu_time = "500ms/s"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/capability.hpp"
#include "airssys/wasm/security/manifest.hpp"
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::security {

enum class PolicyEffect : uint8_t { Allow, Deny };

struct PolicyRule {
  std::string name;
  PolicyEffect effect = PolicyEffect::Deny;
  std::vector<Permission> permissions;
  std::vector<std::string> resources;   // empty: every resource
  std::vector<std::string> components;  // empty: every component
  std::vector<std::string> signers;
  std::vector<std::string> except_signers;
  std::string reason;
  int line = 0;
};

// Who asks: the component's name and the key id of its verified signer.
struct PolicySubject {
  std::string_view component;
  std::optional<std::string_view> signer_key_id;
};

struct PolicyDecision {
  bool allowed = true;
  const PolicyRule* rule = nullptr;  // the rule that decided, when one did
  std::string_view reason;           // static text or the rule's reason
};

// What one native-tier compile may take ([native] in policy.toml and
// host.toml; docs/commands.md): its wall-clock time, the address space of
// each compiler process, and what may be sent to the compilers at all. Unset:
// no bound from this file. Where both files set one, the lower holds.
struct NativeCompileBounds {
  std::optional<std::chrono::milliseconds> compile_timeout;
  std::optional<uint64_t> compile_memory_bytes;
  std::optional<uint64_t> max_module_bytes;
  std::optional<uint64_t> max_function_bytes;
  std::optional<uint64_t> max_br_table_targets;
  std::optional<uint64_t> compile_jobs;  // C compiler processes at once
  // bounds_checks = "explicit" (true) or "guard" (false): how compiled code
  // keeps loads and stores in bounds (engine::BoundsChecks). Explicit is the
  // lower: where both files set it, explicit holds if either says so.
  std::optional<bool> explicit_bounds_checks;

  bool operator==(const NativeCompileBounds&) const = default;
};

class HostPolicy {
 public:
  HostPolicy() = default;  // no rules: no objection to anything
  HostPolicy(HostPolicy&&) = default;
  HostPolicy& operator=(HostPolicy&&) = default;

  [[nodiscard]] static Result<HostPolicy> parse(std::string_view text, std::string_view file);
  // A missing file is an empty policy only when `missing_ok`.
  [[nodiscard]] static Result<HostPolicy> load(const std::filesystem::path& file,
                                               bool missing_ok = false);

  [[nodiscard]] PolicyDecision check(const PolicySubject& subject, Permission permission,
                                     std::string_view resource) const noexcept;

  [[nodiscard]] const std::vector<PolicyRule>& rules() const { return rules_; }
  // The operator's default quotas ([quota], same keys and units as a
  // manifest's): they apply where a component's manifest sets none.
  [[nodiscard]] const QuotaSpec& quota_defaults() const { return quota_defaults_; }
  // The operator's ceilings ([ceiling], same keys and units): no component
  // gets more, whatever its manifest asks and whoever approved it; a default
  // above its ceiling is lowered to it.
  [[nodiscard]] const QuotaSpec& quota_ceilings() const { return quota_ceilings_; }
  // The operator's bounds on native compiles ([native]), for every host that
  // reads this policy: serve, up and run.
  [[nodiscard]] const NativeCompileBounds& native_bounds() const { return native_bounds_; }
  [[nodiscard]] const std::string& source() const { return source_; }

 private:
  struct CompiledRule {
    CapabilitySet resources;   // the rule's resources under each of its permissions
    CapabilitySet components;  // component names, held as messaging.send patterns
    bool any_resource = false;
    bool any_component = false;
  };
  [[nodiscard]] bool applies(size_t index, const PolicySubject& subject,
                             Permission permission) const noexcept;
  [[nodiscard]] bool resource_matches(size_t index, Permission permission,
                                      std::string_view resource) const noexcept;

  std::vector<PolicyRule> rules_;
  std::vector<CompiledRule> compiled_;
  QuotaSpec quota_defaults_;
  QuotaSpec quota_ceilings_;
  NativeCompileBounds native_bounds_;
  std::string source_;
};

// The host policy in force, which the operator may replace while components
// run (`airssys-wasm reload`, or SIGHUP to `serve`). A decision reads the
// current policy with one atomic load. A replaced policy is kept, unchanged,
// until the slot is destroyed, so a decision under way (and the rule it
// points to) never sees it freed; a reload is an operator's act, so the few
// policies kept cost little.
class PolicySlot {
 public:
  PolicySlot();  // no rules
  explicit PolicySlot(HostPolicy initial);
  PolicySlot(const PolicySlot&) = delete;
  PolicySlot& operator=(const PolicySlot&) = delete;

  [[nodiscard]] const HostPolicy& current() const noexcept {
    return *current_.load(std::memory_order_acquire);
  }
  // Decisions from now on use `next`.
  void replace(HostPolicy next);
  // 0 for the first policy, one more for each replacement.
  [[nodiscard]] uint64_t generation() const noexcept;

 private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<const HostPolicy>> kept_;  // guarded by mutex_
  std::atomic<const HostPolicy*> current_;
};

// The default location: $AIRSSYS_HOME/policy.toml.
[[nodiscard]] Result<std::filesystem::path> default_policy_path();

}  // namespace airssys::wasm::security
