#include "airssys/wasm/component/runtime.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "actor.hpp"
#include "airssys/wasm/host/http.hpp"
#include "airssys/wasm/host/kv.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "airssys/wasm/security/manifest.hpp"

namespace airssys::wasm::component {

using security::AuditResult;
using security::DecisionLayer;
using security::Permission;

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

ComponentRuntime::ComponentRuntime(actor::Scheduler& scheduler, ComponentRuntimeOptions options)
    : scheduler_(scheduler), options_(std::move(options)),
      host_inbox_state_(std::make_shared<HostInbox>()) {
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

ComponentRuntime::~ComponentRuntime() { stop(); }

void ComponentRuntime::stop() {
  end_host_requests();
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

void ComponentRuntime::count_undelivered(Entry& entry,
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

Result<void> ComponentRuntime::start(ComponentSpec spec) {
  if (!supervisor_) return make_error(ErrorCode::InternalError, "the supervisor did not start");
  if ((!options_.engine && !spec.engine) || (!spec.module && !spec.world) || !spec.security) {
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

actor::ChildSpec ComponentRuntime::child_spec(const std::shared_ptr<Entry>& entry) {
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

bool ComponentRuntime::wait_gone(const std::string& actor_name,
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

Result<ComponentStatus> ComponentRuntime::stop_component(std::string_view name,
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

Result<ComponentStatus> ComponentRuntime::upgrade(ComponentSpec next,
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
            Error::of(ErrorCode::InternalError, "the new instance stopped while starting"));
      }
    }
    if (!failure && std::chrono::steady_clock::now() >= deadline) {
      failure = Error::of(ErrorCode::InternalError,
                          fmt::format("the new instance of '{}' was not ready within {} ms", name,
                                      ready_timeout.count()));
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

Result<void> ComponentRuntime::admit_host_sender(const Entry& entry,
                                                 std::string_view target) const {
  // The host is a sender like any other: the receiver admits it by name
  // (messaging.receive = ["host"], a name no component may take) or not at all.
  const std::string_view host = security::kHostSenderName;
  if (auto admitted = entry.spec.security->check(Permission::MsgReceive, host);
      !admitted.granted) {
    std::string reason = fmt::format(
        "'{}' does not admit messages from the host (messaging.receive: {}); grant "
        "messaging.receive = [\"{}\"] in its Component.toml to accept them",
        target, admitted.reason_text(), host);
    audit(entry, "messaging.receive", host, AuditResult::Denied, DecisionLayer::Messaging,
          reason);
    return make_error(ErrorCode::CapabilityDenied, std::move(reason));
  }
  return {};
}

Result<void> ComponentRuntime::send_from_host(std::string_view target,
                                             std::vector<uint8_t> payload) {
  std::shared_lock route(route_mutex_);
  auto entry = find(target);
  if (!entry) {
    return make_error(ErrorCode::ActorNotFound, fmt::format("no component named '{}'", target));
  }
  AIRSSYS_TRY(admit_host_sender(*entry, target));
  actor::Envelope envelope;
  envelope.kind = actor::MessageKind::Send;
  envelope.sender = actor::Address::named(std::string(security::kHostSenderName));
  envelope.target = actor::Address::named(entry->actor_name);
  envelope.payload = std::move(payload);
  return scheduler_.send(std::move(envelope));
}

struct ComponentRuntime::HostInbox {
  struct Waiter {
    std::optional<std::vector<uint8_t>> reply;
  };
  std::mutex mutex;
  std::condition_variable changed;
  std::unordered_map<uint64_t, Waiter> waiting;  // by correlation id; guarded by mutex
  bool ended = false;                            // guarded by mutex
};

Result<actor::Address> ComponentRuntime::host_inbox() {
  std::lock_guard lock(host_inbox_mutex_);
  if (host_inbox_ && scheduler_.alive(*host_inbox_)) return *host_inbox_;
  // A reply nobody waits for any more (its request timed out) is dropped.
  auto spawned = scheduler_.spawn(
      actor::make_handler_behavior(
          [state = host_inbox_state_](actor::ActorContext&,
                                      actor::Envelope&& e) -> Result<actor::StepResult> {
            if (e.kind != actor::MessageKind::Reply) return actor::StepResult::Idle;
            std::lock_guard lock(state->mutex);
            auto it = state->waiting.find(e.correlation_id);
            if (it != state->waiting.end() && !it->second.reply) {
              it->second.reply = e.payload.to_vector();
              state->changed.notify_all();
            }
            return actor::StepResult::Idle;
          }),
      {.name = std::string(security::kHostSenderName)});
  if (!spawned) return std::unexpected(spawned.error());
  host_inbox_ = *spawned;
  return *spawned;
}

Result<std::vector<uint8_t>> ComponentRuntime::request_from_host(
    std::string_view target, std::vector<uint8_t> payload, std::chrono::milliseconds timeout) {
  auto& state = *host_inbox_state_;
  const uint64_t correlation = next_correlation();
  {
    std::lock_guard lock(state.mutex);
    if (state.ended) return make_error(ErrorCode::HostShutDown, "the host is shutting down");
    state.waiting.emplace(correlation, HostInbox::Waiter{});
  }
  struct Unlist {
    HostInbox& state;
    uint64_t correlation;
    ~Unlist() {
      std::lock_guard lock(state.mutex);
      state.waiting.erase(correlation);
    }
  } unlist{state, correlation};
  {
    std::shared_lock route(route_mutex_);
    auto entry = find(target);
    if (!entry) {
      return make_error(ErrorCode::ActorNotFound, fmt::format("no component named '{}'", target));
    }
    AIRSSYS_TRY(admit_host_sender(*entry, target));
    AIRSSYS_TRY_ASSIGN(auto inbox, host_inbox());
    actor::Envelope envelope;
    envelope.kind = actor::MessageKind::Request;
    envelope.correlation_id = correlation;
    envelope.sender = inbox;  // the component sees the sender "host"
    envelope.target = actor::Address::named(entry->actor_name);
    envelope.payload = std::move(payload);
    AIRSSYS_TRY(scheduler_.send(std::move(envelope)));
  }
  std::unique_lock lock(state.mutex);
  const bool answered = state.changed.wait_for(lock, timeout, [&] {
    return state.ended || state.waiting.at(correlation).reply.has_value();
  });
  auto& waiter = state.waiting.at(correlation);
  if (waiter.reply) return std::move(*waiter.reply);
  if (answered) return make_error(ErrorCode::HostShutDown, "the host is shutting down");
  return make_error(ErrorCode::ReplyTimeout,
                    fmt::format("'{}' did not reply within {} ms", target, timeout.count()));
}

void ComponentRuntime::end_host_requests() {
  auto& state = *host_inbox_state_;
  {
    std::lock_guard lock(state.mutex);
    state.ended = true;
    state.changed.notify_all();
  }
  std::lock_guard lock(host_inbox_mutex_);
  if (host_inbox_) (void)scheduler_.stop(*host_inbox_);
}

std::shared_ptr<ComponentRuntime::Entry> ComponentRuntime::find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(name));
  return it == entries_.end() ? nullptr : it->second;
}

void ComponentRuntime::audit(const Entry& who, std::string_view permission,
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

void ComponentRuntime::set_state(Entry& entry, ComponentState state, std::optional<Error> error) {
  std::lock_guard lock(mutex_);
  entry.status.state = state;
  if (error) entry.status.last_error = std::move(error);
}

void ComponentRuntime::count_handled(Entry& entry) {
  entry.handled.fetch_add(1, std::memory_order_relaxed);
}

ComponentStatus ComponentRuntime::status_locked(const Entry& entry) const {
  ComponentStatus status = entry.status;
  status.messages_handled = entry.handled.load(std::memory_order_relaxed);
  status.undelivered = entry.undelivered.load(std::memory_order_relaxed);
  return status;
}

std::optional<ComponentStatus> ComponentRuntime::status(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(name));
  if (it == entries_.end()) return std::nullopt;
  ComponentStatus status = status_locked(*it->second);
  status.quotas = it->second->quota->snapshot();
  status.cpu_time_us = it->second->cpu_time_us.load(std::memory_order_relaxed);
  status.fuel_used = it->second->fuel_used.load(std::memory_order_relaxed);
  return status;
}

std::optional<ComponentStatus> ComponentRuntime::await_settled(
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

void ComponentRuntime::count_throttled(Entry& entry) {
  std::lock_guard lock(mutex_);
  ++entry.status.throttled;
}

std::vector<std::string> ComponentRuntime::names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

}  // namespace airssys::wasm::component
