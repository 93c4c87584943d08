#include "airssys/wasm/component/system.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <deque>
#include <thread>

#include <fmt/format.h>

#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/http.hpp"
#include "airssys/wasm/host/kv.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "airssys/wasm/security/manifest.hpp"

namespace airssys::wasm::component {

using security::AuditResult;
using security::DecisionLayer;
using security::Permission;
using host::AbiError;

const char* component_state_name(ComponentState state) {
  switch (state) {
    case ComponentState::Creating: return "creating";
    case ComponentState::Starting: return "starting";
    case ComponentState::Ready: return "ready";
    case ComponentState::Stopping: return "stopping";
    case ComponentState::Terminated: return "terminated";
    case ComponentState::Failed: return "failed";
  }
  return "?";
}

// The messaging port of one running component: its sender identity is fixed.
class ComponentPort final : public host::MessagingPort {
 public:
  ComponentPort(ComponentSystem& system, std::shared_ptr<ComponentSystem::Entry> self,
                ComponentActor& actor)
      : system_(system), self_(std::move(self)), actor_(actor) {}

  AbiError send(std::string_view target, std::span<const uint8_t> payload) override;
  int64_t request(std::string_view target, std::span<const uint8_t> payload,
                  uint32_t timeout_ms) override;
  AbiError reply(uint64_t correlation_id, std::span<const uint8_t> payload) override;
  int32_t publish(std::string_view topic, std::span<const uint8_t> payload) override;
  AbiError subscribe(std::string_view filter) override;
  AbiError unsubscribe(std::string_view filter) override;
  uint64_t max_payload() const override { return self_->spec.max_payload; }

 private:
  AbiError deliver(std::string_view target, actor::Envelope envelope, std::string_view what);

  ComponentSystem& system_;
  std::shared_ptr<ComponentSystem::Entry> self_;
  ComponentActor& actor_;
};

// One component instance as an actor: every guest call runs in fuel slices on
// a suspendable engine call, and the actor yields after each slice.
class ComponentActor final : public actor::Behavior {
 public:
  ComponentActor(ComponentSystem& system, std::shared_ptr<ComponentSystem::Entry> entry)
      : system_(system), entry_(std::move(entry)), port_(system, entry_, *this) {
    std::lock_guard lock(system_.live_mutex_);
    ++system_.live_actors_;
  }
  ~ComponentActor() override {
    // Release the guest first: its host functions may refer to the system.
    call_.reset();
    instance_.reset();
    store_.reset();
    std::lock_guard lock(system_.live_mutex_);
    --system_.live_actors_;
    system_.live_changed_.notify_all();
  }

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
  enum class Stage { None, Initialize, Init, Alloc, Handle, Dealloc, Shutdown };

  Result<void> create();
  engine::InstanceOptions instance_options();
  void try_tier_up();
  actor::StepResult idle();
  void set_tier(engine::Tier tier);
  // Charges the CPU time this thread spent on the step (nanoseconds).
  void account_cpu(int64_t spent_ns);
  Result<actor::StepResult> run_step(actor::ActorContext& ctx);
  actor::StepResult throttle(actor::ActorContext& ctx);
  int64_t window_of_throttle() const;
  Result<void> begin(std::string_view export_name, std::span<const engine::Value> args,
                     Stage stage, uint64_t fuel);
  Result<void> begin(std::string_view export_name, std::initializer_list<engine::Value> args,
                     Stage stage, uint64_t fuel) {
    return begin(export_name, std::span<const engine::Value>(args.begin(), args.size()), stage,
                 fuel);
  }
  Result<void> after(Stage stage, std::span<const engine::Value> results);
  Result<void> begin_delivery(actor::Envelope envelope);
  Result<void> begin_handler();
  Result<void> write_delivery();
  Result<void> open_inbox();
  Result<void> next_init_stage(Stage done);
  bool exports(std::string_view name) const;
  // The exports every message looks for, found once per instance.
  struct MessageExports {
    bool handle_message = false;
    bool handle_reply = false;
    bool alloc = false;
    bool dealloc = false;
  };
  const MessageExports& message_exports();
  // One guest-call slice of the running call, then whatever follows it.
  Result<actor::StepResult> run_calls(actor::ActorContext& ctx);

  ComponentSystem& system_;
  std::shared_ptr<ComponentSystem::Entry> entry_;
  ComponentPort port_;
  actor::Address self_;
  std::unique_ptr<host::ComponentLog> log_;  // outlives context_, which points to it
  std::unique_ptr<host::ComponentContext> context_;
  std::unique_ptr<engine::Store> store_;
  std::shared_ptr<engine::Instance> instance_;
  std::unique_ptr<engine::Call> call_;
  int64_t cpu_carry_ns_ = 0;  // spent, not yet charged: less than a microsecond
  std::optional<int64_t> throttled_window_;  // the last window a throttle was audited in
  Stage stage_ = Stage::None;
  bool created_ = false;
  bool ready_ = false;
  bool tier_up_done_ = false;  // the native build was taken up, or found unusable
  bool tier_tick_pending_ = false;
  // A timer message to the actor itself; correlation ids of requests start at 1.
  static constexpr uint64_t kTierUpTick = 0;
  static constexpr std::chrono::milliseconds kTierUpPoll{50};
  engine::Tier tier_ = engine::Tier::Interp;

