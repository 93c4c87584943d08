#include "actor.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <mutex>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace airssys::wasm::component {

using security::AuditResult;
using security::DecisionLayer;

ComponentActor::ComponentActor(ComponentRuntime& system,
                               std::shared_ptr<ComponentRuntime::Entry> entry)
    : system_(system), entry_(std::move(entry)), port_(system, entry_, *this) {
  std::lock_guard lock(system_.live_mutex_);
  ++system_.live_actors_;
}

ComponentActor::~ComponentActor() {
  // Release the guest first: its host functions may refer to the system.
  call_.reset();
  world_.reset();
  world_imports_.reset();
  instance_.reset();
  store_.reset();
  std::lock_guard lock(system_.live_mutex_);
  --system_.live_actors_;
  system_.live_changed_.notify_all();
}

void ComponentActor::resolve_exports() {
  auto find = [this](std::string_view name) -> std::optional<engine::ExportHandle> {
    auto handle = instance_->resolve(name);
    if (!handle) return std::nullopt;  // not a function the module exports
    return *handle;
  };
  exports_ = Exports{find(kExportInitialize),    find(kExportInit),
                     find(kExportAlloc),         find(kExportDealloc),
                     find(kExportHandleMessage), find(kExportHandleReply),
                     find(kExportShutdown),      find(kExportInbox)};
}

Result<void> ComponentActor::create() {
  const auto& spec = entry_->spec;
  host::WasiOptions wasi;
  wasi.args.push_back(spec.name);
  wasi.args.insert(wasi.args.end(), spec.args.begin(), spec.args.end());
  wasi.env = spec.env;
  wasi.stdout_sink = spec.stdout_sink;
  wasi.stderr_sink = spec.stderr_sink;
  host::SecurityBinding binding{spec.security, system_.options_.policy, system_.options_.audit,
                                spec.signer_key_id, entry_->quota};
  context_ = std::make_unique<host::ComponentContext>(std::move(wasi), std::move(binding));
  context_->set_messaging(&port_);
  if (spec.log_sink) {
    auto entry = entry_;
    ComponentRuntime* system = &system_;
    log_ = std::make_unique<host::ComponentLog>(
        spec.name, spec.log_sink, spec.log_limits, [system, entry](uint64_t dropped) {
          system->audit(*entry, "log.write", "log", AuditResult::Denied, DecisionLayer::Quota,
                        fmt::format("log rate limit: {} lines dropped so far", dropped));
        });
    context_->set_log(log_.get());
  }
  context_->set_kv(system_.options_.kv);
  if (spec.world) return create_world();

  // A native build that is ready by now (a restart, or a quick cache hit)
  // is used from the start; otherwise the module as loaded.
  engine::Engine* engine = spec.engine ? spec.engine.get() : system_.options_.engine.get();
  const engine::Module* module = spec.module.get();
  if (spec.tier_up && spec.tier_up->finished() && spec.tier_up->result()) {
    engine = &spec.tier_up->engine();
    module = spec.tier_up->result()->get();
    tier_up_done_ = true;
  }
  store_ = engine->new_store();
  AIRSSYS_TRY_ASSIGN(instance_, store_->instantiate(*module, system_.linker_, instance_options()));
  resolve_exports();
  set_tier(engine->tier());
  if (tier_up_done_) {
    system_.audit(*entry_, "lifecycle.tier", engine::tier_name(tier_), AuditResult::Granted,
                  DecisionLayer::Component,
                  fmt::format("'{}' started on the {} tier (its native build was ready)",
                              spec.name, engine::tier_name(tier_)));
  }
  entry_->quota->set_used(security::QuotaKind::Memory, instance_->memory_bytes());
  context_->report_quota(security::QuotaKind::Memory);
  return {};
}

engine::InstanceOptions ComponentActor::instance_options() {
  engine::InstanceOptions options;
  options.limits.max_memory_bytes = entry_->spec.security->quotas().memory_bytes;
  options.user_data = context_.get();
  options.on_memory_grow = [context = context_.get()](const engine::MemoryGrowEvent& e) {
    context->on_memory_grow(e);
  };
  return options;
}

