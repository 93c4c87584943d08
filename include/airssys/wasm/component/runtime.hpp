#pragma once
// Components as actors. A ComponentRuntime runs components on an actor
// scheduler under one supervisor, routes their messages by name, and checks
// every message: the sender's messaging.send grant (in the host function),
// the receiver's messaging.receive admission, the payload size, the sender's
// message rate, the receiver's mailbox. Every refusal is an error code to the
// sender and an audit record.
//
// Example:
//   actor::ThreadPoolScheduler scheduler;
//   ComponentRuntime system(scheduler, {.audit = audit_log.get()});
//   system.start({.name = "ping", .module = module, .security = context});
//   system.send_from_host("ping", bytes);

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/actor/supervisor.hpp"
#include "airssys/wasm/cm/ast.hpp"
#include "airssys/wasm/component/tier.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/log.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/security/pattern.hpp"
#include "airssys/wasm/security/policy.hpp"
#include "airssys/wasm/security/quota.hpp"
#include "airssys/wasm/storage/kv.hpp"

namespace airssys::wasm::component {

// The exports a component may provide (docs/abi.md).
inline constexpr std::string_view kExportInitialize = "_initialize";  // wasi-libc reactors
inline constexpr std::string_view kExportInit = "airssys_init";
inline constexpr std::string_view kExportAlloc = "airssys_alloc";
inline constexpr std::string_view kExportDealloc = "airssys_dealloc";
inline constexpr std::string_view kExportHandleMessage = "airssys_handle_message";
inline constexpr std::string_view kExportHandleReply = "airssys_handle_reply";
inline constexpr std::string_view kExportShutdown = "airssys_shutdown";
inline constexpr std::string_view kExportInbox = "airssys_inbox";  // optional receive buffer

// Message kinds as the guest's handler sees them.
enum class GuestMessageKind : int32_t { Send = 0, Request = 1, Publish = 2 };

enum class ComponentState : uint8_t { Creating, Starting, Ready, Stopping, Terminated, Failed };
[[nodiscard]] const char* component_state_name(ComponentState state);

struct ComponentSpec {
  std::string name;  // must equal the security context's component id
  // Loaded by `engine` (none: ComponentRuntimeOptions::engine).
  std::shared_ptr<const engine::Module> module;
  // Or, in place of `module`: a WebAssembly component of the airssys world
  // (wit/host.wit, host/world.hpp), decoded with `engine`. It exports the
  // handler interface the actor calls in place of the core ABI's exports.
  std::shared_ptr<const cm::Component> world;
  std::shared_ptr<engine::Engine> engine;
  // Tier-up: the same module being compiled to native code; once it is
  // ready, the component continues on it from the next message on (or from
  // its next start). None: the component stays on `module`'s tier.
  std::shared_ptr<NativeBuild> tier_up;
  std::shared_ptr<const security::WasmSecurityContext> security;
  std::optional<std::string> signer_key_id;
  std::string config_json = "{}";  // handed to airssys_init
  uint64_t fuel_per_message = 10'000'000'000;  // ends a runaway handler (out-of-fuel trap)
  uint64_t slice = 100'000;                    // instructions between two yields
  uint64_t max_payload = host::kDefaultMaxPayload;
  size_t mailbox_capacity = 1024;
  actor::RestartPolicy restart = actor::RestartPolicy::Permanent;
  std::vector<std::string> args;  // WASI argv after the name
  std::vector<std::string> env;   // WASI environment, "NAME=value" (security::manifest_environment)
  // Where the component's stdout and stderr go (default: the host's).
  host::OutputSink stdout_sink;
  host::OutputSink stderr_sink;
  // When set, stdout, stderr and airssys.log go here instead, line by line,
  // tagged and rate-limited (`log_limits`).
  host::LogSink log_sink;
  host::LogOptions log_limits;
};

struct ComponentRuntimeOptions {
  std::shared_ptr<engine::Engine> engine;        // required for start()
  security::AuditLog* audit = nullptr;           // none: decisions are not recorded
  const security::PolicySlot* policy = nullptr;  // none: no host-wide rules
  // Strategy, intensity, back-off, events. By default each component's
  // restarts are counted on their own (IntensityScope::Child): one
  // component in a restart loop is given up alone, the others keep running.
  actor::SupervisorOptions supervisor{
      .name = "components", .intensity = {.scope = actor::IntensityScope::Child}};
  std::chrono::milliseconds shutdown_timeout{1000};
  // Where components keep their key-value state, one namespace each; none:
  // the kv_* functions return E_UNAVAILABLE. Must outlive the system.
  storage::KeyValueStore* kv = nullptr;
};

// What the system reports about a component.
struct ComponentStatus {
  ComponentState state = ComponentState::Creating;
  uint64_t messages_handled = 0;
  uint64_t restarts = 0;
  uint64_t throttled = 0;    // slices held back by the CPU-time quota
  // CPU time used since the first start, restarts included: what the
  // worker threads spent on its steps, by their CPU clocks.
  uint64_t cpu_time_us = 0;
  uint64_t fuel_used = 0;  // fuel (instructions) burned since the first start
  // Messages dropped without being delivered (the component was stopped, or
  // not started again, with them still queued), restarts included. Each drop
  // is also on record in the audit log.
  uint64_t undelivered = 0;
  engine::Tier tier = engine::Tier::Interp;  // the tier its instance runs on now
  // What a component of the airssys world last answered to `health`:
  // "healthy", "degraded: <reason>"; empty before the first answer and for
  // core-ABI components.
  std::string health;
  std::optional<Error> last_error;
  // Used, limit, available, percent and level of each quota, by QuotaKind.
  std::array<security::QuotaUsage, security::kQuotaKindCount> quotas{};
};


class ComponentActor;
class ComponentPort;

class ComponentRuntime {
 public:
  ComponentRuntime(actor::Scheduler& scheduler, ComponentRuntimeOptions options);
  ~ComponentRuntime();
  ComponentRuntime(const ComponentRuntime&) = delete;
  ComponentRuntime& operator=(const ComponentRuntime&) = delete;