  // The message being delivered: guest-memory layout [sender][topic][payload].
  std::optional<actor::Envelope> delivering_;
  std::vector<uint8_t> staging_;  // [sender][topic][payload] on its way into guest memory
  std::optional<MessageExports> message_exports_;
  uint32_t buffer_ = 0;
  uint32_t buffer_size_ = 0;
  uint32_t inbox_ = 0;       // the component's receive buffer (airssys_inbox), if any
  uint32_t inbox_size_ = 0;
  bool in_inbox_ = false;
  int32_t reply_status_ = 0;

  std::unordered_map<uint64_t, actor::TimerId> awaiting_;       // my requests
  std::unordered_map<uint64_t, actor::Address> requesters_;     // requests I received
};

// --- ComponentPort ----------------------------------------------------------

AbiError ComponentPort::deliver(std::string_view target, actor::Envelope envelope,
                                std::string_view what) {
  const auto& sender = self_->spec.name;
  std::shared_lock route(system_.route_mutex_);
  auto entry = system_.find(target);
  if (!entry) {
    system_.audit(*self_, what, target, AuditResult::Denied, DecisionLayer::Messaging,
                  "no such component");
    return AbiError::NotFound;
  }
  if (envelope.kind != actor::MessageKind::Reply) {
    auto admitted = entry->spec.security->check(Permission::MsgReceive, sender);
    if (!admitted.granted) {
      system_.audit(*self_, what, target, AuditResult::Denied, DecisionLayer::Messaging,
                    fmt::format("'{}' does not admit messages from '{}' (messaging.receive: {})",
                                target, sender, admitted.reason_text()));
      return AbiError::Denied;
    }
  }
  if (!actor_.context().consume_quota(what, target, security::QuotaKind::MessageRate, 1)) {
    return AbiError::Quota;  // audited with the usage, the request and the limit
  }
  // Replies find the sender by id; the name it shows is the component's,
  // whichever actor (version) runs it.
  envelope.sender = actor::Address{actor_.self().id, sender};
  envelope.target = actor::Address::named(entry->actor_name);
  auto sent = system_.scheduler_.send(std::move(envelope));
  if (!sent) {
    bool full = sent.error().code == ErrorCode::MailboxFull;
    system_.audit(*self_, what, target, AuditResult::Denied, DecisionLayer::Messaging,
                  full ? "the receiver's mailbox is full" : sent.error().message);
    return full ? AbiError::Full : AbiError::Unavailable;
  }
  return AbiError::Ok;
}

AbiError ComponentPort::send(std::string_view target, std::span<const uint8_t> payload) {
  actor::Envelope envelope;
  envelope.kind = actor::MessageKind::Send;
  envelope.payload.assign(payload.begin(), payload.end());
  return deliver(target, std::move(envelope), "messaging.send");
}

int64_t ComponentPort::request(std::string_view target, std::span<const uint8_t> payload,
                               uint32_t timeout_ms) {
  actor::Envelope envelope;
  envelope.kind = actor::MessageKind::Request;
  envelope.correlation_id = system_.next_correlation();
  envelope.payload.assign(payload.begin(), payload.end());
  uint64_t correlation = envelope.correlation_id;
  AbiError sent = deliver(target, std::move(envelope), "messaging.request");
  if (sent != AbiError::Ok) return static_cast<int64_t>(sent);
  actor::Envelope timeout;
  timeout.kind = actor::MessageKind::Timeout;
  timeout.correlation_id = correlation;
  timeout.target = actor_.self();
  timeout.sender = actor_.self();
  uint32_t ms = timeout_ms == 0 ? 30'000 : timeout_ms;
  auto timer = system_.scheduler_.send_after(std::chrono::milliseconds(ms), std::move(timeout));
  actor_.expect_reply(correlation, timer);
  return static_cast<int64_t>(correlation);
}

AbiError ComponentPort::reply(uint64_t correlation_id, std::span<const uint8_t> payload) {
  auto requester = actor_.take_requester(correlation_id);
  if (!requester) return AbiError::NoRequest;
  actor::Envelope envelope;
  envelope.kind = actor::MessageKind::Reply;
  envelope.correlation_id = correlation_id;
  envelope.payload.assign(payload.begin(), payload.end());
  envelope.sender = actor::Address{actor_.self().id, self_->spec.name};
  envelope.target = *requester;
  auto sent = system_.scheduler_.send(std::move(envelope));
  if (!sent) {
    system_.audit(*self_, "messaging.reply", requester->to_string(), AuditResult::Denied,
                  DecisionLayer::Messaging, sent.error().message);
    return sent.error().code == ErrorCode::MailboxFull ? AbiError::Full : AbiError::Unavailable;
  }
  return AbiError::Ok;
}

int32_t ComponentPort::publish(std::string_view topic, std::span<const uint8_t> payload) {
  if (!security::is_valid_topic(topic)) return static_cast<int32_t>(AbiError::Invalid);
  if (!actor_.context().consume_quota("messaging.publish", topic,
                                      security::QuotaKind::MessageRate, 1)) {
    return static_cast<int32_t>(AbiError::Quota);
  }
  std::vector<std::pair<std::string, std::string>> targets;  // component, actor
  std::shared_lock route(system_.route_mutex_);
  {
    std::lock_guard lock(system_.mutex_);
    for (const auto& [name, entry] : system_.entries_) {
      for (const auto& s : entry->subscriptions) {
        if (s.pattern.matches(topic)) {
          targets.emplace_back(name, entry->actor_name);
          break;
        }
      }
    }
  }
  int32_t reached = 0;
  for (const auto& [name, actor_name] : targets) {
    actor::Envelope envelope;
    envelope.kind = actor::MessageKind::Send;
    envelope.topic = std::string(topic);
    envelope.payload.assign(payload.begin(), payload.end());
    envelope.sender = actor::Address{actor_.self().id, self_->spec.name};
    envelope.target = actor::Address::named(actor_name);
    auto sent = system_.scheduler_.send(std::move(envelope));
    if (sent) {
      ++reached;
    } else {
      system_.audit(*self_, "messaging.publish", name, AuditResult::Denied,
                    DecisionLayer::Messaging,
                    fmt::format("topic {} not delivered to '{}': {}", topic, name,
                                sent.error().message));
    }
  }
  return reached;
}

AbiError ComponentPort::subscribe(std::string_view filter) {
  auto pattern = security::TopicPattern::compile(filter);
  if (!pattern) return AbiError::Invalid;
  std::lock_guard lock(system_.mutex_);
  for (const auto& s : self_->subscriptions) {
    if (s.filter == filter) return AbiError::Ok;
  }
  self_->subscriptions.push_back({std::string(filter), std::move(*pattern)});
  return AbiError::Ok;
}

AbiError ComponentPort::unsubscribe(std::string_view filter) {
  std::lock_guard lock(system_.mutex_);
  auto& subs = self_->subscriptions;
  std::erase_if(subs, [&](const auto& s) { return s.filter == filter; });
  return AbiError::Ok;
}

// --- ComponentActor ---------------------------------------------------------

bool ComponentActor::exports(std::string_view name) const {
  for (const auto& e : entry_->spec.module->exports()) {
    if (e.name == name && e.kind == engine::ExternKind::Func) return true;
  }
  return false;
}

const ComponentActor::MessageExports& ComponentActor::message_exports() {
  if (!message_exports_) {
    message_exports_ = MessageExports{exports(kExportHandleMessage), exports(kExportHandleReply),
                                      exports(kExportAlloc), exports(kExportDealloc)};
  }
  return *message_exports_;
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
    ComponentSystem* system = &system_;
    log_ = std::make_unique<host::ComponentLog>(
        spec.name, spec.log_sink, spec.log_limits, [system, entry](uint64_t dropped) {
          system->audit(*entry, "log.write", "log", AuditResult::Denied, DecisionLayer::Quota,
                        fmt::format("log rate limit: {} lines dropped so far", dropped));
        });
    context_->set_log(log_.get());
  }
  context_->set_kv(system_.options_.kv);

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
  auto instance = store_->instantiate(*module, system_.linker_, instance_options());
  if (!instance) return std::unexpected(instance.error());
  instance_ = std::move(*instance);
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

Result<void> ComponentActor::begin(std::string_view export_name,
                                   std::span<const engine::Value> args, Stage stage,
                                   uint64_t fuel) {
  engine::CallOptions options;
  options.fuel = fuel;
  options.slice = entry_->spec.slice;
  auto call = instance_->start_call(export_name, args, options);
  if (!call) return std::unexpected(call.error());
  call_ = std::move(*call);
  stage_ = stage;
  return {};
}

Result<void> ComponentActor::next_init_stage(Stage done) {
  const auto& spec = entry_->spec;
  if (done == Stage::None && exports(kExportInitialize)) {
    return begin(kExportInitialize, {}, Stage::Initialize, spec.fuel_per_message);
  }
  if ((done == Stage::None || done == Stage::Initialize) && exports(kExportInit)) {
    // The configuration travels like a message payload: allocate, write, call.
    delivering_ = actor::Envelope{};
    delivering_->payload.assign(spec.config_json.begin(), spec.config_json.end());
    if (!exports(kExportAlloc)) {
      return make_error(ErrorCode::MissingExport,
                        fmt::format("component '{}' exports {} but not {}", spec.name,
                                    kExportInit, kExportAlloc));
    }
    buffer_size_ = static_cast<uint32_t>(delivering_->payload.size());
    return begin(kExportAlloc, {engine::Value::i32(static_cast<int32_t>(buffer_size_))},
                 Stage::Alloc, spec.fuel_per_message);
  }
  ready_ = true;
  if (auto inbox = open_inbox(); !inbox) return inbox;
  system_.set_state(*entry_, ComponentState::Ready);
  return {};
}

Result<void> ComponentActor::begin_delivery(actor::Envelope envelope) {
  const auto& spec = entry_->spec;
  bool is_reply = envelope.kind == actor::MessageKind::Reply ||
                  envelope.kind == actor::MessageKind::Timeout;
  if (is_reply) {
    auto it = awaiting_.find(envelope.correlation_id);
    if (it == awaiting_.end()) return {};  // the other of reply/timeout already arrived
    if (envelope.kind == actor::MessageKind::Reply) system_.scheduler_.cancel(it->second);
    awaiting_.erase(it);
    reply_status_ = envelope.kind == actor::MessageKind::Reply
                        ? 0
                        : static_cast<int32_t>(AbiError::Timeout);
  }
  std::string_view handler = is_reply ? kExportHandleReply : kExportHandleMessage;
  const auto& found = message_exports();
  if (!(is_reply ? found.handle_reply : found.handle_message)) {
    system_.audit(*entry_, "messaging.deliver", envelope.sender.to_string(), AuditResult::Denied,
                  DecisionLayer::Messaging,
                  fmt::format("'{}' exports no {}: message not delivered", spec.name, handler));
    return {};
  }
  if (envelope.kind == actor::MessageKind::Request) {
    requesters_[envelope.correlation_id] = envelope.sender;
  }
  delivering_ = std::move(envelope);
  uint64_t size = delivering_->payload.size() +
                  (is_reply ? 0 : delivering_->sender.name.size() +
                                      delivering_->topic.value_or("").size());
  buffer_size_ = static_cast<uint32_t>(size);
  buffer_ = 0;
  if (size != 0 && size <= inbox_size_) {
    // The component's own receive buffer: one guest call per message.
    buffer_ = inbox_;
    in_inbox_ = true;
    if (auto written = write_delivery(); !written) return written;
    return begin_handler();
  }
  if (size == 0 || !found.alloc) {
    if (size != 0) {
      return make_error(ErrorCode::MissingExport,
                        fmt::format("component '{}' receives messages but exports no {}",
                                    spec.name, kExportAlloc));
    }
    return begin_handler();
  }
  return begin(kExportAlloc, {engine::Value::i32(static_cast<int32_t>(size))}, Stage::Alloc,
               spec.fuel_per_message);
}

// Writes [sender][topic][payload] (or the configuration) at buffer_.
Result<void> ComponentActor::write_delivery() {
  auto& bytes = staging_;  // keeps its capacity from message to message
  bytes.clear();
  auto& env = *delivering_;
  bool is_reply =
      env.kind == actor::MessageKind::Reply || env.kind == actor::MessageKind::Timeout;
  if (ready_ && !is_reply) {
    bytes.insert(bytes.end(), env.sender.name.begin(), env.sender.name.end());
    if (env.topic) bytes.insert(bytes.end(), env.topic->begin(), env.topic->end());
  }
  bytes.insert(bytes.end(), env.payload.begin(), env.payload.end());
  return instance_->write_memory(buffer_, bytes);
}

Result<void> ComponentActor::open_inbox() {
  if (!exports(kExportInbox)) return {};
  engine::CallOptions options;
  options.fuel = 1'000'000;
  auto r = instance_->call(kExportInbox, {}, options);
  if (!r) return std::unexpected(r.error());
  uint64_t packed = r->empty() ? 0 : static_cast<uint64_t>((*r)[0].as_i64());
  uint32_t ptr = static_cast<uint32_t>(packed >> 32);
  uint32_t size = static_cast<uint32_t>(packed);
  if (ptr == 0 || size == 0 || uint64_t{ptr} + size > instance_->memory_bytes()) {
    return make_error(ErrorCode::TrapHost,
                      fmt::format("component '{}': {} names [{}, +{}), not a buffer in its "
                                  "memory",
                                  entry_->spec.name, kExportInbox, ptr, size));
  }
  inbox_ = ptr;
  inbox_size_ = size;
  return {};
}

Result<void> ComponentActor::begin_handler() {
  const auto& spec = entry_->spec;
  auto& env = *delivering_;
  if (!ready_) {  // airssys_init(config_ptr, config_len)
    return begin(kExportInit,
                 {engine::Value::i32(static_cast<int32_t>(buffer_)),
                  engine::Value::i32(static_cast<int32_t>(buffer_size_))},
                 Stage::Init, spec.fuel_per_message);
  }
  uint32_t at = buffer_;
  if (env.kind == actor::MessageKind::Reply || env.kind == actor::MessageKind::Timeout) {
    return begin(kExportHandleReply,
                 {engine::Value::i64(static_cast<int64_t>(env.correlation_id)),
                  engine::Value::i32(reply_status_), engine::Value::i32(static_cast<int32_t>(at)),
                  engine::Value::i32(static_cast<int32_t>(env.payload.size()))},
                 Stage::Handle, spec.fuel_per_message);
  }
  auto kind = env.topic ? GuestMessageKind::Publish
                        : env.kind == actor::MessageKind::Request ? GuestMessageKind::Request
                                                                  : GuestMessageKind::Send;
  uint32_t sender_len = static_cast<uint32_t>(env.sender.name.size());
  uint32_t topic_len = static_cast<uint32_t>(env.topic.value_or("").size());
  return begin(kExportHandleMessage,
               {engine::Value::i32(static_cast<int32_t>(kind)),
                engine::Value::i64(static_cast<int64_t>(env.correlation_id)),
                engine::Value::i32(static_cast<int32_t>(at)),
                engine::Value::i32(static_cast<int32_t>(sender_len)),
                engine::Value::i32(static_cast<int32_t>(at + sender_len)),
                engine::Value::i32(static_cast<int32_t>(topic_len)),
                engine::Value::i32(static_cast<int32_t>(at + sender_len + topic_len)),
                engine::Value::i32(static_cast<int32_t>(env.payload.size()))},
               Stage::Handle, spec.fuel_per_message);
}

Result<void> ComponentActor::after(Stage stage, std::span<const engine::Value> results) {
  const auto& spec = entry_->spec;
  switch (stage) {
    case Stage::Initialize:
      return next_init_stage(Stage::Initialize);
    case Stage::Alloc: {
      int32_t ptr = results.empty() ? 0 : results[0].as_i32();
      if (ptr == 0 && ready_ && delivering_) {
        // The receiver has no room for this message: the message is dropped
        // on record and the component carries on (a requester's timeout
        // fires). A sender must not be able to crash its receiver this way.
        system_.audit(*entry_, "messaging.deliver", delivering_->sender.to_string(),
                      AuditResult::Denied, DecisionLayer::Messaging,
                      fmt::format("'{}' could not allocate {} bytes for the message: dropped",
                                  spec.name, buffer_size_));
        if (delivering_->kind == actor::MessageKind::Request) {
          requesters_.erase(delivering_->correlation_id);
        }
        delivering_.reset();
        buffer_ = 0;
        return {};
      }
      if (ptr == 0) {
        return make_error(ErrorCode::TrapHost,
                          fmt::format("component '{}': {} returned no memory for {} bytes",
                                      spec.name, kExportAlloc, buffer_size_));
      }
      buffer_ = static_cast<uint32_t>(ptr);
      if (auto written = write_delivery(); !written) return written;
      return begin_handler();
    }
    case Stage::Init: {
      int32_t status = results.empty() ? 0 : results[0].as_i32();
      if (status != 0) {
        return make_error(ErrorCode::TrapHost,
                          fmt::format("component '{}': {} failed with status {}", spec.name,
                                      kExportInit, status));
      }
      [[fallthrough]];
    }
    case Stage::Handle:
      if (stage == Stage::Handle) system_.count_handled(*entry_);
      if (in_inbox_) {
        in_inbox_ = false;
        buffer_ = 0;
      }
      if (buffer_ != 0 && message_exports().dealloc) {
        auto ptr = buffer_;
        buffer_ = 0;
        return begin(kExportDealloc,
                     {engine::Value::i32(static_cast<int32_t>(ptr)),
                      engine::Value::i32(static_cast<int32_t>(buffer_size_))},
                     Stage::Dealloc, spec.fuel_per_message);
      }
      [[fallthrough]];
    case Stage::Dealloc:
      delivering_.reset();
      buffer_ = 0;
      if (!ready_) return next_init_stage(Stage::Init);
      return {};
    case Stage::Shutdown:
    case Stage::None:
      return {};
  }
  return {};
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
      if (envelope->kind == actor::MessageKind::Timeout &&
          envelope->correlation_id == kTierUpTick && envelope->sender.id == self_.id) {
        tier_tick_pending_ = false;
        continue;
      }
      ++messages;
      if (auto ok = begin_delivery(std::move(*envelope)); !ok) {
        system_.set_state(*entry_, ComponentState::Failed, ok.error());
        return std::unexpected(ok.error());
      }
      if (!call_) continue;  // nothing to run for this one (a late reply, no handler)
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
  const auto& build = entry_->spec.tier_up;
  if (build && !tier_up_done_ && !tier_tick_pending_) {
    actor::Envelope tick;
    tick.kind = actor::MessageKind::Timeout;
    tick.correlation_id = kTierUpTick;
    tick.target = self_;
    tick.sender = self_;
    system_.scheduler_.send_after(kTierUpPoll, std::move(tick));
    tier_tick_pending_ = true;
  }
  return actor::StepResult::Idle;
}

void ComponentActor::on_stop(actor::ActorContext& ctx, const actor::ExitReason& reason) {
  (void)ctx;
  const auto& spec = entry_->spec;
  call_.reset();  // a call suspended mid-slice is cancelled cleanly
  if (instance_ && ready_ && reason.kind != actor::ExitKind::Failed && exports(kExportShutdown)) {
    engine::CallOptions options;
    // The shutdown export gets a bounded budget: about the given timeout's worth.
    options.fuel = 50'000ull * static_cast<uint64_t>(system_.options_.shutdown_timeout.count());
    auto r = instance_->call(kExportShutdown, {}, options);
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

// --- ComponentSystem --------------------------------------------------------

ComponentSystem::ComponentSystem(actor::Scheduler& scheduler, ComponentSystemOptions options)
    : scheduler_(scheduler), options_(std::move(options)) {
  // One linker for every instance: the host functions find their component
  // through the instance's user data, so they are the same for all.
  host::add_wasi(linker_);
  host::add_messaging(linker_);
  host::add_kv(linker_);
  host::add_log(linker_);
  host::add_http(linker_);
  if (options_.supervisor.name == "supervisor") options_.supervisor.name = "components";
  auto user_handler = options_.supervisor.on_event;
  options_.supervisor.on_event = [this, user_handler](const actor::SupervisorEvent& event) {
    if (event.kind == actor::SupervisorEventKind::ChildRestarted) {
      std::lock_guard lock(mutex_);
      for (auto& [name, entry] : entries_) {
        if (entry->actor_name == event.child) ++entry->status.restarts;
      }
    }
    if (event.kind == actor::SupervisorEventKind::ChildGaveUp) {
      // A component over its own restart intensity stays down, on record.
      std::shared_ptr<Entry> gone;
      {
        std::lock_guard lock(mutex_);
        for (auto& [name, entry] : entries_) {
          if (entry->actor_name == event.child) gone = entry;
        }
        if (gone) {
          gone->status.state = ComponentState::Failed;
          if (event.error) gone->status.last_error = event.error;
        }
      }
      if (gone) {
        audit(*gone, "lifecycle.restart", gone->spec.name, AuditResult::Denied,
              DecisionLayer::Component,
              event.error ? event.error->message : "restart intensity exceeded");
      }
    }
    if (user_handler) user_handler(event);
  };
  auto supervisor = actor::Supervisor::start(scheduler_, options_.supervisor, {});
  if (supervisor) supervisor_ = std::move(*supervisor);
}

ComponentSystem::~ComponentSystem() { stop(); }

void ComponentSystem::stop() {
  if (supervisor_) supervisor_->stop();
  // Actors refer to this system until they are gone: wait for the last one
  // to finish its slice and be destroyed by the scheduler.
  {
    std::unique_lock lock(live_mutex_);
    live_changed_.wait_for(lock, options_.shutdown_timeout + std::chrono::seconds(10),
                           [this] { return live_actors_ == 0; });
  }
  // A component that failed just as the supervisor stopped may still hold
  // its name with a kept mailbox: what it holds is reported now, while this
  // system can still count and audit it.
  std::vector<std::string> actors;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, entry] : entries_) actors.push_back(entry->actor_name);
  }
  for (const auto& actor_name : actors) (void)scheduler_.release(actor_name);
}

