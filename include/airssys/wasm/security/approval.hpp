#pragma once
// The approval workflow: a component that is not trusted waits in a persistent
// queue until an operator approves or denies it. Entries live in SQLite (WAL)
// and are keyed by what was approved: the component name, the SHA-256 of its
// module and the canonical text of its terms (canonical_approval_terms: the
// capabilities, the quotas the manifest sets, its [runtime] tier and its
// [config] with [config.env]). A new module, more capabilities, another
// quota, tier or configuration is a new key, hence a new approval. Call request() with the current trust
// decision at every start and run only what may_run() accepts: that is how an
// auto-approval or a dev-mode bypass ends when the trust that gave it does.
//
// Example:
//   auto store = ApprovalStore::open(data_dir / "approvals.db");
//   auto entry = store->request({name, version, module_hash, capabilities},
//                               decision.level, decision.reason);
//   if (auto ok = may_run(*entry); !ok) report(ok.error());

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::security {

enum class ApprovalState : uint8_t {
  Pending,       // waits for an operator
  Approved,      // an operator approved it
  Denied,        // an operator denied it, or revoked an approval
  AutoApproved,  // the trust decision was Trusted
  Bypassed,      // the trust decision was DevMode
};

// "pending", "approved", "denied", "auto-approved", "bypassed"
[[nodiscard]] std::string_view approval_state_name(ApprovalState state);
[[nodiscard]] std::optional<ApprovalState> parse_approval_state(std::string_view text);

struct ApprovalRequest {
  std::string name;
  std::string version;
  std::string module_hash;   // SHA-256 of the .wasm, 64 hex digits
  // What is approved: canonical_approval_terms() of the manifest (the
  // capability lines alone for a manifest that sets no quota, tier or config).
  std::string capabilities;
};

using Clock = std::chrono::system_clock;

struct ApprovalEntry {
  std::string key;
  std::string name;
  std::string version;  // as first requested; not part of the key
  std::string module_hash;
  std::string capabilities;
  ApprovalState state = ApprovalState::Pending;
  Clock::time_point requested_at;
  std::string decided_by;                       // empty while pending
  std::optional<Clock::time_point> decided_at;  // milliseconds precision
  std::string reason;
};

// Ok for Approved, AutoApproved and Bypassed; ApprovalRequired for Pending;
// TrustDenied for Denied. Each message names the component and the key.
[[nodiscard]] Result<void> may_run(const ApprovalEntry& entry);

struct ApprovalOptions {
  size_t max_pending = 1000;
  std::chrono::milliseconds busy_timeout{5000};  // wait for another writer
};

// One handle on an approval database; several handles (in this process or in
// others) may use the same file at once. A handle is safe to share between
// threads.
class ApprovalStore {
 public:
  // Creates the database and its parent directory when missing. Fails when the
  // file is group- or world-writable, or holds a newer schema.
  [[nodiscard]] static Result<ApprovalStore> open(const std::filesystem::path& database,
                                                  ApprovalOptions options = {});

  // SHA-256 (64 lowercase hex digits) over a domain prefix and the three
  // fields, each preceded by its length, so that no two triples collide.
  [[nodiscard]] static std::string key_for(std::string_view name, std::string_view module_hash,
                                           std::string_view capabilities_text);

  // A moved-from store may only be destroyed or assigned to.
  ApprovalStore(ApprovalStore&&) noexcept;
  ApprovalStore& operator=(ApprovalStore&&) noexcept;
  ~ApprovalStore();

  // Records a request under the current trust decision and returns the entry.
  // A new key becomes pending (Unknown), auto-approved (Trusted) or bypassed
  // (DevMode). A request for an existing key never creates a second entry and
  // returns it, after one adjustment: an entry that trust decided (pending,
  // auto-approved, bypassed) follows the current trust level, so withdrawn
  // trust or a dev mode switched off sends it back to pending. An operator's
  // decision (approved, denied) stands. ApprovalQueueFull when an entry would
  // become pending while `max_pending` entries are.
  [[nodiscard]] Result<ApprovalEntry> request(const ApprovalRequest& request, TrustLevel level,
                                              std::string_view reason);

  // pending -> approved, and denied -> approved (an explicit re-decision).
  [[nodiscard]] Result<ApprovalEntry> approve(std::string_view key, std::string_view decided_by,
                                              std::string_view reason);
  // pending -> denied, and approved, auto-approved or bypassed -> denied (a
  // revocation). Everything else is InvalidTransition.
  [[nodiscard]] Result<ApprovalEntry> deny(std::string_view key, std::string_view decided_by,
                                           std::string_view reason);

  // NotFound when the key is unknown.
  [[nodiscard]] Result<ApprovalEntry> get(std::string_view key);
  // Oldest request first.
  [[nodiscard]] Result<std::vector<ApprovalEntry>> list(
      std::optional<ApprovalState> state = std::nullopt);
  [[nodiscard]] Result<size_t> pending_count();

  [[nodiscard]] const std::filesystem::path& path() const;

 private:
  struct Impl;
  explicit ApprovalStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace airssys::wasm::security
