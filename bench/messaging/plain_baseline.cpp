// Baseline: plain C++, two threads passing messages through two
// mutex+condvar queues.
#include <deque>

#include "messaging/common.hpp"

namespace airssys::wasm::component::messaging_bench {
namespace {

constexpr uint8_t kPlainQuit = 0;
constexpr uint8_t kPlainAnswer = 'r';

struct PlainMessage {
  uint8_t tag = kPlainQuit;
  uint32_t index = 0;  // a probe's or an ack's; a command's count
  uint32_t count = 0;
  uint64_t sent_at = 0;
};

class PlainQueue {
 public:
  void push(PlainMessage message) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(message);
    }
    cv_.notify_one();
  }
  PlainMessage pop() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !queue_.empty(); });
    PlainMessage message = queue_.front();
    queue_.pop_front();
    return message;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<PlainMessage> queue_;
};

class PlainPair final : public Pair {
 public:
  static Expected<std::unique_ptr<Pair>> start() { return std::make_unique<PlainPair>(); }

  PlainPair() : pinger_([this] { run_pinger(); }), ponger_([this] { run_ponger(); }) {}
  ~PlainPair() override {
    to_pinger_.push({});
    to_ponger_.push({});
    pinger_.join();
    ponger_.join();
  }

  Expected<Samples> one_way(uint32_t count) override {
    to_pinger_.push({.tag = BENCH_CMD_ONE_WAY, .index = count});
    return shared_.samples_of(count, "one-way");
  }
  Expected<Samples> round_trip(uint32_t count) override {
    to_pinger_.push({.tag = BENCH_CMD_REQUEST, .index = count});
    return shared_.samples_of(count, "round trip");
  }
  Expected<FloodResult> flood(uint32_t count) override {
    to_pinger_.push({.tag = BENCH_CMD_FLOOD, .index = count});
    return shared_.flood_result();
  }

 private:
  void probe(uint32_t index) {
    to_ponger_.push({BENCH_MSG_PROBE, index, shared_.wanted, now_ns()});
  }
  void ask() {
    shared_.asked_at = now_ns();
    to_ponger_.push({.tag = BENCH_MSG_ASK});
  }

  void run_pinger() {
    while (true) {
      PlainMessage m = to_pinger_.pop();
      switch (m.tag) {
        case kPlainQuit:
          return;
        case BENCH_CMD_ONE_WAY:
          shared_.wanted = m.index;
          probe(0);
          break;
        case BENCH_MSG_ACK:
          probe(m.index + 1);
          break;
        case BENCH_CMD_REQUEST:
          shared_.wanted = m.index;
          shared_.replied = 0;
          ask();
          break;
        case kPlainAnswer:
          shared_.samples[shared_.replied++] = now_ns() - shared_.asked_at;
          if (shared_.replied == shared_.wanted) {
            shared_.done.notify();
          } else {
            ask();
          }
          break;
        case BENCH_CMD_FLOOD:
          shared_.flood_retries = 0;
          shared_.flood_started = now_ns();
          for (uint32_t i = 1; i < m.index; ++i) to_ponger_.push({.tag = BENCH_MSG_FILL});
          to_ponger_.push({.tag = BENCH_MSG_LAST});
          shared_.flood_sent = now_ns();
          shared_.done.notify();
          break;
        default:
          break;
      }
    }
  }

  void run_ponger() {
    while (true) {
      PlainMessage m = to_ponger_.pop();
      switch (m.tag) {
        case kPlainQuit:
          return;
        case BENCH_MSG_PROBE:
          shared_.samples[m.index] = now_ns() - m.sent_at;
          if (m.index + 1 >= m.count) {
            shared_.done.notify();
          } else {
            to_pinger_.push({.tag = BENCH_MSG_ACK, .index = m.index});
          }
          break;
        case BENCH_MSG_ASK:
          to_pinger_.push({.tag = kPlainAnswer});
          break;
        case BENCH_MSG_LAST:
          shared_.flood_end = now_ns();
          shared_.done.notify();
          break;
        default:  // BENCH_MSG_FILL
          break;
      }
    }
  }

  Shared shared_;
  PlainQueue to_pinger_;
  PlainQueue to_ponger_;
  std::thread pinger_;
  std::thread ponger_;
};

class PlainSpawner final : public Spawner {
 public:
  Expected<uint64_t> spawn_one() override {
    std::atomic<bool> ready{false};
    const uint64_t start = now_ns();
    std::thread thread([&ready] { ready.store(true, std::memory_order_release); });
    spin_until(ready);
    const uint64_t elapsed = now_ns() - start;
    thread.join();
    return elapsed;
  }
};

}  // namespace

Expected<std::unique_ptr<Pair>> start_plain_pair() {
  return PlainPair::start();
}

std::unique_ptr<Spawner> make_plain_spawner() {
  return std::make_unique<PlainSpawner>();
}

}  // namespace airssys::wasm::component::messaging_bench
