#include "airssys/wasm/actor/supervisor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include "airssys/wasm/actor/scheduler.hpp"

namespace airssys::wasm::actor {

const char* restart_policy_name(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::Permanent:
      return "permanent";
    case RestartPolicy::Transient:
      return "transient";
    case RestartPolicy::Temporary:
      return "temporary";
  }
  return "unknown";
}

const char* restart_strategy_name(RestartStrategy strategy) {
  switch (strategy) {
    case RestartStrategy::OneForOne:
      return "one-for-one";
    case RestartStrategy::OneForAll:
      return "one-for-all";
    case RestartStrategy::RestForOne:
      return "rest-for-one";
  }
  return "unknown";
}

const char* supervisor_event_kind_name(SupervisorEventKind kind) {
  switch (kind) {
    case SupervisorEventKind::ChildStarted:
      return "child started";
    case SupervisorEventKind::ChildFailed:
      return "child failed";
    case SupervisorEventKind::ChildRestarted:
      return "child restarted";
    case SupervisorEventKind::ChildStopped:
      return "child stopped";
    case SupervisorEventKind::GaveUp:
      return "gave up";
    case SupervisorEventKind::ChildGaveUp:
      return "gave up on child";
    case SupervisorEventKind::Stopped:
      return "stopped";
  }
  return "unknown";
}

std::string SupervisorEvent::to_string() const {
  std::string out =
      fmt::format("supervisor '{}': {}", supervisor, supervisor_event_kind_name(kind));
  if (!child.empty()) out += fmt::format(" '{}' {}", child, address.to_string());
  if (kind == SupervisorEventKind::ChildRestarted) {
    out +=
        fmt::format(" after {} ms (restart {} in period)",
                    std::chrono::duration_cast<std::chrono::milliseconds>(delay).count(), restarts);
  }
  if (error) out += ": " + error->to_string();
  return out;
}

Duration Backoff::delay(uint32_t attempt) const {
  if (kind == BackoffKind::Immediate || attempt == 0) return Duration::zero();
  const double base = static_cast<double>(initial.count());
  const double cap = static_cast<double>(max.count());
  double value =
      kind == BackoffKind::Linear ? base * attempt : base * std::pow(factor, attempt - 1.0);
  // Compared in double first: a large attempt overflows any integer duration.
  if (!(value < cap)) return max;
  return Duration(static_cast<Duration::rep>(value));
}

namespace {

Result<void> validate_spec(const ChildSpec& spec) {
  if (spec.name.empty()) return make_error(ErrorCode::InvalidArgument, "a child needs a name");
  if (!spec.factory) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("child '{}' has no behaviour factory", spec.name));
  }
  if (spec.mailbox_capacity == 0) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("child '{}' needs a mailbox capacity of at least 1", spec.name));
  }
  return {};
}

Result<void> validate_options(const SupervisorOptions& options) {
  const Backoff& b = options.backoff;
  if (b.initial < Duration::zero() || b.max < Duration::zero()) {
    return make_error(ErrorCode::InvalidArgument, "back-off durations must not be negative");
  }
  if (b.kind == BackoffKind::Exponential && !(b.factor >= 1.0)) {
    return make_error(ErrorCode::InvalidArgument, "an exponential back-off needs a factor >= 1");
  }
  if (options.intensity.period <= Duration::zero()) {
    return make_error(ErrorCode::InvalidArgument, "the restart intensity period must be positive");
  }
  return {};
}

bool restarts_after(RestartPolicy policy, const ExitReason& reason) {
  switch (policy) {
    case RestartPolicy::Permanent:
      return true;
    case RestartPolicy::Transient:
      return reason.kind == ExitKind::Failed;
    case RestartPolicy::Temporary:
      return false;
  }
  return false;
}

void prune(std::deque<TimePoint>& times, TimePoint now, Duration period) {
  while (!times.empty() && now - times.front() >= period) times.pop_front();
}

}  // namespace

