#include "scheduler_core.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <thread>

namespace airssys::wasm::actor::detail {
namespace {

Error error_of(ErrorCode code, std::string message) {
  return Error::of(code, std::move(message));
}

Result<StepResult> invoke_step(Behavior& behavior, ActorContext& ctx) {
  try {
    return behavior.step(ctx);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("{} threw from step: {}", ctx.self().to_string(), e.what()));
  } catch (...) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("{} threw from step", ctx.self().to_string()));
  }
}

// A throwing on_stop turns a clean exit into a failure; it is never hidden.
void invoke_on_stop(Behavior& behavior, ActorContext& ctx, ExitReason& reason) {
  std::optional<std::string> thrown;
  try {
    behavior.on_stop(ctx, reason);
  } catch (const std::exception& e) {
    thrown = e.what();
  } catch (...) {
    thrown = "unknown exception";
  }
  if (thrown && reason.kind != ExitKind::Failed) {
    reason = ExitReason{ExitKind::Failed, error_of(ErrorCode::InternalError,
                                                   fmt::format("{} threw from on_stop: {}",
                                                               ctx.self().to_string(), *thrown))};
  }
}

}  // namespace

Result<Address> SchedulerCore::spawn(std::unique_ptr<Behavior> behavior, SpawnOptions options) {
  if (!behavior) return make_error(ErrorCode::InvalidArgument, "spawn without a behaviour");
  if (options.mailbox_capacity == 0) {
    return make_error(ErrorCode::InvalidArgument, "a mailbox needs a capacity of at least 1");
  }
  Lock lock(mutex_);
  if (!accepting_) {
    return make_error(ErrorCode::SchedulerStopped,
                      fmt::format("cannot spawn '{}': the scheduler is shut down", options.name));
  }
  if (!options.name.empty() && names_.contains(options.name)) {
    return make_error(ErrorCode::ActorNameTaken,
                      fmt::format("an actor named '{}' is already running", options.name));
  }
  const bool kept = options.mailbox != nullptr;
  if (kept && options.mailbox->closed()) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("cannot spawn '{}': its kept mailbox is closed", options.name));
  }
  if (auto reserved = reserved_.find(options.name); reserved != reserved_.end()) {
    // Only the kept mailbox that holds the name may take it back.
    if (reserved->second.mailbox != options.mailbox) {
      return make_error(ErrorCode::ActorNameTaken,
                        fmt::format("the name '{}' is held by the mailbox of an actor waiting "
                                    "to be restarted",
                                    options.name));
    }
    reserved_.erase(reserved);
  }
  auto box = kept ? std::move(options.mailbox)
                  : std::make_shared<Mailbox>(options.mailbox_capacity);
  Address address{next_id_++, std::move(options.name)};
  auto cell = std::make_shared<Cell>(address, std::move(behavior), std::move(box), kept,
                                     std::move(options.on_exit),
                                     std::move(options.on_undelivered));
  cells_.emplace(address.id, cell);
  if (!address.name.empty()) names_.emplace(address.name, address.id);
  ++live_;
  run_queue_.push_back(std::move(cell));
  queued_.store(run_queue_.size(), std::memory_order_release);
  work_cv_.notify_one();
  return address;
}

const std::shared_ptr<Cell>* SchedulerCore::resolve(const Address& address) const {
  if (address.id != 0) {
    auto it = cells_.find(address.id);
    if (it == cells_.end()) return nullptr;
    if (!address.name.empty() && it->second->address.name != address.name) return nullptr;
    return &it->second;
  }
  if (address.name.empty()) return nullptr;
  auto name = names_.find(address.name);
  if (name == names_.end()) return nullptr;
  return &cells_.at(name->second);
}

void SchedulerCore::make_ready(const std::shared_ptr<Cell>& cell, bool by_worker) {
  cell->state = CellState::Queued;
  const bool alone = run_queue_.empty();
  run_queue_.push_back(cell);
  queued_.store(run_queue_.size(), std::memory_order_release);
  if (!(by_worker && alone)) work_cv_.notify_one();
}

