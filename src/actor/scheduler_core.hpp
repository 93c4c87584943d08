#pragma once
// The machinery both schedulers share: registry, run queue, cells, timers and
// dead letters, all guarded by one mutex. The thread pool drives it from its
// workers and timer thread; the deterministic scheduler from the test thread.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "airssys/wasm/actor/behavior.hpp"
#include "airssys/wasm/actor/clock.hpp"
#include "airssys/wasm/actor/mailbox.hpp"
#include "airssys/wasm/actor/message.hpp"
#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::actor::detail {

enum class CellState : uint8_t {
  Queued,   // in the run queue
  Running,  // a worker runs its slice or finishes it
  Waiting,  // Idle with an empty mailbox; a message makes it Queued
  Sleeping, // returned Sleep; its timer (or a stop request) makes it Queued
  Done,     // finished; no longer in the registry
};

// One actor. The behaviour and on_exit are touched only by the worker that
// holds the cell in state Running, so they need no lock.
struct Cell {
  Cell(Address address, std::unique_ptr<Behavior> behavior, std::shared_ptr<Mailbox> box,
       bool kept, ExitCallback on_exit, UndeliveredHandler on_undelivered)
      : address(std::move(address)),
        behavior(std::move(behavior)),
        box(std::move(box)),
        mailbox(*this->box),
        kept(kept),
        on_exit(std::move(on_exit)),
        on_undelivered(std::move(on_undelivered)) {}

  const Address address;
  std::unique_ptr<Behavior> behavior;
  const std::shared_ptr<Mailbox> box;
  Mailbox& mailbox;
  const bool kept;  // SpawnOptions::mailbox: it may outlive the actor
  ExitCallback on_exit;
  const UndeliveredHandler on_undelivered;
  // Set by retire(): the kept mailbox now holds the name's reservation and
  // keeps what is queued.
  bool reserved = false;
  // Guarded by SchedulerCore::mutex_.
  CellState state = CellState::Queued;
  bool yielded = true;  // ready without a message: new, or its last step yielded
  std::optional<StopMode> stop;
};

// The ready actors, oldest first: a ring that grows by doubling and keeps
// its storage, so making an actor ready costs no allocation once the ring
// has held as many actors as are ever ready at once.
class RunQueue {
 public:
  [[nodiscard]] bool empty() const { return count_ == 0; }
  [[nodiscard]] size_t size() const { return count_; }
  void push_back(std::shared_ptr<Cell> cell) {
    if (count_ == ring_.size()) grow();
    ring_[(head_ + count_) & (ring_.size() - 1)] = std::move(cell);
    ++count_;
  }
  // The oldest; the queue must not be empty.
  std::shared_ptr<Cell> pop_front() {
    std::shared_ptr<Cell> cell = std::move(ring_[head_]);
    head_ = (head_ + 1) & (ring_.size() - 1);
    --count_;
    return cell;
  }

 private:
  void grow() {
    std::vector<std::shared_ptr<Cell>> bigger(std::max<size_t>(16, ring_.size() * 2));
    for (size_t i = 0; i < count_; ++i) {
      bigger[i] = std::move(ring_[(head_ + i) & (ring_.size() - 1)]);
    }
    ring_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<std::shared_ptr<Cell>> ring_;  // a power of two in size
  size_t head_ = 0;
  size_t count_ = 0;
};

struct Timer {
  std::function<void()> callback;
  std::optional<Envelope> envelope;
};

class SchedulerCore {
 public:
  SchedulerCore(Scheduler& owner, bool virtual_clock)
      : owner_(owner), virtual_clock_(virtual_clock) {}

  [[nodiscard]] Result<Address> spawn(std::unique_ptr<Behavior> behavior, SpawnOptions options);
  [[nodiscard]] Result<void> send(Envelope&& envelope);
  size_t send_all(std::span<Envelope> envelopes,
                  const std::function<void(size_t, const Error&)>& refused);
  [[nodiscard]] Result<void> stop(const Address& address, StopMode mode);
  bool release(std::string_view name);
  [[nodiscard]] std::optional<Address> lookup(std::string_view name) const;
  [[nodiscard]] bool alive(const Address& address) const;
  [[nodiscard]] size_t actor_count() const;

  TimerId schedule(Duration delay, Timer timer);
  bool cancel(TimerId timer);
  [[nodiscard]] TimePoint now() const;