struct Supervisor::State : std::enable_shared_from_this<Supervisor::State> {
  enum class ChildStatus : uint8_t {
    Running,
    Terminating,      // stopped by the supervisor, to be restarted or left down
    Removing,         // stopped by remove_child, forgotten on exit
    AwaitingRestart,  // down; a restart is scheduled or waits for its group
    Down,             // down for good (exited normally, or the supervisor stopped)
  };

  struct Child {
    explicit Child(ChildSpec spec) : spec(std::move(spec)) {}

    ChildSpec spec;
    ChildStatus status = ChildStatus::Down;
    Address address;
    uint64_t incarnation = 0;    // of the running instance; older exits are ignored
    uint64_t restart_token = 0;  // of the pending one-for-one restart timer
    TimerId restart_timer = 0;
    bool remove_on_exit = false;  // remove_child while Terminating
    Duration pending_delay{};
    std::deque<TimePoint> restarts;  // this child's, within the intensity period
    std::shared_ptr<Mailbox> mailbox;  // ChildSpec::keep_mailbox: kept across restarts
  };

  State(Scheduler& scheduler, SupervisorOptions options)
      : scheduler(scheduler), options(std::move(options)) {}

  Scheduler& scheduler;
  const SupervisorOptions options;

  mutable std::mutex mutex;
  std::vector<Child> children;  // start order
  std::deque<TimePoint> restarts;
  SupervisorState phase = SupervisorState::Running;
  std::optional<Error> failure;
  uint64_t next_token = 1;
  // The pending group restart (one-for-all, rest-for-one).
  size_t terminating = 0;
  bool group_pending = false;
  Duration group_delay{};
  uint64_t group_token = 0;
  TimerId group_timer = 0;
  // Events wait here and are delivered in order by one thread at a time.
  std::deque<SupervisorEvent> events;
  bool emitting = false;
  std::thread::id emitter;
  bool detached = false;
  std::condition_variable emit_cv;
  // Kept mailboxes of children that will not start again, released by
  // flush_events() once the lock is dropped (a release reports to callbacks).
  std::vector<std::string> releases;

  Child* find(std::string_view name) {
    for (auto& child : children)
      if (child.spec.name == name) return &child;
    return nullptr;
  }

  size_t index_of(const Child& child) const {
    return static_cast<size_t>(&child - children.data());
  }

  // The child will not start again: its kept mailbox, if it holds the
  // child's name, gives up what it holds.
  void release_mailbox(const Child& child) {
    if (child.spec.keep_mailbox) releases.push_back(child.spec.name);
  }

  void erase(const Child& child) {
    release_mailbox(child);
    children.erase(children.begin() + static_cast<std::ptrdiff_t>(index_of(child)));
  }

  void enqueue(SupervisorEventKind kind, const Child* child, std::optional<Error> error = {},
               Duration delay = {}) {
    SupervisorEvent event;
    event.kind = kind;
    event.supervisor = options.name;
    event.error = std::move(error);
    event.delay = delay;
    event.restarts = static_cast<uint32_t>(restarts.size());
    event.time = scheduler.now();
    if (child) {
      event.child = child->spec.name;
      event.address = child->address;
    }
    events.push_back(std::move(event));
  }

  void flush_events() {
    std::unique_lock lock(mutex);
    while (!releases.empty()) {
      std::vector<std::string> names = std::move(releases);
      releases.clear();
      lock.unlock();
      for (const auto& name : names) (void)scheduler.release(name);
      lock.lock();
    }
    if (emitting) return;
    emitting = true;
    emitter = std::this_thread::get_id();
    while (!events.empty() && !detached) {
      SupervisorEvent event = std::move(events.front());
      events.pop_front();
      lock.unlock();
      if (options.on_event) options.on_event(event);
      lock.lock();
    }
    emitting = false;
    emit_cv.notify_all();
  }