Result<void> SchedulerCore::send(Envelope&& envelope) {
  Lock lock(mutex_);
  size_t woken = 0;
  AIRSSYS_TRY(send_locked(std::move(envelope), &woken));
  if (woken != 0) work_cv_.notify_one();
  return {};
}

size_t SchedulerCore::send_all(std::span<Envelope> envelopes,
                               const std::function<void(size_t, const Error&)>& refused) {
  std::vector<std::pair<size_t, Error>> failures;
  size_t accepted = 0;
  size_t woken = 0;
  {
    Lock lock(mutex_);
    for (size_t i = 0; i < envelopes.size(); ++i) {
      auto sent = send_locked(std::move(envelopes[i]), &woken);
      if (sent) {
        ++accepted;
      } else {
        failures.emplace_back(i, std::move(sent).error());
      }
    }
    if (woken == 1) {
      work_cv_.notify_one();
    } else if (woken > 1) {
      work_cv_.notify_all();
    }
  }
  if (refused) {
    for (const auto& [index, error] : failures) refused(index, error);
  }
  return accepted;
}

Result<void> SchedulerCore::send_locked(Envelope&& envelope, size_t* woken) {
  const auto* found = resolve(envelope.target);
  if (found == nullptr) {
    if (envelope.target.id == 0 && !envelope.target.name.empty()) {
      // Between two instances of a restarted actor: its kept mailbox queues.
      auto reserved = reserved_.find(envelope.target.name);
      if (reserved != reserved_.end()) return reserved->second.mailbox->push(std::move(envelope));
    }
    return make_error(ErrorCode::ActorNotFound,
                      fmt::format("no actor at {}", envelope.target.to_string()));
  }
  const auto& cell = *found;
  AIRSSYS_TRY(cell->mailbox.push(std::move(envelope)));
  if (cell->state == CellState::Waiting) {  // a sleeper sleeps on
    cell->state = CellState::Queued;
    run_queue_.push_back(cell);
    queued_.store(run_queue_.size(), std::memory_order_release);
    ++*woken;
  }
  return {};
}

Result<void> SchedulerCore::stop(const Address& address, StopMode mode) {
  Lock lock(mutex_);
  const auto* found = resolve(address);
  if (found == nullptr) {
    return make_error(ErrorCode::ActorNotFound, fmt::format("no actor at {}", address.to_string()));
  }
  const auto& cell = *found;
  // Immediate overrides Drain, never the other way round.
  if (!cell->stop || mode == StopMode::Immediate) cell->stop = mode;
  cell->mailbox.close();
  if (cell->state == CellState::Waiting || cell->state == CellState::Sleeping) make_ready(cell);
  return {};
}

std::optional<Address> SchedulerCore::lookup(std::string_view name) const {
  Lock lock(mutex_);
  auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  return Address{it->second, it->first};
}

bool SchedulerCore::release(std::string_view name) {
  Reservation reservation;
  {
    Lock lock(mutex_);
    auto it = reserved_.find(name);
    if (it == reserved_.end()) return false;
    reservation = std::move(it->second);
    reserved_.erase(it);
  }
  discard(std::string(name), std::move(reservation));
  return true;
}

void SchedulerCore::discard(const std::string& name, Reservation reservation) {
  reservation.mailbox->close();
  std::vector<DeadLetter> letters;
  for (auto& envelope : reservation.mailbox->drain()) {
    letters.push_back(DeadLetter{
        std::move(envelope),
        error_of(ErrorCode::ActorStopped,
                 fmt::format("'{}' ended and was not started again before the message was "
                             "delivered",
                             name))});
  }
  report(std::move(letters), reservation.on_undelivered);
}

bool SchedulerCore::alive(const Address& address) const {
  Lock lock(mutex_);
  return resolve(address) != nullptr;
}

size_t SchedulerCore::actor_count() const {
  Lock lock(mutex_);
  return cells_.size();
}

