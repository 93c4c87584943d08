#pragma once
// The scheduler: runs actors in slices, owns their mailboxes and the registry
// of names, delivers messages and fires timers.
//
// Two implementations share this interface and all of its behaviour:
// ThreadPoolScheduler runs ready actors on a fixed pool of worker threads;
// DeterministicScheduler runs one slice per step() on the calling thread with a
// virtual clock, for tests.
//
// Example:
//   ThreadPoolScheduler scheduler;
//   auto echo = scheduler.spawn(
//       make_handler_behavior([](ActorContext& ctx, Envelope&& e) -> Result<StepResult> {
//         AIRSSYS_TRY(ctx.send(Envelope{.target = e.sender, .payload = e.payload}));
//         return StepResult::Idle;
//       }),
//       {.name = "echo"});
//
// Threading: every member of Scheduler may be called from any thread, from
// inside a step() and from any callback. No callback (on_exit, dead letters,
// timers) runs while the scheduler holds its lock, and no call into the
// scheduler runs a callback before it returns.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "airssys/wasm/actor/behavior.hpp"
#include "airssys/wasm/actor/clock.hpp"
#include "airssys/wasm/actor/mailbox.hpp"
#include "airssys/wasm/actor/message.hpp"
#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::actor {

namespace detail {
class SchedulerCore;
}

// Called once per actor, after its last slice and on_stop(), when its name is
// already released (or reserved for its kept mailbox) and every undelivered
// message has been reported.
using ExitCallback = std::function<void(const Address&, const ExitReason&)>;

// A message the runtime could not deliver: still queued when its target
// stopped, or a delayed message whose target was gone, full or shut down,
// or still queued in a kept mailbox that was released.
struct DeadLetter {
  Envelope envelope;
  Error reason;
};
using DeadLetterHandler = std::function<void(DeadLetter)>;
// Told of an actor's own messages as they are reported undelivered, before
// the scheduler's dead-letter handler sees them. Must not block.
using UndeliveredHandler = std::function<void(const std::vector<DeadLetter>&)>;

struct SpawnOptions {
  std::string name = {};  // unique among live actors; empty: anonymous
  size_t mailbox_capacity = kDefaultMailboxCapacity;
  ExitCallback on_exit = {};
  // A kept mailbox (mailbox_capacity is then ignored): one that outlives the
  // actor, for an actor that is restarted. When a named actor with a kept
  // mailbox ends without having been asked to stop (it failed, or returned
  // Stop), what is queued stays queued and its name stays reserved for the
  // mailbox: a send by name is queued there (MailboxFull when full, the
  // back-pressure signal) instead of failing with ActorNotFound, until an
  // actor is spawned under that name with the same mailbox, which then
  // receives everything in order, or until release() reports it undelivered.
  // An actor asked to stop refuses new messages as any other and reports
  // what is left. None: the actor's own mailbox, gone with it.
  std::shared_ptr<Mailbox> mailbox = {};
  UndeliveredHandler on_undelivered = {};
};

enum class StopMode : uint8_t {
  // Refuse new messages; after the current slice, stop and report what is
  // still queued as undelivered.
  Immediate,
  // Refuse new messages, deliver what is queued; stop once the actor is Idle
  // with an empty mailbox.
  Drain,
};

// 0 is never a valid timer.
using TimerId = uint64_t;

class Scheduler {
 public:
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  virtual ~Scheduler();

  // The actor is ready at once: its first step() runs without a message.
  // InvalidArgument (no behaviour, capacity 0), ActorNameTaken, SchedulerStopped.
  [[nodiscard]] Result<Address> spawn(std::unique_ptr<Behavior> behavior,
                                      SpawnOptions options = {});
  // Resolves the target by id, or by name when the id is 0. MailboxFull is the
  // back-pressure signal; ActorNotFound, ActorStopped. Moves from `envelope`
  // only on success.
  [[nodiscard]] Result<void> send(Envelope&& envelope);
  // Sends each envelope as send() does, under one lock, and wakes the
  // workers once for all the actors it made ready (a publish to many
  // subscribers). `refused(index, error)` is called, after the lock is
  // released, for each envelope not accepted, which it still holds. Returns
  // how many were accepted.
  size_t send_all(std::span<Envelope> envelopes,
                  const std::function<void(size_t, const Error&)>& refused);
  // The actor finishes its current slice first. ActorNotFound when not alive.
  [[nodiscard]] Result<void> stop(const Address& address, StopMode mode = StopMode::Immediate);
  // Ends the reservation of `name` by a kept mailbox whose actor has ended
  // (SpawnOptions::mailbox): the mailbox refuses every later message and
  // what it holds is reported undelivered. False when the name is not
  // reserved.
  bool release(std::string_view name);

