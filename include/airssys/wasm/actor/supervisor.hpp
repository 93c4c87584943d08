#pragma once
// Supervision: a supervisor starts children from their specs, watches them,
// and restarts them by policy and strategy, within a restart intensity and
// with back-off between restarts.
//
// A restart calls the child's factory again, so every restart runs a fresh
// behaviour; whatever the factory captured (a shared immutable security
// context, for example) is reused unchanged. The child keeps its name, so
// senders that address it by name reach the new instance.
//
// Example:
//   auto supervisor = Supervisor::start(scheduler, {.name = "root"},
//       {ChildSpec{.name = "billing", .factory = [ctx] { return make_billing(ctx); }}});
//
// Threading: the supervisor reacts to its children on whichever thread finishes
// them; its members may be called from any thread. The factory runs with the
// supervisor's lock held and must not call the supervisor. The event callback
// runs without it, one event at a time and in order.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/actor/behavior.hpp"
#include "airssys/wasm/actor/clock.hpp"
#include "airssys/wasm/actor/mailbox.hpp"
#include "airssys/wasm/actor/message.hpp"
#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::actor {

enum class RestartPolicy : uint8_t {
  Permanent,  // always restarted
  Transient,  // restarted only after a failure
  Temporary,  // never restarted, and forgotten once it exits
};

enum class RestartStrategy : uint8_t {
  OneForOne,   // restart only the child that exited
  OneForAll,   // stop every other child, then restart all of them
  RestForOne,  // stop the children started after it, then restart it and them
};

[[nodiscard]] const char* restart_policy_name(RestartPolicy policy);
[[nodiscard]] const char* restart_strategy_name(RestartStrategy strategy);

// Whose restarts the intensity counts.
enum class IntensityScope : uint8_t {
  // Every child's together: past the limit the supervisor gives up, stops
  // every child and reports GaveUp (as in Erlang/OTP).
  Supervisor,
  // Each child's alone: past the limit only that child is given up (stopped
  // for good, forgotten, reported ChildGaveUp); its siblings keep running.
  // For hosts of mutually untrusted children, where one child's restart loop
  // must not take the others down.
  Child,
};

// More than max_restarts restarts within `period` and the supervisor gives up
// (the whole supervisor or the one child, by `scope`), with SupervisorGaveUp.
struct RestartIntensity {
  uint32_t max_restarts = 3;
  Duration period = std::chrono::seconds(60);
  IntensityScope scope = IntensityScope::Supervisor;
};

enum class BackoffKind : uint8_t { Immediate, Linear, Exponential };

struct Backoff {
  BackoffKind kind = BackoffKind::Exponential;
  Duration initial = std::chrono::milliseconds(100);
  double factor = 1.5;  // Exponential only
  Duration max = std::chrono::seconds(30);

  // The wait before a child's attempt-th restart within the intensity period
  // (attempt >= 1): Immediate 0; Linear initial * attempt; Exponential
  // initial * factor^(attempt-1); never more than `max`.
  [[nodiscard]] Duration delay(uint32_t attempt) const;
};

using BehaviorFactory = std::function<Result<std::unique_ptr<Behavior>>()>;

struct ChildSpec {
  std::string name = {};  // required; the registered actor name, kept across restarts
  BehaviorFactory factory = {};
  RestartPolicy policy = RestartPolicy::Permanent;
  size_t mailbox_capacity = kDefaultMailboxCapacity;
  // Keep the child's mailbox across its restarts (SpawnOptions::mailbox):
  // what is queued behind a failure is delivered by the next instance, and
  // a message sent while the child waits for its restart is queued (or
  // refused with MailboxFull) rather than refused with ActorNotFound. When
  // the child is not started again (its policy, its intensity, remove_child,
  // stop), what is left is reported undelivered. A child stopped by anyone
  // (a group restart, Scheduler::stop) reports its queue as usual and
  // starts again with an empty mailbox.
  bool keep_mailbox = false;
  // Told of each of the child's messages reported undelivered.
  UndeliveredHandler on_undelivered = {};
};

enum class SupervisorEventKind : uint8_t {
  ChildStarted,    // first start of a child
  ChildFailed,     // a child failed (error), or its factory failed on restart
  ChildRestarted,  // a child runs again after `delay`
  ChildStopped,    // a child exited without failing, or was stopped
  GaveUp,          // intensity exceeded; every child has stopped (error set)
  ChildGaveUp,     // the child's own intensity exceeded (IntensityScope::Child): not restarted
  Stopped,         // stop() finished; every child has stopped
};

[[nodiscard]] const char* supervisor_event_kind_name(SupervisorEventKind kind);

struct SupervisorEvent {
  SupervisorEventKind kind = SupervisorEventKind::ChildStarted;
  std::string supervisor = {};
  std::string child = {};  // empty for GaveUp and Stopped
  Address address = {};    // the child instance concerned
  std::optional<Error> error = {};
  Duration delay = {};    // ChildRestarted: the back-off waited
  uint32_t restarts = 0;  // restarts counted in the current intensity period
  TimePoint time = {};

  [[nodiscard]] std::string to_string() const;
};

using SupervisorEventHandler = std::function<void(const SupervisorEvent&)>;

struct SupervisorOptions {
  std::string name = "supervisor";
  RestartStrategy strategy = RestartStrategy::OneForOne;
  RestartIntensity intensity = {};
  Backoff backoff = {};
  SupervisorEventHandler on_event = {};
};

enum class SupervisorState : uint8_t { Running, Stopping, Stopped, GivingUp, GaveUp };

class Supervisor {
 public:
  // Starts the children in order. If one fails to start, the ones already
  // started are stopped and the error is returned. InvalidArgument for an
  // empty or duplicate child name, a missing factory or a bad back-off.
  [[nodiscard]] static Result<std::unique_ptr<Supervisor>> start(Scheduler& scheduler,
                                                                 SupervisorOptions options,
                                                                 std::vector<ChildSpec> children);
  // Requests stop() and waits until no event callback is running; later exits
  // of the children are ignored. Destroy it before the scheduler it uses.
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Adds a child after the others and starts it.
  [[nodiscard]] Result<Address> start_child(ChildSpec spec);
  // Stops the child for good and forgets it (no restart). ActorNotFound when
  // the supervisor has no such child. StopMode::Drain lets a running child
  // deliver what is already queued first.
  [[nodiscard]] Result<void> remove_child(std::string_view name);
  [[nodiscard]] Result<void> remove_child(std::string_view name, StopMode mode);
  // Changes the policy the child's next exits are judged by (for example, a
  // child on probation starts Temporary). ActorNotFound when no such child.
  [[nodiscard]] Result<void> set_restart_policy(std::string_view name, RestartPolicy policy);
  // Stops every child, last started first; Stopped follows when all are down.
  void stop();

  [[nodiscard]] std::optional<Address> child_address(std::string_view name) const;
  [[nodiscard]] std::vector<std::string> child_names() const;
  [[nodiscard]] SupervisorState state() const;
  // The SupervisorGaveUp error once the supervisor gave up.
  [[nodiscard]] std::optional<Error> failure() const;

 private:
  struct State;
  explicit Supervisor(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace airssys::wasm::actor
