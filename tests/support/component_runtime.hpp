#pragma once
// One ComponentRuntime on a scheduler of the test's choice, for the component
// tests: the thread pool (real threads, real time) for what tests real
// concurrency, or the deterministic scheduler (one thread, a virtual clock)
// for what needs neither, so that such a test runs the same way every time
// and waits on nothing but the work it asked for.
//
// On the deterministic scheduler nothing runs until the test drives it:
// run_until() steps the actors, and when none is ready moves the virtual
// clock to the next timer (a restart back-off, a request's timeout), until
// the condition holds or nothing is left to run.

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>

#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"

namespace airssys::wasm::test {

enum class Scheduling { ThreadPool, Deterministic };

class ComponentRuntimeHarness {
 public:
  explicit ComponentRuntimeHarness(Scheduling scheduling = Scheduling::ThreadPool,
                                  size_t workers = 2) {
    if (scheduling == Scheduling::Deterministic) {
      auto scheduler = std::make_unique<actor::DeterministicScheduler>();
      deterministic_ = scheduler.get();
      scheduler_ = std::move(scheduler);
    } else {
      scheduler_ = std::make_unique<actor::ThreadPoolScheduler>(actor::ThreadPoolOptions{workers});
    }
  }
  ~ComponentRuntimeHarness() { stop(); }
  ComponentRuntimeHarness(const ComponentRuntimeHarness&) = delete;
  ComponentRuntimeHarness& operator=(const ComponentRuntimeHarness&) = delete;

  // A system with `options` on this scheduler. On the thread pool a system
  // started before is stopped first; the deterministic scheduler holds one
  // system for its life (a stop waits for actors only a running scheduler
  // ends).
  component::ComponentRuntime& start_system(component::ComponentRuntimeOptions options) {
    if (system_) {
      if (deterministic_) throw std::logic_error("one system per deterministic scheduler");
      system_->stop();
    }
    system_ = std::make_unique<component::ComponentRuntime>(*scheduler_, std::move(options));
    return *system_;
  }

  [[nodiscard]] component::ComponentRuntime& system() { return *system_; }
  [[nodiscard]] actor::Scheduler& scheduler() { return *scheduler_; }
  [[nodiscard]] bool deterministic() const { return deterministic_ != nullptr; }
  // The deterministic scheduler, for a test that drives it slice by slice.
  [[nodiscard]] actor::DeterministicScheduler& stepper() { return *deterministic_; }

  // Until `done()` holds. Deterministic: steps the actors one slice at a
  // time, firing the next timer when none is ready; false once nothing is
  // left to run. Thread pool: checks `done()` every millisecond. Either way
  // false after `deadline`, which only bounds a hang.
  [[nodiscard]] bool run_until(const std::function<bool()>& done,
                               std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      if (!deterministic_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else if (!deterministic_->step() && !deterministic_->advance_to_next_timer()) {
        return done();
      }
    }
    return true;
  }
  // Deterministic: runs every ready actor until none is; timers do not fire.
  size_t settle() { return deterministic_ ? deterministic_->run() : 0; }

  // Stops the system and the scheduler (the deterministic scheduler first:
  // its actors are ended by the shutdown, not by slices nobody runs).
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    if (deterministic_) {
      scheduler_->shutdown();
      if (system_) system_->stop();
    } else {
      if (system_) system_->stop();
      scheduler_->shutdown();
    }
  }

 private:
  std::unique_ptr<actor::Scheduler> scheduler_;
  actor::DeterministicScheduler* deterministic_ = nullptr;
  std::unique_ptr<component::ComponentRuntime> system_;
  bool stopped_ = false;
};

}  // namespace airssys::wasm::test
