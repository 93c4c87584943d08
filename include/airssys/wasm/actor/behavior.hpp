#pragma once
// What an actor does, in slices.
//
// The step/slice contract:
// - The scheduler calls Behavior::step() when the actor is ready: on its first
//   slice, after it returned Yield, or when it returned Idle and a message has
//   arrived since. An actor runs on at most one worker at a time, so step()
//   never runs concurrently with itself or with on_stop().
// - step() does a bounded amount of work (typically one message, or one fuel
//   slice of a long call) and returns:
//     Yield  more work to do without a new message; the actor goes to the back
//            of the run queue, behind every other ready actor;
//     Idle   nothing to do until a message arrives (if one is already queued,
//            the actor goes to the back of the run queue);
//     Sleep  more work to do, but not before the delay given to
//            ActorContext::sleep_for() has passed; messages queue meanwhile
//            and do not wake it, a stop request does (throttling);
//     Stop   finished; the actor stops normally;
//     an Error: the actor failed; its supervisor decides about a restart.
// - An actor that never stops yielding delays any other ready actor by at most
//   one of its slices per round.
//
// Example:
//   class Counter : public Behavior {
//    public:
//     Result<StepResult> step(ActorContext& ctx) override {
//       auto message = ctx.receive();
//       if (!message) return StepResult::Idle;
//       ++count_;
//       return StepResult::Idle;
//     }
//    private:
//     int count_ = 0;
//   };

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "airssys/wasm/actor/clock.hpp"
#include "airssys/wasm/actor/message.hpp"
#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::actor {

class Mailbox;
class Scheduler;

enum class StepResult : uint8_t { Yield, Idle, Stop, Sleep };

[[nodiscard]] const char* step_result_name(StepResult result);

enum class ExitKind : uint8_t {
  Normal,   // step() returned Stop
  Stopped,  // someone asked it to stop (Scheduler::stop, a supervisor, shutdown)
  Failed,   // step() returned an error or threw
};

[[nodiscard]] const char* exit_kind_name(ExitKind kind);

struct ExitReason {
  ExitKind kind = ExitKind::Normal;
  std::optional<Error> error = {};  // Failed only

  [[nodiscard]] std::string to_string() const;
};

// What a behaviour sees of the runtime during step() and on_stop().
class ActorContext {
 public:
  ActorContext(Scheduler& scheduler, Mailbox& mailbox, Address self)
      : scheduler_(scheduler), mailbox_(mailbox), self_(std::move(self)) {}
  ActorContext(const ActorContext&) = delete;
  ActorContext& operator=(const ActorContext&) = delete;

  [[nodiscard]] const Address& self() const { return self_; }
  // The next message of this actor's mailbox, or nothing; never blocks.
  [[nodiscard]] std::optional<Envelope> receive();
  [[nodiscard]] size_t pending() const;
  // Sends with this actor as the sender (a sender the envelope names is
  // replaced). On failure the caller still holds the envelope.
  [[nodiscard]] Result<void> send(Envelope&& envelope);
  [[nodiscard]] Scheduler& scheduler() { return scheduler_; }
  [[nodiscard]] TimePoint now() const;
  // The delay of a step that returns StepResult::Sleep (zero: it yields).
  void sleep_for(Duration delay) { sleep_ = delay; }
  [[nodiscard]] Duration sleep_delay() const { return sleep_; }

 private:
  Scheduler& scheduler_;
  Mailbox& mailbox_;
  Address self_;
  Duration sleep_ = Duration::zero();
};

class Behavior {
 public:
  virtual ~Behavior() = default;
  [[nodiscard]] virtual Result<StepResult> step(ActorContext& ctx) = 0;
  // Called once, after the last slice, before the behaviour is destroyed. New
  // messages are refused by then; what is still queued may be received here,
  // and anything left afterwards is reported as undelivered.
  virtual void on_stop(ActorContext& ctx, const ExitReason& reason) {
    (void)ctx;
    (void)reason;
  }
};

// Handles one message per slice; the slice is Idle when the mailbox is empty.
using MessageHandler = std::function<Result<StepResult>(ActorContext&, Envelope&&)>;
[[nodiscard]] std::unique_ptr<Behavior> make_handler_behavior(MessageHandler handler);

}  // namespace airssys::wasm::actor