  // Builds a fresh behaviour and spawns it under the child's name.
  Result<Address> launch(Child& child) {
    Result<std::unique_ptr<Behavior>> behavior = [&]() -> Result<std::unique_ptr<Behavior>> {
      try {
        return child.spec.factory();
      } catch (const std::exception& e) {
        return make_error(ErrorCode::InternalError, fmt::format("factory threw: {}", e.what()));
      } catch (...) {
        return make_error(ErrorCode::InternalError, "factory threw");
      }
    }();
    if (!behavior) return std::unexpected(std::move(behavior).error());
    if (!*behavior) {
      return make_error(
          ErrorCode::InvalidArgument,
          fmt::format("the factory of child '{}' returned no behaviour", child.spec.name));
    }
    uint64_t incarnation = next_token++;
    std::weak_ptr<State> weak = weak_from_this();
    SpawnOptions spawn_options{child.spec.name, child.spec.mailbox_capacity,
                               [weak, name = child.spec.name, incarnation](
                                   const Address& address, const ExitReason& reason) {
                                 if (auto self = weak.lock())
                                   self->on_child_exit(name, incarnation, address, reason);
                               }};
    if (child.spec.keep_mailbox) {
      // A mailbox closed by a stop request reported its messages: a new one.
      if (!child.mailbox || child.mailbox->closed()) {
        child.mailbox = std::make_shared<Mailbox>(child.spec.mailbox_capacity);
      }
      spawn_options.mailbox = child.mailbox;
    }
    spawn_options.on_undelivered = child.spec.on_undelivered;
    auto address = scheduler.spawn(std::move(*behavior), std::move(spawn_options));
    if (!address) return address;
    child.status = ChildStatus::Running;
    child.address = *address;
    child.incarnation = incarnation;
    return address;
  }

  bool has_live_children() const {
    return std::any_of(children.begin(), children.end(), [](const Child& c) {
      return c.status == ChildStatus::Running || c.status == ChildStatus::Terminating ||
             c.status == ChildStatus::Removing;
    });
  }

  // After stop() or giving up: report once the last child is down.
  void finish_if_all_down() {
    if (phase != SupervisorState::Stopping && phase != SupervisorState::GivingUp) return;
    if (has_live_children()) return;
    if (phase == SupervisorState::GivingUp) {
      phase = SupervisorState::GaveUp;
      enqueue(SupervisorEventKind::GaveUp, nullptr, failure);
    } else {
      phase = SupervisorState::Stopped;
      enqueue(SupervisorEventKind::Stopped, nullptr);
    }
  }

  void cancel_restarts() {
    if (group_timer != 0) (void)scheduler.cancel(group_timer);
    group_timer = 0;
    group_token = 0;
    group_pending = false;
    for (auto& child : children) {
      if (child.restart_timer != 0) (void)scheduler.cancel(child.restart_timer);
      child.restart_timer = 0;
      child.restart_token = 0;
    }
  }

  // Stops every running child, last started first; nothing is restarted.
  void wind_down(SupervisorState next) {
    phase = next;
    cancel_restarts();
    for (auto it = children.rbegin(); it != children.rend(); ++it) {
      if (it->status == ChildStatus::Running) {
        it->status = ChildStatus::Terminating;
        (void)scheduler.stop(it->address);
      } else {
        // Down for good now, the child that made the supervisor give up too.
        if (it->status == ChildStatus::AwaitingRestart) it->status = ChildStatus::Down;
        if (it->status == ChildStatus::Down) release_mailbox(*it);
      }
    }
    std::erase_if(children, [](const Child& c) {
      return c.status == ChildStatus::Down && c.spec.policy == RestartPolicy::Temporary;
    });
    finish_if_all_down();
  }

