#pragma once
// Small behaviours and envelope helpers shared by the actor tests.

#include <functional>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "airssys/wasm/actor/behavior.hpp"
#include "airssys/wasm/actor/message.hpp"

namespace airssys::wasm::actor {

inline void PrintTo(const Address& address, std::ostream* os) {
  *os << address.to_string();
}

}  // namespace airssys::wasm::actor

namespace airssys::wasm::actor::testing {

inline std::vector<uint8_t> bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

inline std::string text(std::span<const uint8_t> payload) {
  return {payload.begin(), payload.end()};
}

inline Envelope to(Address target, std::string_view payload) {
  Envelope envelope;
  envelope.target = std::move(target);
  envelope.payload = bytes(payload);
  return envelope;
}

// A behaviour made of two lambdas, for tests that script each slice.
class ScriptedBehavior final : public Behavior {
 public:
  using StepFn = std::function<Result<StepResult>(ActorContext&)>;
  using StopFn = std::function<void(ActorContext&, const ExitReason&)>;

  explicit ScriptedBehavior(StepFn step, StopFn stop = nullptr)
      : step_(std::move(step)), stop_(std::move(stop)) {}

  Result<StepResult> step(ActorContext& ctx) override { return step_(ctx); }
  void on_stop(ActorContext& ctx, const ExitReason& reason) override {
    if (stop_) stop_(ctx, reason);
  }

 private:
  StepFn step_;
  StopFn stop_;
};

inline std::unique_ptr<Behavior> scripted(ScriptedBehavior::StepFn step,
                                          ScriptedBehavior::StopFn stop = nullptr) {
  return std::make_unique<ScriptedBehavior>(std::move(step), std::move(stop));
}

// Appends each payload to `log`, one message per slice.
inline std::unique_ptr<Behavior> recorder(std::shared_ptr<std::vector<std::string>> log) {
  return make_handler_behavior([log](ActorContext&, Envelope&& e) -> Result<StepResult> {
    log->push_back(text(e.payload));
    return StepResult::Idle;
  });
}

}  // namespace airssys::wasm::actor::testing