  void set_dead_letter_handler(DeadLetterHandler handler);
  [[nodiscard]] uint64_t dead_letter_count() const { return dead_letters_.load(); }

  // Runs one slice of the head of the run queue, or finishes it when it was
  // asked to stop; nothing when the queue is empty.
  std::optional<Address> run_next();
  // A worker: runs ready actors until stop_threads().
  void worker_loop();
  // The timer thread of the thread pool: fires timers on the steady clock.
  void timer_loop();
  // The virtual clock.
  void advance(Duration delta);
  bool advance_to_next_timer();

  // Refuses new actors and timers, asks every actor to stop, and reports the
  // envelopes of pending timers.
  void begin_shutdown();
  [[nodiscard]] bool wait_for_all_stopped(std::optional<Duration> timeout);
  void stop_threads();

  [[nodiscard]] size_t ready_count() const;
  [[nodiscard]] std::optional<TimePoint> next_timer() const;

 private:
  using Lock = std::unique_lock<std::mutex>;
  using TimerKey = std::pair<TimePoint, TimerId>;

  // The live actor at `address`, or null; points into cells_ (lock held).
  [[nodiscard]] const std::shared_ptr<Cell>* resolve(const Address& address) const;
  // Queues the cell and wakes a sleeping worker. `by_worker`: called by the
  // worker that just ran it, which takes the head of the queue next, so a
  // cell that joins an empty queue needs nobody woken.
  void make_ready(const std::shared_ptr<Cell>& cell, bool by_worker = false);
  // Send's work under the lock: the envelope queued, its actor made ready
  // (without waking a worker: `*woken` counts it instead).
  Result<void> send_locked(Envelope&& envelope, size_t* woken);
  // A worker with nothing to do spins briefly (lock released) before it
  // sleeps: a message that arrives meanwhile costs no futex wake-up.
  void spin_for_work(Lock& lock);
  // Lock held on entry and on return; released while the behaviour runs.
  void run_cell(Lock& lock, std::shared_ptr<Cell> cell);
  [[nodiscard]] std::optional<ExitReason> after_step(const std::shared_ptr<Cell>& cell,
                                                     Result<StepResult> result, Duration sleep);
  // Makes a sleeping actor ready again (its sleep timer fired).
  void wake(const std::weak_ptr<Cell>& cell);
  // schedule() with the lock already held.
  TimerId schedule_locked(Duration delay, Timer timer);
  void retire(Cell& cell);
  void finish(Lock& lock, const std::shared_ptr<Cell>& cell, ExitReason reason);
  void fire(Timer timer);
  void report(std::vector<DeadLetter> letters, const UndeliveredHandler& on_undelivered = {});
  [[nodiscard]] std::optional<std::pair<TimePoint, Timer>> pop_due_timer(TimePoint limit);

  Scheduler& owner_;
  const bool virtual_clock_;
  std::atomic<Duration::rep> virtual_now_{0};
  std::atomic<uint64_t> dead_letters_{0};

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable timer_cv_;
  std::condition_variable stopped_cv_;
  std::unordered_map<ActorId, std::shared_ptr<Cell>> cells_;
  // Looked up by string_view without building a string.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };
  std::unordered_map<std::string, ActorId, NameHash, std::equal_to<>> names_;
  // Names held by a kept mailbox whose actor has ended (SpawnOptions::mailbox).
  struct Reservation {
    std::shared_ptr<Mailbox> mailbox;
    UndeliveredHandler on_undelivered;
  };
  std::map<std::string, Reservation, std::less<>> reserved_;
  // Closes a released reservation's mailbox and reports what it held; no lock held.
  void discard(const std::string& name, Reservation reservation);
  RunQueue run_queue_;
  // run_queue_.size() and stop_threads_, readable without the lock by
  // spinning workers.
  std::atomic<size_t> queued_{0};
  std::atomic<bool> stopping_threads_{false};
  std::map<TimerKey, Timer> timers_;
  std::unordered_map<TimerId, TimePoint> timer_deadlines_;
  std::shared_ptr<const DeadLetterHandler> dead_letter_handler_;
  ActorId next_id_ = 1;
  TimerId next_timer_ = 1;
  size_t live_ = 0;  // spawned and not yet finished, including cells being finished
  bool accepting_ = true;
  bool stop_threads_ = false;
};

}  // namespace airssys::wasm::actor::detail