  void give_up(const Child& child, const std::optional<Error>& cause) {
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(options.intensity.period);
    failure = make_error(ErrorCode::SupervisorGaveUp,
                         fmt::format("supervisor '{}' gave up: child '{}' needed more than {} "
                                     "restarts in {} ms{}{}",
                                     options.name, child.spec.name, options.intensity.max_restarts,
                                     millis.count(), cause ? "; last error: " : "",
                                     cause ? cause->to_string() : ""))
                  .error();
    wind_down(SupervisorState::GivingUp);
  }

  // IntensityScope::Child: this child alone is over its intensity. It stays
  // down and is forgotten; the others are not touched.
  void give_up_child(Child& child, const std::optional<Error>& cause) {
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(options.intensity.period);
    Error error = make_error(ErrorCode::SupervisorGaveUp,
                             fmt::format("supervisor '{}' gave up on child '{}': it needed more "
                                         "than {} restarts in {} ms{}{}",
                                         options.name, child.spec.name,
                                         options.intensity.max_restarts, millis.count(),
                                         cause ? "; last error: " : "",
                                         cause ? cause->to_string() : ""))
                      .error();
    child.status = ChildStatus::Down;
    enqueue(SupervisorEventKind::ChildGaveUp, &child, std::move(error));
    erase(child);
  }

  // The child is down and its policy wants it back: count the restart against
  // the intensity, then restart it (and its group) after the back-off.
  void trigger_restart(Child& child, const std::optional<Error>& cause) {
    const TimePoint now = scheduler.now();
    prune(restarts, now, options.intensity.period);
    prune(child.restarts, now, options.intensity.period);
    if (options.intensity.scope == IntensityScope::Child) {
      if (child.restarts.size() >= options.intensity.max_restarts) {
        give_up_child(child, cause);
        return;
      }
    } else if (restarts.size() >= options.intensity.max_restarts) {
      give_up(child, cause);
      return;
    }
    restarts.push_back(now);
    child.restarts.push_back(now);
    const Duration delay = options.backoff.delay(static_cast<uint32_t>(child.restarts.size()));
    child.status = ChildStatus::AwaitingRestart;
    child.pending_delay = delay;

    if (options.strategy == RestartStrategy::OneForOne) {
      if (delay == Duration::zero()) {
        restart_child(child);
        return;
      }
      uint64_t token = next_token++;
      child.restart_token = token;
      std::weak_ptr<State> weak = weak_from_this();
      child.restart_timer = scheduler.schedule(delay, [weak, name = child.spec.name, token] {
        if (auto self = weak.lock()) self->on_child_timer(name, token);
      });
      return;
    }

    const size_t first = options.strategy == RestartStrategy::OneForAll ? 0 : index_of(child) + 1;
    for (size_t i = first; i < children.size(); ++i) {
      Child& sibling = children[i];
      if (&sibling == &child || sibling.status != ChildStatus::Running) continue;
      sibling.status = ChildStatus::Terminating;
      ++terminating;
      (void)scheduler.stop(sibling.address);
    }
    group_pending = true;
    group_delay = delay;
    if (group_timer != 0) (void)scheduler.cancel(group_timer);
    group_timer = 0;
    group_token = 0;
    schedule_group_if_ready();
  }

  void schedule_group_if_ready() {
    if (!group_pending || terminating != 0) return;
    group_pending = false;
    if (group_delay == Duration::zero()) {
      restart_group();
      return;
    }
    uint64_t token = next_token++;
    group_token = token;
    std::weak_ptr<State> weak = weak_from_this();
    group_timer = scheduler.schedule(group_delay, [weak, token] {
      if (auto self = weak.lock()) self->on_group_timer(token);
    });
  }

  void restart_child(Child& child) {
    child.restart_timer = 0;
    child.restart_token = 0;
    auto address = launch(child);
    if (!address) {
      child.status = ChildStatus::AwaitingRestart;
      enqueue(SupervisorEventKind::ChildFailed, &child, address.error());
      trigger_restart(child, address.error());
      return;
    }
    enqueue(SupervisorEventKind::ChildRestarted, &child, std::nullopt, child.pending_delay);
  }