void SchedulerCore::run_cell(Lock& lock, std::shared_ptr<Cell> cell) {
  cell->state = CellState::Running;
  bool finish_now = cell->stop == StopMode::Immediate ||
                    (cell->stop == StopMode::Drain && !cell->yielded && cell->mailbox.empty());
  if (finish_now) {
    retire(*cell);
    finish(lock, cell, ExitReason{ExitKind::Stopped, std::nullopt});
    return;
  }
  lock.unlock();
  Duration sleep = Duration::zero();
  Result<StepResult> result = [&] {
    ActorContext ctx(owner_, cell->mailbox, cell->address);
    auto r = invoke_step(*cell->behavior, ctx);
    sleep = ctx.sleep_delay();
    return r;
  }();
  lock.lock();
  if (auto exit = after_step(cell, std::move(result), sleep)) {
    retire(*cell);
    finish(lock, cell, std::move(*exit));
  }
}

std::optional<ExitReason> SchedulerCore::after_step(const std::shared_ptr<Cell>& cell,
                                                    Result<StepResult> result,
                                                    Duration sleep) {
  if (!result) return ExitReason{ExitKind::Failed, std::move(result).error()};
  if (*result == StepResult::Stop) return ExitReason{ExitKind::Normal, std::nullopt};
  if (cell->stop == StopMode::Immediate) return ExitReason{ExitKind::Stopped, std::nullopt};
  if (*result == StepResult::Sleep && sleep > Duration::zero() && !cell->stop && accepting_) {
    cell->yielded = true;
    cell->state = CellState::Sleeping;
    std::weak_ptr<Cell> weak = cell;
    schedule_locked(sleep, Timer{[this, weak] { wake(weak); }, std::nullopt});
    return std::nullopt;
  }
  if (*result == StepResult::Yield || *result == StepResult::Sleep) {
    cell->yielded = true;
    make_ready(cell, true);
    return std::nullopt;
  }
  cell->yielded = false;
  if (!cell->mailbox.empty()) {
    make_ready(cell, true);
  } else if (cell->stop == StopMode::Drain) {
    return ExitReason{ExitKind::Stopped, std::nullopt};
  } else {
    cell->state = CellState::Waiting;
  }
  return std::nullopt;
}

void SchedulerCore::retire(Cell& cell) {
  cell.state = CellState::Done;
  cells_.erase(cell.address.id);
  if (!cell.address.name.empty()) {
    auto it = names_.find(cell.address.name);
    if (it != names_.end() && it->second == cell.address.id) names_.erase(it);
  }
  // A kept mailbox of an actor nobody asked to stop keeps its messages and
  // the name, for the next instance; any other mailbox closes.
  if (cell.kept && accepting_ && !cell.address.name.empty() && !cell.mailbox.closed() &&
      !names_.contains(cell.address.name) && !reserved_.contains(cell.address.name)) {
    reserved_.emplace(cell.address.name, Reservation{cell.box, cell.on_undelivered});
    cell.reserved = true;
    return;
  }
  cell.mailbox.close();
}

void SchedulerCore::finish(Lock& lock, const std::shared_ptr<Cell>& cell, ExitReason reason) {
  lock.unlock();
  {
    ActorContext ctx(owner_, cell->mailbox, cell->address);
    invoke_on_stop(*cell->behavior, ctx, reason);
  }
  std::vector<DeadLetter> letters;
  // What a reserved kept mailbox holds waits for the next instance.
  if (!cell->reserved) {
    for (auto& envelope : cell->mailbox.drain()) {
      letters.push_back(DeadLetter{
          std::move(envelope),
          error_of(ErrorCode::ActorStopped,
                   fmt::format("{} stopped ({}) before the message was delivered",
                               cell->address.to_string(), exit_kind_name(reason.kind)))});
    }
  }
  report(std::move(letters), cell->on_undelivered);
  cell->behavior.reset();
  if (cell->on_exit) {
    ExitCallback on_exit = std::move(cell->on_exit);
    on_exit(cell->address, reason);
  }
  lock.lock();
  if (--live_ == 0) stopped_cv_.notify_all();
}

