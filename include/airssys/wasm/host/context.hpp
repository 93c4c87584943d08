#pragma once
// What the host functions know about the component that calls them. One
// ComponentContext per instance, handed to the engine as the instance's
// user data; a host function called without one fails closed.

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/files.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/security/policy.hpp"
#include "airssys/wasm/security/quota.hpp"

namespace airssys::wasm::storage {
class KeyValueStore;
}  // namespace airssys::wasm::storage

namespace airssys::wasm::host {

// Receives what the component writes to one of its output streams.
using OutputSink = std::function<void(std::span<const uint8_t>)>;
// Gives the component's standard input: fills at most the buffer's size and
// returns how many bytes it gave, 0 at the end of the input, or an errno.
// It may block until input arrives.
using InputSource = std::function<std::expected<size_t, int>(std::span<uint8_t>)>;

struct WasiOptions {
  std::vector<std::string> args;  // argv, argv[0] included
  std::vector<std::string> env;   // "KEY=value" entries
  OutputSink stdout_sink;         // empty: the host process's stdout
  OutputSink stderr_sink;         // empty: the host process's stderr
  InputSource stdin_source;       // empty: standard input is at its end at once
  // Host directories preopened under a name of their own, besides the roots
  // of the component's filesystem grants (`run --dir HOST::GUEST`). What a
  // component may do beneath them is still decided by its grants and the
  // host policy, on host paths.
  std::vector<Preopen> dirs;
  // Whether the roots of the filesystem grants are preopened under their
  // own paths, besides `dirs`. Off when every grant came with a directory
  // of `dirs` (`run --dir` for a module without a manifest): the component
  // then sees each directory under its guest name alone.
  bool preopen_grant_roots = true;
};

// What decides and records the component's requests. Without a security
// context every request is refused.
struct SecurityBinding {
  std::shared_ptr<const security::WasmSecurityContext> context;
  const security::PolicySlot* policy = nullptr;  // none: no host-wide rules
  security::AuditLog* audit = nullptr;           // none: decisions are not recorded
  std::optional<std::string> signer_key_id;      // the verified signer, if any
  // The component's quota usage; none: the context makes its own from the
  // security context's limits. Shared so that it outlives a restart.
  std::shared_ptr<security::QuotaTracker> quota;
};

class ComponentLog;
// Logs (when there is a log) and audits one change of a quota's monitoring
// level: permission "quota.<name>", resource the new level, layer "quota".
void report_quota_crossing(const SecurityBinding& security, ComponentLog* log,
                           const security::QuotaCrossing& crossing);

class MessagingPort;
class FileTable;

class ComponentContext {
 public:
  explicit ComponentContext(WasiOptions wasi, SecurityBinding security = {});

  [[nodiscard]] const WasiOptions& wasi() const { return wasi_; }
  [[nodiscard]] const SecurityBinding& security() const { return security_; }
  void write_stdout(std::span<const uint8_t> bytes) const;
  // Reads standard input (WasiOptions::stdin_source): 0 at its end.
  [[nodiscard]] std::expected<size_t, int> read_stdin(std::span<uint8_t> buffer) const;
  void write_stderr(std::span<const uint8_t> bytes) const;

  // The component's own grants first, then the host policy. Every denial and
  // every grant is audited; a denial is CapabilityDenied naming the layer.
  [[nodiscard]] Result<void> authorize(security::Permission permission,
                                       std::string_view resource) const;
  // The capability and the quota together, before any side effect: the grant
  // (as authorize()) and room for `amount` in `quota`, which is reserved at
  // once so that concurrent callers cannot overrun the limit. After the side
  // effect, settle_quota() records what was really used. A capability denial
  // is CapabilityDenied, a quota refusal QuotaExceeded with current,
  // requested and limit in its message; both are audited.
  // Example:
  //   AIRSSYS_TRY(ctx.check_capability_with_quota(Permission::StorageWrite, key,
  //                                               QuotaKind::Storage, growth));
  [[nodiscard]] Result<void> check_capability_with_quota(security::Permission permission,
                                                         std::string_view resource,
                                                         security::QuotaKind quota,
                                                         uint64_t amount) const;
  // A quota alone, for consumption whose capability was checked before (the
  // bytes of a transfer already authorized); audited as `what` on refusal.
  [[nodiscard]] Result<void> consume_quota(std::string_view what, std::string_view resource,
                                           security::QuotaKind quota, uint64_t amount) const;
  // After the side effect: `used` replaces the `reserved` amount (less gives
  // the rest back, more is recorded as spent).
  void settle_quota(security::QuotaKind quota, uint64_t reserved, uint64_t used) const;
  // Reports a crossing of 80 % or 95 % of the quota once (log and audit).
  void report_quota(security::QuotaKind quota) const;
  [[nodiscard]] security::QuotaTracker* quota() const { return security_.quota.get(); }
  // The memory quota follows the instance's linear memory: hand this to
  // engine::InstanceOptions::on_memory_grow. A growth refused because it
  // would pass the quota is audited with the numbers (the guest sees -1).
  void on_memory_grow(const engine::MemoryGrowEvent& event) const;

  // The same decision as authorize(), without an audit record.
  [[nodiscard]] bool permits(security::Permission permission, std::string_view resource) const;

  // Writes one audit record for this component (no-op without an audit log).
  void audit(std::string_view permission, std::string_view resource,
             security::AuditResult result, security::DecisionLayer layer,
             std::string_view reason) const;

  // The component's way to other components; null when it has none.
  [[nodiscard]] MessagingPort* messaging() const { return messaging_; }
  void set_messaging(MessagingPort* port) { messaging_ = port; }

  // The host's key-value store, where the component's own namespace lives;
  // null when the host has none.
  // Where stdout, stderr and airssys.log lines go, rate-limited; null: the
  // raw output sinks of WasiOptions.
  [[nodiscard]] ComponentLog* log() const { return log_; }
  void set_log(ComponentLog* log) { log_ = log; }

  [[nodiscard]] storage::KeyValueStore* kv() const { return kv_; }
  // Also sets the storage quota's usage to what the namespace holds.
  void set_kv(storage::KeyValueStore* store);

  // The component's open files, its preopened directories (the roots of its
  // filesystem grants) opened on first use.
  [[nodiscard]] FileTable& files();

  // The component's name (its security context's id), or "" without one.
  [[nodiscard]] std::string_view name() const;

 private:
  struct Denial {
    security::DecisionLayer layer;
    std::string reason;
  };
  // The component's grants, then the host policy; nothing when granted.
  [[nodiscard]] std::optional<Denial> decide(security::Permission permission,
                                             std::string_view resource,
                                             std::string* granted_reason) const;
  [[nodiscard]] Result<void> deny(security::Permission permission, std::string_view resource,
                                  const Denial& denial) const;
  [[nodiscard]] Result<void> refuse_quota(std::string_view what, std::string_view resource,
                                          const security::QuotaError& error) const;

  WasiOptions wasi_;
  SecurityBinding security_;
  MessagingPort* messaging_ = nullptr;
  std::shared_ptr<FileTable> files_;
  storage::KeyValueStore* kv_ = nullptr;
  ComponentLog* log_ = nullptr;
};

}  // namespace airssys::wasm::host