void ComponentSystem::count_undelivered(Entry& entry,
                                        const std::vector<actor::DeadLetter>& letters) {
  // The component's own request timeouts and timer ticks are not messages
  // anyone sent it.
  const auto count = static_cast<uint64_t>(
      std::count_if(letters.begin(), letters.end(), [](const actor::DeadLetter& letter) {
        return letter.envelope.kind != actor::MessageKind::Timeout;
      }));
  if (count == 0) return;
  const uint64_t total = entry.undelivered.fetch_add(count, std::memory_order_relaxed) + count;
  const auto first = std::find_if(letters.begin(), letters.end(), [](const auto& letter) {
    return letter.envelope.kind != actor::MessageKind::Timeout;
  });
  audit(entry, "messaging.deliver", entry.spec.name, AuditResult::Denied,
        DecisionLayer::Messaging,
        fmt::format("{} queued message{} to '{}' dropped undelivered ({} in all): {}", count,
                    count == 1 ? "" : "s", entry.spec.name, total, first->reason.message));
}

Result<void> ComponentSystem::start(ComponentSpec spec) {
  if (!supervisor_) return make_error(ErrorCode::InternalError, "the supervisor did not start");
  if ((!options_.engine && !spec.engine) || !spec.module || !spec.security) {
    return make_error(ErrorCode::InvalidArgument,
                      "a component needs an engine, a module and a security context");
  }
  if (spec.name != spec.security->component_id()) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("component name '{}' differs from its security context's '{}'",
                                  spec.name, spec.security->component_id()));
  }
  auto entry = std::make_shared<Entry>();
  entry->spec = std::move(spec);
  entry->quota = std::make_shared<security::QuotaTracker>(entry->spec.security->quotas());
  entry->actor_name = entry->spec.name;
  const std::string name = entry->spec.name;
  {
    std::lock_guard lock(mutex_);
    if (entries_.contains(name)) {
      return make_error(ErrorCode::ActorNameTaken,
                        fmt::format("a component named '{}' is already running", name));
    }
    entries_.emplace(name, entry);
  }
  auto started = supervisor_->start_child(child_spec(entry));
  if (!started) {
    std::lock_guard lock(mutex_);
    entries_.erase(name);
    return std::unexpected(started.error());
  }
  return {};
}