void SchedulerCore::report(std::vector<DeadLetter> letters,
                           const UndeliveredHandler& on_undelivered) {
  if (letters.empty()) return;
  dead_letters_.fetch_add(letters.size());
  if (on_undelivered) on_undelivered(letters);
  std::shared_ptr<const DeadLetterHandler> handler;
  {
    Lock lock(mutex_);
    handler = dead_letter_handler_;
  }
  if (!handler || !*handler) return;
  for (auto& letter : letters) (*handler)(std::move(letter));
}

void SchedulerCore::set_dead_letter_handler(DeadLetterHandler handler) {
  auto shared = std::make_shared<const DeadLetterHandler>(std::move(handler));
  Lock lock(mutex_);
  dead_letter_handler_ = std::move(shared);
}

TimePoint SchedulerCore::now() const {
  if (virtual_clock_) return TimePoint(Duration(virtual_now_.load()));
  return Clock::now();
}

void SchedulerCore::wake(const std::weak_ptr<Cell>& weak) {
  Lock lock(mutex_);
  auto cell = weak.lock();
  if (cell && cell->state == CellState::Sleeping) make_ready(cell);
}

TimerId SchedulerCore::schedule_locked(Duration delay, Timer timer) {
  TimerId id = next_timer_++;
  TimePoint deadline = now() + std::max(delay, Duration::zero());
  TimerKey key{deadline, id};
  bool earliest = timers_.empty() || key < timers_.begin()->first;
  timers_.emplace(key, std::move(timer));
  timer_deadlines_.emplace(id, deadline);
  if (earliest) timer_cv_.notify_one();
  return id;
}

TimerId SchedulerCore::schedule(Duration delay, Timer timer) {
  Lock lock(mutex_);
  if (!accepting_) {
    lock.unlock();
    if (timer.envelope) {
      std::vector<DeadLetter> letters;
      letters.push_back(DeadLetter{
          std::move(*timer.envelope),
          error_of(ErrorCode::SchedulerStopped, "the scheduler is shut down; message not sent")});
      report(std::move(letters));
    }
    return 0;
  }
  return schedule_locked(delay, std::move(timer));
}

bool SchedulerCore::cancel(TimerId timer) {
  Lock lock(mutex_);
  auto it = timer_deadlines_.find(timer);
  if (it == timer_deadlines_.end()) return false;
  timers_.erase(TimerKey{it->second, timer});
  timer_deadlines_.erase(it);
  return true;
}

std::optional<std::pair<TimePoint, Timer>> SchedulerCore::pop_due_timer(TimePoint limit) {
  if (timers_.empty() || timers_.begin()->first.first > limit) return std::nullopt;
  auto node = timers_.extract(timers_.begin());
  timer_deadlines_.erase(node.key().second);
  return std::pair{node.key().first, std::move(node.mapped())};
}

void SchedulerCore::fire(Timer timer) {
  if (timer.callback) {
    timer.callback();
    return;
  }
  if (!timer.envelope) return;
  // send() moves from the envelope only on success.
  if (auto sent = send(std::move(*timer.envelope)); !sent) {
    std::vector<DeadLetter> letters;
    letters.push_back(DeadLetter{std::move(*timer.envelope), std::move(sent).error()});
    report(std::move(letters));
  }
}

std::optional<Address> SchedulerCore::run_next() {
  Lock lock(mutex_);
  if (run_queue_.empty()) return std::nullopt;
  auto cell = run_queue_.pop_front();
  queued_.store(run_queue_.size(), std::memory_order_release);
  Address address = cell->address;
  run_cell(lock, std::move(cell));
  return address;
}

