// Baseline: two actors of the C++ Actor Framework (libcaf-dev) with two
// workers, exchanging the same messages; and a fan-out to kFanOutSubscribers
// actors through CAF's own publish/subscribe, a local group (caf::group): the
// subscribers join it, one actor sends each message to the group, which
// enqueues the one message (built once, shared) in every member's mailbox.
// For comparison, the same fan-out with one send per subscriber (`direct`).
#include <caf/all.hpp>

#include "messaging/common.hpp"

namespace airssys::wasm::component::messaging_bench {
namespace {

using probe_atom = caf::atom_constant<caf::atom("probe")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using ask_atom = caf::atom_constant<caf::atom("ask")>;
using answer_atom = caf::atom_constant<caf::atom("answer")>;
using fill_atom = caf::atom_constant<caf::atom("fill")>;
using last_atom = caf::atom_constant<caf::atom("last")>;
using one_way_atom = caf::atom_constant<caf::atom("oneway")>;
using request_atom = caf::atom_constant<caf::atom("request")>;
using flood_atom = caf::atom_constant<caf::atom("flood")>;
using fan_out_atom = caf::atom_constant<caf::atom("fanout")>;

caf::behavior caf_ponger(caf::event_based_actor* self, Shared* shared) {
  return {
      [=](probe_atom, uint32_t index, uint32_t count, uint64_t sent_at) {
        shared->samples[index] = now_ns() - sent_at;
        if (index + 1 >= count) {
          shared->done.notify();
        } else {
          self->send(caf::actor_cast<caf::actor>(self->current_sender()), ack_atom::value, index);
        }
      },
      [](ask_atom) { return answer_atom::value; },
      [](fill_atom) {},
      [=](last_atom) {
        shared->flood_end = now_ns();
        shared->done.notify();
      },
  };
}

void caf_probe(caf::event_based_actor* self, const caf::actor& ponger, Shared* shared,
               uint32_t index) {
  self->send(ponger, probe_atom::value, index, shared->wanted, now_ns());
}

// A request with a timeout, as a component's request has.
void caf_ask(caf::event_based_actor* self, const caf::actor& ponger, Shared* shared) {
  shared->asked_at = now_ns();
  self->request(ponger, kRequestTimeout, ask_atom::value).then([=](answer_atom) {
    shared->samples[shared->replied++] = now_ns() - shared->asked_at;
    if (shared->replied == shared->wanted) {
      shared->done.notify();
    } else {
      caf_ask(self, ponger, shared);
    }
  });
}

caf::behavior caf_pinger(caf::event_based_actor* self, caf::actor ponger, Shared* shared) {
  return {
      [=](one_way_atom, uint32_t count) {
        shared->wanted = count;
        caf_probe(self, ponger, shared, 0);
      },
      [=](ack_atom, uint32_t index) { caf_probe(self, ponger, shared, index + 1); },
      [=](request_atom, uint32_t count) {
        shared->wanted = count;
        shared->replied = 0;
        caf_ask(self, ponger, shared);
      },
      [=](flood_atom, uint32_t count) {
        shared->flood_retries = 0;
        shared->flood_started = now_ns();
        for (uint32_t i = 1; i < count; ++i) self->send(ponger, fill_atom::value);
        self->send(ponger, last_atom::value);
        shared->flood_sent = now_ns();
        shared->done.notify();
      },
  };
}

// Joins `topic` unless it is none (a direct fan-out).
caf::behavior caf_subscriber(caf::event_based_actor* self, caf::group topic, FanOutShared* shared,
                             size_t index) {
  if (topic) self->join(topic);
  shared->ready.notify();
  return {
      [=](fill_atom) { ++shared->slots[index].count; },
      [=](last_atom) { shared->last_arrived(index); },
  };
}

caf::behavior caf_publisher(caf::event_based_actor* self, caf::group topic,
                            FanOutShared* shared) {
  return {
      [=](fan_out_atom, uint32_t count) {
        shared->started = now_ns();
        for (uint32_t i = 1; i < count; ++i) self->send(topic, fill_atom::value);
        self->send(topic, last_atom::value);
        shared->sent = now_ns();
        shared->published.notify();
      },
  };
}

caf::behavior caf_direct_publisher(caf::event_based_actor* self,
                                   std::vector<caf::actor> subscribers, FanOutShared* shared) {
  return {
      [=](fan_out_atom, uint32_t count) {
        shared->started = now_ns();
        for (uint32_t i = 1; i < count; ++i) {
          for (const auto& subscriber : subscribers) self->send(subscriber, fill_atom::value);
        }
        for (const auto& subscriber : subscribers) self->send(subscriber, last_atom::value);
        shared->sent = now_ns();
        shared->published.notify();
      },
  };
}

caf::actor_system_config& caf_config(caf::actor_system_config& config) {
  config.set("scheduler.max-threads", kWorkers);
  return config;
}

class CafPair final : public Pair {
 public:
  static Expected<std::unique_ptr<Pair>> start() {
    std::unique_ptr<CafPair> pair(new CafPair());
    if (pair->system_.scheduler().num_workers() != kWorkers) {
      return std::unexpected(fmt::format("CAF runs {} workers, not {}",
                                         pair->system_.scheduler().num_workers(), kWorkers));
    }
    pair->ponger_ = pair->system_.spawn(caf_ponger, &pair->shared_);
    pair->pinger_ = pair->system_.spawn(caf_pinger, pair->ponger_, &pair->shared_);
    return pair;
  }

