#include "airssys/wasm/actor/scheduler.hpp"

#include <algorithm>

#include "scheduler_core.hpp"

namespace airssys::wasm::actor {

Scheduler::Scheduler(bool virtual_clock)
    : core_(std::make_unique<detail::SchedulerCore>(*this, virtual_clock)) {}

Scheduler::~Scheduler() = default;

Result<Address> Scheduler::spawn(std::unique_ptr<Behavior> behavior, SpawnOptions options) {
  return core_->spawn(std::move(behavior), std::move(options));
}

Result<void> Scheduler::send(Envelope&& envelope) {
  return core_->send(std::move(envelope));
}

size_t Scheduler::send_all(std::span<Envelope> envelopes,
                           const std::function<void(size_t, const Error&)>& refused) {
  return core_->send_all(envelopes, refused);
}

Result<void> Scheduler::stop(const Address& address, StopMode mode) {
  return core_->stop(address, mode);
}

bool Scheduler::release(std::string_view name) {
  return core_->release(name);
}

std::optional<Address> Scheduler::lookup(std::string_view name) const {
  return core_->lookup(name);
}

bool Scheduler::alive(const Address& address) const {
  return core_->alive(address);
}

size_t Scheduler::actor_count() const {
  return core_->actor_count();
}

TimerId Scheduler::schedule(Duration delay, std::function<void()> callback) {
  return core_->schedule(delay, detail::Timer{std::move(callback), std::nullopt});
}

TimerId Scheduler::send_after(Duration delay, Envelope envelope) {
  return core_->schedule(delay, detail::Timer{nullptr, std::move(envelope)});
}

bool Scheduler::cancel(TimerId timer) {
  return core_->cancel(timer);
}

TimePoint Scheduler::now() const {
  return core_->now();
}

void Scheduler::set_dead_letter_handler(DeadLetterHandler handler) {
  core_->set_dead_letter_handler(std::move(handler));
}

uint64_t Scheduler::dead_letter_count() const {
  return core_->dead_letter_count();
}

ThreadPoolScheduler::ThreadPoolScheduler(ThreadPoolOptions options) : Scheduler(false) {
  size_t count = options.workers != 0 ? options.workers
                                      : std::max<size_t>(1, std::thread::hardware_concurrency());
  workers_.reserve(count);
  for (size_t i = 0; i < count; ++i) workers_.emplace_back([this] { core().worker_loop(); });
  timer_thread_ = std::thread([this] { core().timer_loop(); });
}

ThreadPoolScheduler::~ThreadPoolScheduler() {
  shutdown();
}

bool ThreadPoolScheduler::wait_for_all_stopped(Duration timeout) {
  return core().wait_for_all_stopped(timeout);
}

void ThreadPoolScheduler::shutdown() {
  if (joined_) return;
  core().begin_shutdown();
  (void)core().wait_for_all_stopped(std::nullopt);
  core().stop_threads();
  for (auto& worker : workers_) worker.join();
  timer_thread_.join();
  joined_ = true;
}

DeterministicScheduler::DeterministicScheduler() : Scheduler(true) {}

DeterministicScheduler::~DeterministicScheduler() {
  shutdown();
}

std::optional<Address> DeterministicScheduler::step() {
  return core().run_next();
}

size_t DeterministicScheduler::run(size_t max_steps) {
  size_t steps = 0;
  while (steps < max_steps && core().run_next()) ++steps;
  return steps;
}

void DeterministicScheduler::advance(Duration delta) {
  core().advance(delta);
}

bool DeterministicScheduler::advance_to_next_timer() {
  return core().advance_to_next_timer();
}

size_t DeterministicScheduler::ready_count() const {
  return core().ready_count();
}

std::optional<TimePoint> DeterministicScheduler::next_timer() const {
  return core().next_timer();
}

void DeterministicScheduler::shutdown() {
  core().begin_shutdown();
  while (core().run_next()) {
  }
}

}  // namespace airssys::wasm::actor