void ComponentActor::set_tier(engine::Tier tier) {
  tier_ = tier;
  std::lock_guard lock(system_.mutex_);
  entry_->status.tier = tier;
}

// Between two messages (no guest call in progress): the running instance's
// memory and globals move into an instance of the native build, which takes
// over from the next message on. The mailbox is not touched, so nothing is
// lost or reordered. When the build failed, or the module keeps state that
// cannot move, the component stays on the interpreter, on record.
void ComponentActor::try_tier_up() {
  tier_up_done_ = true;
  const auto& spec = entry_->spec;
  const auto& built = spec.tier_up->result();
  std::string why;
  if (!built) {
    why = built.error().to_string();
  } else if (auto saved = instance_->save_state(); !saved) {
    why = saved.error().to_string();
  } else {
    auto store = spec.tier_up->engine().new_store();
    auto options = instance_options();
    options.restore = &*saved;
    auto next = store->instantiate(**built, system_.linker_, options);
    if (next) {
      instance_ = std::move(*next);
      store_ = std::move(store);
      resolve_exports();
      set_tier(spec.tier_up->engine().tier());
      system_.audit(*entry_, "lifecycle.tier", engine::tier_name(tier_), AuditResult::Granted,
                    DecisionLayer::Component,
                    fmt::format("'{}' moved to the {} tier ({} bytes of memory carried over)",
                                spec.name, engine::tier_name(tier_), saved->memory.size()));
      return;
    }
    why = next.error().to_string();
  }
  system_.audit(*entry_, "lifecycle.tier", "native", AuditResult::Denied,
                DecisionLayer::Component,
                fmt::format("'{}' stays on the {} tier: {}", spec.name, engine::tier_name(tier_),
                            why));
}

