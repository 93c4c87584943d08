#pragma once
// One component instance as an actor (actor::Behavior): it owns the
// component's store, instance and host context, runs every guest call in fuel
// slices, charges its CPU time and moves to the native tier between two
// messages. actor.cpp holds its life (create, steps, tier-up, stop),
// delivery.cpp how a message becomes guest calls of the core ABI, world.cpp
// the same for a component of the airssys world (handler exports called
// through the canonical ABI). Private to the component layer.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "airssys/wasm/actor/behavior.hpp"
#include "airssys/wasm/actor/message.hpp"
#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/log.hpp"
#include "port.hpp"

namespace airssys::wasm::component {

// One component instance as an actor: every guest call runs in fuel slices on
// a suspendable engine call, and the actor yields after each slice.
class ComponentActor final : public actor::Behavior {
 public:
  ComponentActor(ComponentRuntime& system, std::shared_ptr<ComponentRuntime::Entry> entry);
  ~ComponentActor() override;

  Result<actor::StepResult> step(actor::ActorContext& ctx) override;
  void on_stop(actor::ActorContext& ctx, const actor::ExitReason& reason) override;

  // Called by the port, on this actor's own step.
  void expect_reply(uint64_t correlation, actor::TimerId timer) { awaiting_[correlation] = timer; }
  std::optional<actor::Address> take_requester(uint64_t correlation) {
    auto it = requesters_.find(correlation);
    if (it == requesters_.end()) return std::nullopt;
    auto address = std::move(it->second);
    requesters_.erase(it);
    return address;
  }
  const actor::Address& self() const { return self_; }
  // The component's host context; exists whenever the guest runs.
  host::ComponentContext& context() { return *context_; }

 private:
  enum class Stage { None, Initialize, Init, Alloc, Handle, Dealloc, Health, Shutdown };

  Result<void> create();
  engine::InstanceOptions instance_options();
  void try_tier_up();
  actor::StepResult idle();
  void tick_after(std::chrono::milliseconds delay, uint64_t which);
  void set_tier(engine::Tier tier);
  // Charges the CPU time this thread spent on the step (nanoseconds).
  void account_cpu(int64_t spent_ns);
  Result<actor::StepResult> run_step(actor::ActorContext& ctx);
  actor::StepResult throttle(actor::ActorContext& ctx);
  int64_t window_of_throttle() const;
  Result<void> begin(engine::ExportHandle handle, std::span<const engine::Value> args,
                     Stage stage, uint64_t fuel);
  Result<void> begin(engine::ExportHandle handle, std::initializer_list<engine::Value> args,
                     Stage stage, uint64_t fuel) {
    return begin(handle, std::span<const engine::Value>(args.begin(), args.size()), stage, fuel);
  }
  Result<void> after(Stage stage, std::span<const engine::Value> results);
  Result<void> begin_delivery(actor::Envelope envelope);
  Result<void> begin_handler();
  Result<void> write_delivery();
  Result<void> open_inbox();
  Result<void> next_init_stage(Stage done);
  // The exports the actor calls (docs/abi.md), each resolved once per
  // instance: when it is created and when a tier-up replaces it. None: the
  // module does not export that function.
  struct Exports {
    std::optional<engine::ExportHandle> initialize;
    std::optional<engine::ExportHandle> init;
    std::optional<engine::ExportHandle> alloc;
    std::optional<engine::ExportHandle> dealloc;
    std::optional<engine::ExportHandle> handle_message;
    std::optional<engine::ExportHandle> handle_reply;
    std::optional<engine::ExportHandle> shutdown;
    std::optional<engine::ExportHandle> inbox;
  };
  void resolve_exports();

  // A component of the airssys world (ComponentSpec::world), in world.cpp.
  // The names of its handler exports, as cm::ComponentInstance names them.
  struct WorldExports {
    std::string init, handle_message, handle_reply, health, shutdown;
    // Their positions in the instance's functions, for calls by position.
    size_t handle_message_at = SIZE_MAX, handle_reply_at = SIZE_MAX;
  };
  Result<void> create_world();
  Result<void> begin_world(const std::string& name, std::vector<cm::Val> args, Stage stage);
  Result<void> begin_world_delivery(bool is_reply);
  Result<void> after_world(Stage stage);
  // Its answer to `health`: an error when it is unhealthy.
  Result<void> take_health();
  void shutdown_world();
  // One guest-call slice of the running call, then whatever follows it.
  Result<actor::StepResult> run_calls(actor::ActorContext& ctx);

  ComponentRuntime& system_;
  std::shared_ptr<ComponentRuntime::Entry> entry_;
  ComponentPort port_;
  actor::Address self_;
  std::unique_ptr<host::ComponentLog> log_;  // outlives context_, which points to it
  std::unique_ptr<host::ComponentContext> context_;
  std::unique_ptr<engine::Store> store_;
  std::shared_ptr<engine::Instance> instance_;
  std::unique_ptr<engine::Call> call_;
  // A component of the airssys world: the host's imports it is instantiated
  // against (they refer to context_), its instance (in place of store_ and
  // instance_), its exports, the values the last call returned.
  std::unique_ptr<cm::HostInstance> world_imports_;
  std::unique_ptr<cm::ComponentInstance> world_;
  WorldExports world_exports_;
  std::vector<cm::Val> world_values_;
  uint64_t world_memory_ = 0;  // of all its core instances
  std::chrono::steady_clock::time_point next_health_{};
  bool health_tick_pending_ = false;
  int64_t cpu_carry_ns_ = 0;  // spent, not yet charged: less than a microsecond
  std::optional<int64_t> throttled_window_;  // the last window a throttle was audited in
  Stage stage_ = Stage::None;
  bool created_ = false;
  bool ready_ = false;
  bool tier_up_done_ = false;  // the native build was taken up, or found unusable
  bool tier_tick_pending_ = false;
  // A timer message to the actor itself; correlation ids of requests start at 1.
  static constexpr uint64_t kTierUpTick = 0;
  // A world component's health check while idle; no request id reaches it.
  static constexpr uint64_t kHealthTick = ~uint64_t{0};
  static constexpr std::chrono::seconds kHealthInterval{10};
  static constexpr std::chrono::milliseconds kTierUpPoll{50};
  engine::Tier tier_ = engine::Tier::Interp;

  // The message being delivered: guest-memory layout [sender][topic][payload].
  std::optional<actor::Envelope> delivering_;
  std::vector<uint8_t> staging_;  // [sender][topic][payload] on its way into guest memory
  Exports exports_;  // of instance_
  uint32_t buffer_ = 0;
  uint32_t buffer_size_ = 0;
  uint32_t inbox_ = 0;       // the component's receive buffer (airssys_inbox), if any
  uint32_t inbox_size_ = 0;
  bool in_inbox_ = false;
  int32_t reply_status_ = 0;

  std::unordered_map<uint64_t, actor::TimerId> awaiting_;       // my requests
  std::unordered_map<uint64_t, actor::Address> requesters_;     // requests I received
};

}  // namespace airssys::wasm::component