  // Registers the component and starts it under the system's supervisor.
  [[nodiscard]] Result<void> start(ComponentSpec spec);
  // Stops every component and the supervisor, and waits until every actor of
  // this system is gone (the scheduler must be running; never call it from
  // inside an actor); queued messages are reported to the dead-letter handler.
  void stop();

  // Stops one component for good (no restart): new messages to it are refused
  // at once, what its mailbox already holds is delivered (Drain), then its
  // actor ends; after `timeout` it is stopped without draining. Returns its
  // final status. ActorNotFound when no such component runs.
  [[nodiscard]] Result<ComponentStatus> stop_component(
      std::string_view name, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Replaces a running component by `next` (same name) without losing a
  // message: the new instance starts beside the old one under another actor
  // name; once it is Ready, the component's name resolves to it in one atomic
  // switch, so every message is routed either before the switch (into the old
  // mailbox, which the old instance drains before it ends) or after it (to the
  // new one, which delivers nothing until the old one has ended: messages are
  // handled in order and never by both versions at once). The new version's
  // initialization runs while the old one still serves. When the new instance
  // fails or is not Ready within
  // `ready_timeout`, it is removed and the old one keeps running. Returns the
  // old instance's final status.
  [[nodiscard]] Result<ComponentStatus> upgrade(
      ComponentSpec next, std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));

  // A message from the host itself, sender "host" (security::kHostSenderName):
  // delivered only when the receiver's messaging.receive admits "host";
  // otherwise CapabilityDenied, audited as messaging.receive denied.
  [[nodiscard]] Result<void> send_from_host(std::string_view target,
                                            std::vector<uint8_t> payload);

  // A request from the host, sender "host", admitted as send_from_host():
  // the component receives it as a request (kind 1) and answers it with
  // `reply`. Waits for that reply and returns its payload; ReplyTimeout when
  // none came within `timeout` (a later reply is dropped). Blocks the
  // calling thread: never call it from inside an actor.
  [[nodiscard]] Result<std::vector<uint8_t>> request_from_host(std::string_view target,
                                                               std::vector<uint8_t> payload,
                                                               std::chrono::milliseconds timeout);
  // Ends every request_from_host() that waits, and those that follow, at
  // once with HostShutDown: the first step of stopping, so that no caller
  // waits for its timeout. stop() does it too.
  void end_host_requests();