namespace {

// The CPU time this thread has used, in nanoseconds: time it ran, not time
// it waited for a core, so load on the machine does not count.
int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

// CPU time: what the worker thread really spent on the component's step
// (guest code, its host calls, the host's delivery work), read from the
// thread's CPU clock. Charged in whole microseconds; the remainder carries
// over to the next step, so no step is free.
void ComponentActor::account_cpu(int64_t spent_ns) {
  cpu_carry_ns_ += std::max<int64_t>(spent_ns, 0);
  const auto micros = static_cast<uint64_t>(cpu_carry_ns_ / 1000);
  cpu_carry_ns_ %= 1000;
  if (micros == 0) return;
  entry_->quota->record(security::QuotaKind::CpuTime, micros);
  entry_->cpu_time_us.fetch_add(micros, std::memory_order_relaxed);
  if (context_) context_->report_quota(security::QuotaKind::CpuTime);
}

// Over its CPU time in this window: no slice until the next window. The
// component is not stopped and loses nothing; its messages wait in order.
actor::StepResult ComponentActor::throttle(actor::ActorContext& ctx) {
  auto& tracker = *entry_->quota;
  const auto wait = tracker.until_next_window() + std::chrono::milliseconds(1);
  if (!throttled_window_ || *throttled_window_ != window_of_throttle()) {
    throttled_window_ = window_of_throttle();
    auto usage = tracker.usage(security::QuotaKind::CpuTime);
    context_->audit("cpu.time", entry_->spec.name, AuditResult::Denied, DecisionLayer::Quota,
                    fmt::format("throttled for {} ms: {} us of CPU time used in this second, "
                                "limit {} us",
                                std::chrono::duration_cast<std::chrono::milliseconds>(wait).count(),
                                usage.used, usage.limit));
  }
  system_.count_throttled(*entry_);
  ctx.sleep_for(wait);
  return actor::StepResult::Sleep;
}

int64_t ComponentActor::window_of_throttle() const {
  return security::quota_clock_now() / 1'000'000'000;
}

Result<actor::StepResult> ComponentActor::step(actor::ActorContext& ctx) {
  // The thread's CPU clock around the whole step: fuel only decides when a
  // step ends (preemption); the CPU-time quota is charged what it cost.
  const int64_t before = thread_cpu_ns();
  auto result = run_step(ctx);
  account_cpu(thread_cpu_ns() - before);
  return result;
}

Result<actor::StepResult> ComponentActor::run_step(actor::ActorContext& ctx) {
  if (!created_) {
    created_ = true;
    self_ = ctx.self();
    system_.set_state(*entry_, ComponentState::Starting);
    if (auto ok = create(); !ok) {
      system_.set_state(*entry_, ComponentState::Failed, ok.error());
      return std::unexpected(ok.error());
    }
    if (auto ok = next_init_stage(Stage::None); !ok) {
      system_.set_state(*entry_, ComponentState::Failed, ok.error());
      return std::unexpected(ok.error());
    }
  }
  return run_calls(ctx);
}

// One step runs guest calls for at most one slice of fuel in all: the rest of
// a suspended call, then, if fuel is left, the calls that follow it (a
// message's alloc, handler and dealloc) and the next queued messages, up to
// kMessagesPerStep. The fuel the step has left caps each call's next slice,
// so a step never burns more than one slice, however many calls it runs.
Result<actor::StepResult> ComponentActor::run_calls(actor::ActorContext& ctx) {
  constexpr size_t kMessagesPerStep = 32;  // bounds the host's own work per step too
  const auto& spec = entry_->spec;
  uint64_t left = std::max<uint64_t>(spec.slice, 1);
  size_t messages = 0;
  while (true) {
    // Over the CPU-time quota with work to do: wait for the next window. The
    // quota is read first: an atomic, where the mailbox is a lock.
    if (entry_->quota->exhausted(security::QuotaKind::CpuTime) && (call_ || ctx.pending() > 0)) {
      return throttle(ctx);
    }
    if (!call_) {
      if (!ready_) return actor::StepResult::Yield;
      // Between two messages: the moment a finished native build takes over.
      if (!tier_up_done_ && spec.tier_up && spec.tier_up->finished()) try_tier_up();
      if (entry_->hold.load(std::memory_order_acquire)) {
        // An upgraded version waits for the old one to drain: it looks again
        // in a millisecond rather than spinning on a worker.
        if (ctx.pending() == 0) return idle();
        ctx.sleep_for(std::chrono::milliseconds(1));
        return actor::StepResult::Sleep;
      }
      if (messages == kMessagesPerStep) {
        return ctx.pending() > 0 ? actor::StepResult::Yield : idle();
      }
      auto envelope = ctx.receive();
      if (!envelope) return idle();
      if (envelope->kind == actor::MessageKind::Timeout && envelope->sender.id == self_.id &&
          (envelope->correlation_id == kTierUpTick || envelope->correlation_id == kHealthTick)) {
        if (envelope->correlation_id == kTierUpTick) {
          tier_tick_pending_ = false;
          continue;
        }
        health_tick_pending_ = false;
        if (!world_ || std::chrono::steady_clock::now() < next_health_) continue;
        if (auto ok = begin_world(world_exports_.health, {}, Stage::Health); !ok) {
          system_.set_state(*entry_, ComponentState::Failed, ok.error());
          return std::unexpected(ok.error());
        }
      } else {
        ++messages;
        if (auto ok = begin_delivery(std::move(*envelope)); !ok) {
          system_.set_state(*entry_, ComponentState::Failed, ok.error());
          return std::unexpected(ok.error());
        }
        if (!call_) continue;  // nothing to run for this one (a late reply, no handler)
      }
    }
    call_->set_slice(left);
    const uint64_t fuel_before = call_->fuel_used();
    auto state = call_->resume();
    const uint64_t burned = call_->fuel_used() - fuel_before;
    left -= std::min(left, burned);
    entry_->fuel_used.fetch_add(burned, std::memory_order_relaxed);
    if (!state) {
      Error error = state.error();
      error.message = fmt::format("component '{}': {}", spec.name, error.message);
      call_.reset();
      system_.set_state(*entry_, ComponentState::Failed, error);
      return std::unexpected(std::move(error));
    }
    if (*state == engine::Call::State::Suspended) return actor::StepResult::Yield;
    // The results outlive the call: after() may start the next one.
    std::array<engine::Value, 4> kept;
    if (world_) world_values_ = static_cast<cm::ComponentCall&>(*call_).values();
    const auto results = call_->results();
    const size_t count = std::min(results.size(), kept.size());
    std::copy_n(results.begin(), count, kept.begin());
    Stage done = stage_;
    call_.reset();
    stage_ = Stage::None;
    if (auto ok = after(done, std::span<const engine::Value>(kept.data(), count)); !ok) {
      system_.set_state(*entry_, ComponentState::Failed, ok.error());
      return std::unexpected(ok.error());
    }
    if (left == 0) {
      if (call_ || !ready_ || ctx.pending() > 0) return actor::StepResult::Yield;
      return idle();
    }
  }
}

// Nothing to do. While a tier-up build is still compiling, a timer brings the
// actor back now and then to look (a message would as well), so an idle
// component moves too.
actor::StepResult ComponentActor::idle() {
  // A world component is asked about its health now and then.
  if (world_ && ready_ && !health_tick_pending_) {
    tick_after(kHealthInterval, kHealthTick);
    health_tick_pending_ = true;
  }
  const auto& build = entry_->spec.tier_up;
  if (build && !tier_up_done_ && !tier_tick_pending_) {
    tick_after(kTierUpPoll, kTierUpTick);
    tier_tick_pending_ = true;
  }
  return actor::StepResult::Idle;
}

// A timer message from the actor to itself, told apart by its correlation id.
void ComponentActor::tick_after(std::chrono::milliseconds delay, uint64_t which) {
  actor::Envelope tick;
  tick.kind = actor::MessageKind::Timeout;
  tick.correlation_id = which;
  tick.target = self_;
  tick.sender = self_;
  system_.scheduler_.send_after(delay, std::move(tick));
}

void ComponentActor::on_stop(actor::ActorContext& ctx, const actor::ExitReason& reason) {
  (void)ctx;
  const auto& spec = entry_->spec;
  // A call suspended mid-slice is cancelled cleanly. A component of the
  // world whose handler was cut off is not called again: the runtime inside
  // it (a language's own, JavaScript's engine) may be left in the middle of
  // something, so its shutdown is skipped, on record.
  const bool interrupted = call_ != nullptr;
  call_.reset();
  if (world_ && ready_ && reason.kind != actor::ExitKind::Failed) {
    if (!interrupted) {
      shutdown_world();
    } else {
      system_.audit(*entry_, "lifecycle.shutdown", spec.name, AuditResult::Denied,
                    DecisionLayer::Component,
                    "shutdown not called: the component was stopped in the middle of a handler");
    }
  } else if (instance_ && ready_ && reason.kind != actor::ExitKind::Failed && exports_.shutdown) {
    engine::CallOptions options;
    // The shutdown export gets a bounded budget: about the given timeout's worth.
    options.fuel = 50'000ull * static_cast<uint64_t>(system_.options_.shutdown_timeout.count());
    auto r = instance_->call(*exports_.shutdown, {}, options);
    if (!r) {
      system_.audit(*entry_, "lifecycle.shutdown", spec.name, AuditResult::Denied,
                    DecisionLayer::Component, r.error().to_string());
    }
  }
  if (reason.kind == actor::ExitKind::Failed) {
    // A crash, a refused start or a trap is on record, not only in the status.
    std::string what = reason.error ? reason.error->to_string() : "the component failed";
    if (ready_ && delivering_) {
      // The message it failed on is not delivered again (it would fail
      // again); the ones queued behind it wait for the restart.
      what += fmt::format("; the message from '{}' it was handling is dropped",
                          delivering_->sender.name);
    }
    system_.audit(*entry_, "lifecycle.failed", spec.name, AuditResult::Denied,
                  DecisionLayer::Component, what);
    system_.set_state(*entry_, ComponentState::Failed, reason.error);
  } else {
    system_.set_state(*entry_, ComponentState::Terminated);
  }
}

}  // namespace airssys::wasm::component