actor::ChildSpec ComponentSystem::child_spec(const std::shared_ptr<Entry>& entry) {
  actor::ChildSpec child;
  child.name = entry->actor_name;
  child.policy = entry->spec.restart;
  child.mailbox_capacity = entry->spec.mailbox_capacity;
  // The mailbox belongs to the component, not to one instance: what is
  // queued behind a trap is delivered after the restart, and a sender during
  // the restart meets the mailbox's back-pressure, not a missing receiver.
  child.keep_mailbox = true;
  child.on_undelivered = [this, entry](const std::vector<actor::DeadLetter>& letters) {
    count_undelivered(*entry, letters);
  };
  // Every start, first or restart, builds a fresh actor around the same entry:
  // the same security context object, the same quota limits.
  child.factory = [this, entry]() -> Result<std::unique_ptr<actor::Behavior>> {
    {
      std::lock_guard lock(mutex_);
      entry->subscriptions.clear();
      entry->status.state = ComponentState::Creating;
    }
    return std::make_unique<ComponentActor>(*this, entry);
  };
  return child;
}

bool ComponentSystem::wait_gone(const std::string& actor_name,
                                std::chrono::milliseconds timeout) {
  // Gone from the scheduler's names and forgotten by the supervisor (which
  // learns of an exit after the name is released), so the name can be reused.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto known = [&] {
    if (scheduler_.lookup(actor_name)) return true;
    auto children = supervisor_->child_names();
    return std::find(children.begin(), children.end(), actor_name) != children.end();
  };
  while (known()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

Result<ComponentStatus> ComponentSystem::stop_component(std::string_view name,
                                                        std::chrono::milliseconds timeout) {
  if (!supervisor_) return make_error(ErrorCode::InternalError, "the supervisor did not start");
  std::shared_ptr<Entry> entry;
  {
    std::unique_lock route(route_mutex_);
    std::lock_guard lock(mutex_);
    auto it = entries_.find(std::string(name));
    if (it == entries_.end()) {
      return make_error(ErrorCode::ActorNotFound, fmt::format("no component named '{}'", name));
    }
    entry = it->second;
    entries_.erase(it);
  }
  (void)supervisor_->remove_child(entry->actor_name, actor::StopMode::Drain);
  if (!wait_gone(entry->actor_name, timeout)) {
    if (auto address = scheduler_.lookup(entry->actor_name)) {
      (void)scheduler_.stop(*address, actor::StopMode::Immediate);
    }
    (void)wait_gone(entry->actor_name, options_.shutdown_timeout + std::chrono::seconds(10));
  }
  std::lock_guard lock(mutex_);
  return status_locked(*entry);
}

Result<ComponentStatus> ComponentSystem::upgrade(ComponentSpec next,
                                                 std::chrono::milliseconds ready_timeout) {
  if (!supervisor_) return make_error(ErrorCode::InternalError, "the supervisor did not start");
  if ((!options_.engine && !next.engine) || !next.module || !next.security) {
    return make_error(ErrorCode::InvalidArgument,
                      "a component needs an engine, a module and a security context");
  }
  if (next.name != next.security->component_id()) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("component name '{}' differs from its security context's '{}'",
                                  next.name, next.security->component_id()));
  }
  const std::string name = next.name;
  auto old = find(name);
  if (!old) {
    return make_error(ErrorCode::ActorNotFound, fmt::format("no component named '{}'", name));
  }
  auto entry = std::make_shared<Entry>();
  entry->spec = std::move(next);
  // The new version continues the old one's usage: an upgrade, like a
  // restart, opens no fresh rate window.
  entry->quota = std::make_shared<security::QuotaTracker>(entry->spec.security->quotas());
  entry->quota->carry_over(*old->quota);
  entry->cpu_time_us.store(old->cpu_time_us.load(std::memory_order_relaxed));
  entry->fuel_used.store(old->fuel_used.load(std::memory_order_relaxed));
  entry->hold.store(true, std::memory_order_release);
  {
    std::lock_guard lock(mutex_);
    entry->actor_name = fmt::format("{}~{}", name, ++generation_);
  }
  // On probation until it is Ready: a failing new version is not restarted,
  // so it costs the supervisor's restart intensity nothing.
  auto child = child_spec(entry);
  child.policy = actor::RestartPolicy::Temporary;
  AIRSSYS_TRY(supervisor_->start_child(std::move(child)));

  // The new instance must be Ready (initialized, inbox open) before it takes traffic.
  auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  std::optional<Error> failure;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      auto state = entry->status.state;
      if (state == ComponentState::Ready) break;
      if (state == ComponentState::Failed || state == ComponentState::Terminated) {
        failure = entry->status.last_error.value_or(
            Error{ErrorCode::InternalError, "the new instance stopped while starting", {}, 0});
      }
    }
    if (!failure && std::chrono::steady_clock::now() >= deadline) {
      failure = Error{ErrorCode::InternalError,
                      fmt::format("the new instance of '{}' was not ready within {} ms", name,
                                  ready_timeout.count()),
                      {},
                      0};
    }
    if (failure) {
      (void)supervisor_->remove_child(entry->actor_name);
      (void)wait_gone(entry->actor_name, options_.shutdown_timeout + std::chrono::seconds(10));
      failure->message = fmt::format("upgrade of '{}' abandoned, the running version stays: {}",
                                     name, failure->message);
      return std::unexpected(std::move(*failure));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  (void)supervisor_->set_restart_policy(entry->actor_name, entry->spec.restart);
  {
    std::unique_lock route(route_mutex_);
    std::lock_guard lock(mutex_);
    auto it = entries_.find(name);
    if (it == entries_.end() || it->second != old) {
      // Stopped or upgraded by someone else meanwhile: keep theirs.
      (void)supervisor_->remove_child(entry->actor_name);
      return make_error(ErrorCode::InvalidTransition,
                        fmt::format("'{}' changed while the upgrade started", name));
    }
    it->second = entry;
  }
  // The old instance delivers what it already holds, then ends; only then
  // does the new one deliver what arrived since the switch.
  (void)supervisor_->remove_child(old->actor_name, actor::StopMode::Drain);
  if (!wait_gone(old->actor_name, options_.shutdown_timeout + std::chrono::seconds(30))) {
    if (auto address = scheduler_.lookup(old->actor_name)) {
      (void)scheduler_.stop(*address, actor::StopMode::Immediate);
    }
    (void)wait_gone(old->actor_name, options_.shutdown_timeout + std::chrono::seconds(10));
  }
  // A held actor with queued messages looks again every millisecond, and
  // one with none is woken by the next message.
  entry->hold.store(false, std::memory_order_release);
  std::lock_guard lock(mutex_);
  return status_locked(*old);
}