  // A live actor only: nothing for a name reserved by a kept mailbox.
  [[nodiscard]] std::optional<Address> lookup(std::string_view name) const;
  [[nodiscard]] bool alive(const Address& address) const;
  [[nodiscard]] size_t actor_count() const;

  // Runs `callback` once, `delay` from now (on the timer thread, or inside
  // DeterministicScheduler::advance). Callbacks must be short: send, spawn,
  // schedule. Returns 0 after shutdown, when the callback is dropped.
  TimerId schedule(Duration delay, std::function<void()> callback);
  // Sends `envelope` once, `delay` from now; a failure then is a dead letter.
  TimerId send_after(Duration delay, Envelope envelope);
  // True when the timer had not fired yet; a cancelled envelope is dropped
  // without a report (the caller asked for it).
  bool cancel(TimerId timer);

  [[nodiscard]] TimePoint now() const;

  // Receives every undelivered message. Without a handler they are still
  // counted. The handler must not block.
  void set_dead_letter_handler(DeadLetterHandler handler);
  [[nodiscard]] uint64_t dead_letter_count() const;

  // Refuses new actors, stops every actor (StopMode::Immediate), releases
  // every reserved name (release()), reports the
  // messages of pending send_after timers as dead letters, drops pending
  // callbacks, and returns when every actor has stopped. Idempotent. Never call
  // it from inside an actor or a callback.
  virtual void shutdown() = 0;

 protected:
  explicit Scheduler(bool virtual_clock);
  [[nodiscard]] detail::SchedulerCore& core() { return *core_; }
  [[nodiscard]] const detail::SchedulerCore& core() const { return *core_; }

 private:
  std::unique_ptr<detail::SchedulerCore> core_;
};

struct ThreadPoolOptions {
  size_t workers = 0;  // 0: std::thread::hardware_concurrency(), at least 1
};

class ThreadPoolScheduler final : public Scheduler {
 public:
  explicit ThreadPoolScheduler(ThreadPoolOptions options = {});
  ~ThreadPoolScheduler() override;

  [[nodiscard]] size_t worker_count() const { return workers_.size(); }
  // Blocks until no actor is alive or `timeout` passes; true when none is.
  [[nodiscard]] bool wait_for_all_stopped(Duration timeout);
  void shutdown() override;

 private:
  std::vector<std::thread> workers_;
  std::thread timer_thread_;
  bool joined_ = false;
};

// Single-threaded and manually driven: actors run only inside step() and
// run(), timers fire only inside advance(). Its own members are for the one
// thread that drives it.
class DeterministicScheduler final : public Scheduler {
 public:
  DeterministicScheduler();
  ~DeterministicScheduler() override;

  // Runs one slice of the actor at the head of the run queue (or finishes it,
  // if it was asked to stop). Returns that actor, or nothing when none is ready.
  std::optional<Address> step();
  // Steps until no actor is ready or `max_steps` slices ran; returns the count.
  size_t run(size_t max_steps = SIZE_MAX);
  // Moves the virtual clock forward, firing due timers in deadline order with
  // the clock set to each deadline. Actors do not run.
  void advance(Duration delta);
  // Advances to the earliest pending timer and fires what is due then; false
  // when no timer is pending.
  bool advance_to_next_timer();

  [[nodiscard]] size_t ready_count() const;
  [[nodiscard]] std::optional<TimePoint> next_timer() const;
  void shutdown() override;
};

}  // namespace airssys::wasm::actor