  ~CafPair() override {
    caf::anon_send_exit(pinger_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ponger_, caf::exit_reason::user_shutdown);
    pinger_ = nullptr;
    ponger_ = nullptr;
    system_.await_all_actors_done();
  }

  Expected<Samples> one_way(uint32_t count) override {
    caf::anon_send(pinger_, one_way_atom::value, count);
    return shared_.samples_of(count, "one-way");
  }
  Expected<Samples> round_trip(uint32_t count) override {
    caf::anon_send(pinger_, request_atom::value, count);
    return shared_.samples_of(count, "round trip");
  }
  Expected<FloodResult> flood(uint32_t count) override {
    caf::anon_send(pinger_, flood_atom::value, count);
    return shared_.flood_result();
  }

 private:
  CafPair() : system_(caf_config(config_)) {}

  Shared shared_;  // outlives the actors
  caf::actor_system_config config_;
  caf::actor_system system_;
  caf::actor ponger_;
  caf::actor pinger_;
};

class CafFanOut final : public FanOut {
 public:
  static Expected<std::unique_ptr<FanOut>> start(bool direct) {
    std::unique_ptr<CafFanOut> group(new CafFanOut());
    if (group->system_.scheduler().num_workers() != kWorkers) {
      return std::unexpected(fmt::format("CAF runs {} workers, not {}",
                                         group->system_.scheduler().num_workers(), kWorkers));
    }
    caf::group topic;
    if (!direct) topic = group->system_.groups().get_local(BENCH_TOPIC);
    for (uint32_t i = 0; i < kFanOutSubscribers; ++i) {
      group->actors_.push_back(
          group->system_.spawn(caf_subscriber, topic, &group->shared_, size_t{i}));
    }
    // Every subscriber joined before the publisher sends.
    if (!group->shared_.ready.wait(kFanOutSubscribers)) {
      return std::unexpected("fan-out: the subscribers did not join in time");
    }
    group->publisher_ =
        direct ? group->system_.spawn(caf_direct_publisher, group->actors_, &group->shared_)
               : group->system_.spawn(caf_publisher, topic, &group->shared_);
    return group;
  }

  ~CafFanOut() override {
    caf::anon_send_exit(publisher_, caf::exit_reason::user_shutdown);
    for (auto& actor : actors_) caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    publisher_ = nullptr;
    actors_.clear();
    system_.await_all_actors_done();
  }

  Expected<FanOutResult> fan_out(uint32_t count) override {
    shared_.arm();
    caf::anon_send(publisher_, fan_out_atom::value, count);
    return shared_.result(count);
  }

 private:
  CafFanOut() : system_(caf_config(config_)) {}

  FanOutShared shared_;  // outlives the actors
  caf::actor_system_config config_;
  caf::actor_system system_;
  std::vector<caf::actor> actors_;
  caf::actor publisher_;
};

class CafSpawner final : public Spawner {
 public:
  CafSpawner() : system_(caf_config(config_)) {}
  ~CafSpawner() override { system_.await_all_actors_done(); }

  Expected<uint64_t> spawn_one() override {
    std::atomic<bool> ready{false};
    const uint64_t start = now_ns();
    auto actor = system_.spawn([&ready](caf::event_based_actor*) -> caf::behavior {
      ready.store(true, std::memory_order_release);
      return {[](fill_atom) {}};
    });
    spin_until(ready);
    const uint64_t elapsed = now_ns() - start;
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    return elapsed;
  }

 private:
  caf::actor_system_config config_;
  caf::actor_system system_;
};

}  // namespace

Expected<std::unique_ptr<Pair>> start_caf_pair() {
  return CafPair::start();
}

Expected<std::unique_ptr<FanOut>> start_caf_fan_out(bool direct) {
  return CafFanOut::start(direct);
}

std::unique_ptr<Spawner> make_caf_spawner() {
  return std::make_unique<CafSpawner>();
}

}  // namespace airssys::wasm::component::messaging_bench