  // Restarts, in start order, every child waiting for the group. A child that
  // cannot start ends the pass; its own restart brings the rest along.
  void restart_group() {
    group_timer = 0;
    group_token = 0;
    for (size_t i = 0; i < children.size() && phase == SupervisorState::Running; ++i) {
      if (children[i].status != ChildStatus::AwaitingRestart) continue;
      Child& child = children[i];
      auto address = launch(child);
      if (!address) {
        enqueue(SupervisorEventKind::ChildFailed, &child, address.error());
        trigger_restart(child, address.error());
        return;
      }
      enqueue(SupervisorEventKind::ChildRestarted, &child, std::nullopt, group_delay);
    }
  }

  void on_child_timer(const std::string& name, uint64_t token) {
    {
      std::lock_guard lock(mutex);
      Child* child = find(name);
      if (phase != SupervisorState::Running || !child || child->restart_token != token ||
          child->status != ChildStatus::AwaitingRestart) {
        return;
      }
      restart_child(*child);
    }
    flush_events();
  }

  void on_group_timer(uint64_t token) {
    {
      std::lock_guard lock(mutex);
      if (phase != SupervisorState::Running || token != group_token) return;
      restart_group();
    }
    flush_events();
  }

  void on_child_exit(const std::string& name, uint64_t incarnation, const Address& address,
                     const ExitReason& reason) {
    {
      std::lock_guard lock(mutex);
      Child* child = find(name);
      if (!child || child->incarnation != incarnation) return;
      const ChildStatus was = child->status;
      child->address = address;
      child->status = ChildStatus::Down;
      const bool failed = reason.kind == ExitKind::Failed;
      enqueue(failed ? SupervisorEventKind::ChildFailed : SupervisorEventKind::ChildStopped, child,
              reason.error);

      if (was == ChildStatus::Removing) {
        erase(*child);
        finish_if_all_down();
      } else if (phase != SupervisorState::Running) {
        if (child->remove_on_exit || child->spec.policy == RestartPolicy::Temporary) {
          erase(*child);
        } else {
          release_mailbox(*child);
        }
        finish_if_all_down();
      } else if (was == ChildStatus::Terminating) {
        // Part of a group restart: it comes back with the group, unless
        // temporary or removed meanwhile.
        --terminating;
        if (child->remove_on_exit || child->spec.policy == RestartPolicy::Temporary) {
          erase(*child);
        } else {
          child->status = ChildStatus::AwaitingRestart;
        }
        schedule_group_if_ready();
      } else if (!restarts_after(child->spec.policy, reason)) {
        if (child->spec.policy == RestartPolicy::Temporary) {
          erase(*child);
        } else {
          release_mailbox(*child);
        }
      } else {
        trigger_restart(*child, reason.error);
      }
    }
    flush_events();
  }
};

Supervisor::Supervisor(std::shared_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<Supervisor>> Supervisor::start(Scheduler& scheduler,
                                                      SupervisorOptions options,
                                                      std::vector<ChildSpec> children) {
  AIRSSYS_TRY(validate_options(options));
  std::set<std::string, std::less<>> names;
  for (const auto& spec : children) {
    AIRSSYS_TRY(validate_spec(spec));
    if (!names.insert(spec.name).second) {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("two children are named '{}'", spec.name));
    }
  }
  auto state = std::make_shared<State>(scheduler, std::move(options));
  {
    std::lock_guard lock(state->mutex);
    for (auto& spec : children) {
      state->children.push_back(State::Child{std::move(spec)});
      auto& child = state->children.back();
      if (auto address = state->launch(child); !address) {
        auto error =
            make_error(address.error().code,
                       fmt::format("supervisor '{}' could not start child '{}': {}",
                                   state->options.name, child.spec.name, address.error().message));
        // The supervisor never existed for anyone: stop what started, quietly.
        state->detached = true;
        state->wind_down(SupervisorState::Stopping);
        return error;
      }
      state->enqueue(SupervisorEventKind::ChildStarted, &child);
    }
  }
  state->flush_events();
  return std::unique_ptr<Supervisor>(new Supervisor(std::move(state)));
}

