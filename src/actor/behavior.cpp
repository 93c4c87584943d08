#include "airssys/wasm/actor/behavior.hpp"

#include "airssys/wasm/actor/mailbox.hpp"
#include "airssys/wasm/actor/scheduler.hpp"

namespace airssys::wasm::actor {

const char* step_result_name(StepResult result) {
  switch (result) {
    case StepResult::Yield:
      return "yield";
    case StepResult::Idle:
      return "idle";
    case StepResult::Stop:
      return "stop";
    case StepResult::Sleep:
      return "sleep";
  }
  return "unknown";
}

const char* exit_kind_name(ExitKind kind) {
  switch (kind) {
    case ExitKind::Normal:
      return "normal";
    case ExitKind::Stopped:
      return "stopped";
    case ExitKind::Failed:
      return "failed";
  }
  return "unknown";
}

std::string ExitReason::to_string() const {
  std::string out = exit_kind_name(kind);
  if (error) {
    out += ": ";
    out += error->to_string();
  }
  return out;
}

std::optional<Envelope> ActorContext::receive() {
  return mailbox_.pop();
}

size_t ActorContext::pending() const {
  return mailbox_.size();
}

Result<void> ActorContext::send(Envelope&& envelope) {
  envelope.sender = self_;
  return scheduler_.send(std::move(envelope));
}

TimePoint ActorContext::now() const {
  return scheduler_.now();
}

namespace {

class HandlerBehavior final : public Behavior {
 public:
  explicit HandlerBehavior(MessageHandler handler) : handler_(std::move(handler)) {}

  Result<StepResult> step(ActorContext& ctx) override {
    auto message = ctx.receive();
    if (!message) return StepResult::Idle;
    return handler_(ctx, std::move(*message));
  }

 private:
  MessageHandler handler_;
};

}  // namespace

std::unique_ptr<Behavior> make_handler_behavior(MessageHandler handler) {
  return std::make_unique<HandlerBehavior>(std::move(handler));
}

}  // namespace airssys::wasm::actor