  [[nodiscard]] std::optional<ComponentStatus> status(std::string_view name) const;
  // Waits until `name` is Ready, Failed or Terminated, or `deadline` passes,
  // and returns its status then; nullopt when no component has that name.
  [[nodiscard]] std::optional<ComponentStatus> await_settled(
      std::string_view name, std::chrono::steady_clock::time_point deadline) const;
  [[nodiscard]] std::vector<std::string> names() const;
  [[nodiscard]] actor::Supervisor* supervisor() { return supervisor_.get(); }
  [[nodiscard]] actor::Scheduler& scheduler() { return scheduler_; }

 private:
  friend class ComponentActor;
  friend class ComponentPort;

  struct Subscription {
    std::string filter;
    security::TopicPattern pattern;
  };
  struct Entry {
    ComponentSpec spec;
    std::string actor_name;                   // the name its actor is registered under
    // While set, the actor starts and initializes but delivers no message:
    // an upgraded version waits until the old one has drained its mailbox.
    std::atomic<bool> hold{false};
    std::vector<Subscription> subscriptions;  // guarded by mutex_
    ComponentStatus status;                   // guarded by mutex_
    // Outlives every restart: a crash resets neither a window nor a level.
    std::shared_ptr<security::QuotaTracker> quota;
    std::atomic<uint64_t> cpu_time_us{0};
    std::atomic<uint64_t> fuel_used{0};
    std::atomic<uint64_t> handled{0};  // ComponentStatus::messages_handled, counted without a lock
    std::atomic<uint64_t> undelivered{0};  // ComponentStatus::undelivered
  };

  [[nodiscard]] std::shared_ptr<Entry> find(std::string_view name) const;
  // Whether `entry` admits messages from the host; a refusal is audited.
  [[nodiscard]] Result<void> admit_host_sender(const Entry& entry, std::string_view target) const;
  void audit(const Entry& who, std::string_view permission, std::string_view resource,
             security::AuditResult result, security::DecisionLayer layer,
             std::string_view reason) const;
  void set_state(Entry& entry, ComponentState state, std::optional<Error> error = {});
  void count_handled(Entry& entry);
  // The entry's status with its counters; mutex_ held.
  [[nodiscard]] ComponentStatus status_locked(const Entry& entry) const;
  void count_throttled(Entry& entry);
  [[nodiscard]] actor::ChildSpec child_spec(const std::shared_ptr<Entry>& entry);
  // Counts and audits messages of `entry` dropped undelivered.
  void count_undelivered(Entry& entry, const std::vector<actor::DeadLetter>& letters);
  // Waits until the actor registered as `actor_name` is gone.
  bool wait_gone(const std::string& actor_name, std::chrono::milliseconds timeout);
  [[nodiscard]] uint64_t next_correlation() { return ++correlation_; }

  actor::Scheduler& scheduler_;
  ComponentRuntimeOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Entry>> entries_;
  // Held shared while a name is resolved and the message enqueued, exclusive
  // while a name is switched to another actor (upgrade) or removed: a message
  // is in exactly one mailbox, the old or the new. Taken before mutex_.
  mutable std::shared_mutex route_mutex_;
  uint64_t generation_ = 0;  // guarded by mutex_; names the actors of upgrades
  std::unique_ptr<actor::Supervisor> supervisor_;
  std::atomic<uint64_t> correlation_{0};
  // The host's requests: an actor named "host" receives their replies and
  // hands each to the request_from_host() that waits for it.
  struct HostInbox;
  [[nodiscard]] Result<actor::Address> host_inbox();
  std::mutex host_inbox_mutex_;
  std::shared_ptr<HostInbox> host_inbox_state_;  // never null
  std::optional<actor::Address> host_inbox_;     // guarded by host_inbox_mutex_
  engine::Linker linker_;
  std::mutex live_mutex_;
  std::condition_variable live_changed_;
  int live_actors_ = 0;  // ComponentActors alive; guarded by live_mutex_
};

}  // namespace airssys::wasm::component