Supervisor::~Supervisor() {
  stop();
  std::unique_lock lock(state_->mutex);
  state_->detached = true;
  state_->emit_cv.wait(
      lock, [&] { return !state_->emitting || state_->emitter == std::this_thread::get_id(); });
}

Result<Address> Supervisor::start_child(ChildSpec spec) {
  AIRSSYS_TRY(validate_spec(spec));
  Result<Address> address;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->phase != SupervisorState::Running) {
      return make_error(ErrorCode::ActorStopped,
                        fmt::format("supervisor '{}' is not running", state_->options.name));
    }
    if (state_->find(spec.name)) {
      return make_error(ErrorCode::ActorNameTaken,
                        fmt::format("supervisor '{}' already has a child named '{}'",
                                    state_->options.name, spec.name));
    }
    state_->children.push_back(State::Child{std::move(spec)});
    auto& child = state_->children.back();
    address = state_->launch(child);
    if (!address) {
      state_->children.pop_back();
      return address;
    }
    state_->enqueue(SupervisorEventKind::ChildStarted, &child);
  }
  state_->flush_events();
  return address;
}

Result<void> Supervisor::remove_child(std::string_view name) {
  return remove_child(name, StopMode::Immediate);
}

Result<void> Supervisor::remove_child(std::string_view name, StopMode mode) {
  {
    std::lock_guard lock(state_->mutex);
    State::Child* child = state_->find(name);
    if (!child) {
      return make_error(
          ErrorCode::ActorNotFound,
          fmt::format("supervisor '{}' has no child named '{}'", state_->options.name, name));
    }
    switch (child->status) {
      case State::ChildStatus::Running:
        child->status = State::ChildStatus::Removing;
        (void)state_->scheduler.stop(child->address, mode);
        break;
      case State::ChildStatus::Terminating:
        child->remove_on_exit = true;
        break;
      case State::ChildStatus::Removing:
        break;
      case State::ChildStatus::AwaitingRestart:
      case State::ChildStatus::Down:
        if (child->restart_timer != 0) (void)state_->scheduler.cancel(child->restart_timer);
        state_->erase(*child);  // releases its kept mailbox
        break;
    }
  }
  state_->flush_events();
  return {};
}

Result<void> Supervisor::set_restart_policy(std::string_view name, RestartPolicy policy) {
  std::lock_guard lock(state_->mutex);
  State::Child* child = state_->find(name);
  if (!child) {
    return make_error(
        ErrorCode::ActorNotFound,
        fmt::format("supervisor '{}' has no child named '{}'", state_->options.name, name));
  }
  child->spec.policy = policy;
  return {};
}

void Supervisor::stop() {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->phase != SupervisorState::Running) return;
    state_->wind_down(SupervisorState::Stopping);
  }
  state_->flush_events();
}

std::optional<Address> Supervisor::child_address(std::string_view name) const {
  std::lock_guard lock(state_->mutex);
  State::Child* child = state_->find(name);
  if (!child || child->status != State::ChildStatus::Running) return std::nullopt;
  return child->address;
}

std::vector<std::string> Supervisor::child_names() const {
  std::lock_guard lock(state_->mutex);
  std::vector<std::string> names;
  for (const auto& child : state_->children) names.push_back(child.spec.name);
  return names;
}

SupervisorState Supervisor::state() const {
  std::lock_guard lock(state_->mutex);
  return state_->phase;
}

std::optional<Error> Supervisor::failure() const {
  std::lock_guard lock(state_->mutex);
  return state_->failure;
}

}  // namespace airssys::wasm::actor