void SchedulerCore::spin_for_work(Lock& lock) {
  // About 20 us: a reply or the next message of a conversation usually comes
  // sooner, and a worker woken from the futex takes several microseconds.
  constexpr int kSpins = 2000;
  lock.unlock();
  for (int i = 0; i < kSpins; ++i) {
    if (queued_.load(std::memory_order_acquire) != 0 ||
        stopping_threads_.load(std::memory_order_acquire)) {
      break;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 63) std::this_thread::yield();
  }
  lock.lock();
}

void SchedulerCore::worker_loop() {
  Lock lock(mutex_);
  while (true) {
    if (run_queue_.empty() && !stop_threads_) spin_for_work(lock);
    work_cv_.wait(lock, [&] { return stop_threads_ || !run_queue_.empty(); });
    if (run_queue_.empty()) return;
    auto cell = run_queue_.pop_front();
    queued_.store(run_queue_.size(), std::memory_order_release);
    run_cell(lock, std::move(cell));
  }
}

void SchedulerCore::timer_loop() {
  Lock lock(mutex_);
  while (!stop_threads_) {
    if (timers_.empty()) {
      timer_cv_.wait(lock);
      continue;
    }
    TimePoint deadline = timers_.begin()->first.first;
    if (Clock::now() < deadline) {
      timer_cv_.wait_until(lock, deadline);
      continue;
    }
    auto due = pop_due_timer(deadline);
    lock.unlock();
    fire(std::move(due->second));
    lock.lock();
  }
}

void SchedulerCore::advance(Duration delta) {
  const TimePoint target = now() + std::max(delta, Duration::zero());
  while (true) {
    Lock lock(mutex_);
    auto due = pop_due_timer(target);
    if (!due) {
      virtual_now_.store(target.time_since_epoch().count());
      return;
    }
    // A deadline never lies behind the clock: timers are set at now() or later.
    virtual_now_.store(due->first.time_since_epoch().count());
    lock.unlock();
    fire(std::move(due->second));
  }
}

bool SchedulerCore::advance_to_next_timer() {
  TimePoint deadline;
  {
    Lock lock(mutex_);
    if (timers_.empty()) return false;
    deadline = timers_.begin()->first.first;
  }
  advance(std::max(deadline - now(), Duration::zero()));
  return true;
}

void SchedulerCore::begin_shutdown() {
  std::vector<DeadLetter> letters;
  std::map<std::string, Reservation, std::less<>> reserved;
  {
    Lock lock(mutex_);
    accepting_ = false;
    reserved = std::move(reserved_);
    reserved_.clear();
    for (auto& [key, timer] : timers_) {
      if (!timer.envelope) continue;
      letters.push_back(
          DeadLetter{std::move(*timer.envelope),
                     error_of(ErrorCode::SchedulerStopped,
                              "the scheduler shut down before the delayed message was sent")});
    }
    timers_.clear();
    timer_deadlines_.clear();
    for (auto& [id, cell] : cells_) {
      cell->stop = StopMode::Immediate;
      cell->mailbox.close();
      if (cell->state == CellState::Waiting || cell->state == CellState::Sleeping) {
        make_ready(cell);
      }
    }
  }
  report(std::move(letters));
  for (auto& [name, reservation] : reserved) discard(name, std::move(reservation));
}

bool SchedulerCore::wait_for_all_stopped(std::optional<Duration> timeout) {
  Lock lock(mutex_);
  auto none_alive = [&] { return live_ == 0; };
  if (!timeout) {
    stopped_cv_.wait(lock, none_alive);
    return true;
  }
  return stopped_cv_.wait_for(lock, *timeout, none_alive);
}

void SchedulerCore::stop_threads() {
  Lock lock(mutex_);
  stop_threads_ = true;
  stopping_threads_.store(true, std::memory_order_release);
  work_cv_.notify_all();
  timer_cv_.notify_all();
}

size_t SchedulerCore::ready_count() const {
  Lock lock(mutex_);
  return run_queue_.size();
}

std::optional<TimePoint> SchedulerCore::next_timer() const {
  Lock lock(mutex_);
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.first;
}

}  // namespace airssys::wasm::actor::detail