Result<void> ComponentSystem::send_from_host(std::string_view target,
                                             std::vector<uint8_t> payload) {
  std::shared_lock route(route_mutex_);
  auto entry = find(target);
  if (!entry) {
    return make_error(ErrorCode::ActorNotFound, fmt::format("no component named '{}'", target));
  }
  // The host is a sender like any other: the receiver admits it by name
  // (messaging.receive = ["host"], a name no component may take) or not at all.
  const std::string_view host = security::kHostSenderName;
  if (auto admitted = entry->spec.security->check(Permission::MsgReceive, host);
      !admitted.granted) {
    std::string reason = fmt::format(
        "'{}' does not admit messages from the host (messaging.receive: {}); grant "
        "messaging.receive = [\"{}\"] in its Component.toml to accept them",
        target, admitted.reason_text(), host);
    audit(*entry, "messaging.receive", host, AuditResult::Denied, DecisionLayer::Messaging,
          reason);
    return make_error(ErrorCode::CapabilityDenied, std::move(reason));
  }
  actor::Envelope envelope;
  envelope.kind = actor::MessageKind::Send;
  envelope.sender = actor::Address::named(std::string(host));
  envelope.target = actor::Address::named(entry->actor_name);
  envelope.payload = std::move(payload);
  return scheduler_.send(std::move(envelope));
}

std::shared_ptr<ComponentSystem::Entry> ComponentSystem::find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(name));
  return it == entries_.end() ? nullptr : it->second;
}

void ComponentSystem::audit(const Entry& who, std::string_view permission,
                            std::string_view resource, AuditResult result, DecisionLayer layer,
                            std::string_view reason) const {
  if (!options_.audit) return;
  security::AuditRecord r;
  r.component = who.spec.name;
  r.resource = std::string(resource);
  r.permission = std::string(permission);
  r.result = result;
  r.trust = who.spec.security->trust_level();
  r.reason = std::string(reason);
  r.layer = layer;
  options_.audit->record(std::move(r));
}

void ComponentSystem::set_state(Entry& entry, ComponentState state, std::optional<Error> error) {
  std::lock_guard lock(mutex_);
  entry.status.state = state;
  if (error) entry.status.last_error = std::move(error);
}

void ComponentSystem::count_handled(Entry& entry) {
  entry.handled.fetch_add(1, std::memory_order_relaxed);
}

ComponentStatus ComponentSystem::status_locked(const Entry& entry) const {
  ComponentStatus status = entry.status;
  status.messages_handled = entry.handled.load(std::memory_order_relaxed);
  status.undelivered = entry.undelivered.load(std::memory_order_relaxed);
  return status;
}

std::optional<ComponentStatus> ComponentSystem::status(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(name));
  if (it == entries_.end()) return std::nullopt;
  ComponentStatus status = status_locked(*it->second);
  status.quotas = it->second->quota->snapshot();
  status.cpu_time_us = it->second->cpu_time_us.load(std::memory_order_relaxed);
  status.fuel_used = it->second->fuel_used.load(std::memory_order_relaxed);
  return status;
}

std::optional<ComponentStatus> ComponentSystem::await_settled(
    std::string_view name, std::chrono::steady_clock::time_point deadline) const {
  for (;;) {
    auto st = status(name);
    if (!st || st->state == ComponentState::Ready || st->state == ComponentState::Failed ||
        st->state == ComponentState::Terminated || std::chrono::steady_clock::now() >= deadline) {
      return st;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void ComponentSystem::count_throttled(Entry& entry) {
  std::lock_guard lock(mutex_);
  ++entry.status.throttled;
}

std::vector<std::string> ComponentSystem::names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

}  // namespace airssys::wasm::component
