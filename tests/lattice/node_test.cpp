// Hosts as lattice nodes over a real nats-server: they hear each other's
// signed heartbeats, send directed envelopes to live hosts only, follow a
// restarted host's new process, and refuse a host the lattice does not list.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "../support/nats_server.hpp"
#include "airssys/wasm/lattice/node.hpp"

namespace airssys::wasm::lattice {
namespace {

using namespace std::chrono_literals;

// What a node handed on or refused, waited on with deadlines that only
// bound a hang.
struct Seen {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<WireEnvelope> messages;
  std::deque<Error> refusals;

  NodeOptions options(const testing::NatsServer& server) {
    NodeOptions o;
    o.link.servers = {server.url()};
    o.heartbeat_interval = 100ms;
    // Live for 3 s without a heartbeat: a loaded machine delays them.
    o.missed_heartbeats = 30;
    o.on_message = [this](WireEnvelope e) {
      std::lock_guard lock(mutex);
      messages.push_back(std::move(e));
      cv.notify_all();
    };
    o.on_refused = [this](std::string_view, const Error& e) {
      std::lock_guard lock(mutex);
      refusals.push_back(e);
      cv.notify_all();
    };
    return o;
  }
  bool wait_messages(size_t n) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, 30s, [&] { return messages.size() >= n; });
  }
  bool wait_refusals(size_t n) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, 30s, [&] { return refusals.size() >= n; });
  }
};

struct Keys {
  security::KeyPair k1 = security::generate_key_pair().value();
  security::KeyPair k2 = security::generate_key_pair().value();
  AdmittedHosts hosts;
  Keys() {
    hosts.add("h1", k1.public_key);
    hosts.add("h2", k2.public_key);
  }
};

WireEnvelope to(std::string host, std::string text) {
  WireEnvelope e;
  e.kind = EnvelopeKind::Send;
  e.to_host = std::move(host);
  e.from_component = "orders";
  e.target = "ledger";
  e.payload.assign(text.begin(), text.end());
  return e;
}

std::string text(const WireEnvelope& e) { return {e.payload.begin(), e.payload.end()}; }

TEST(LatticeNode, HostsHearEachOtherAndMessagesReachOnlyLiveHosts) {
  testing::NatsServer server;
  ASSERT_TRUE(server.running());
  Keys keys;
  Seen seen1, seen2;
  auto o1 = seen1.options(server);
  o1.labels = {{"zone", "a"}};
  auto o2 = seen2.options(server);
  o2.labels = {{"zone", "b"}};
  auto n1 = Node::start(HostIdentity::create("h1", keys.k1, keys.hosts, "prod").value(), o1);
  ASSERT_TRUE(n1) << n1.error().to_string();
  // h2 is not up yet: nothing is sent into the void.
  auto early = (*n1)->send(to("h2", "too early"));
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::IoError);
  EXPECT_NE(early.error().message.find("has not been heard"), std::string::npos);

  auto n2 = Node::start(HostIdentity::create("h2", keys.k2, keys.hosts, "prod").value(), o2);
  ASSERT_TRUE(n2) << n2.error().to_string();
  ASSERT_TRUE((*n1)->wait_for_host("h2", 30s));
  ASSERT_TRUE((*n2)->wait_for_host("h1", 30s));
  auto hosts = (*n1)->hosts();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].name, "h2");
  EXPECT_EQ(hosts[0].labels.at("zone"), "b");
  EXPECT_EQ(hosts[0].boot, (*n2)->identity().boot());
  EXPECT_TRUE(hosts[0].live);

  for (int i = 0; i < 50; ++i) ASSERT_TRUE((*n1)->send(to("h2", "order " + std::to_string(i))));
  ASSERT_TRUE(seen2.wait_messages(50));
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(text(seen2.messages[i]), "order " + std::to_string(i));
    EXPECT_EQ(seen2.messages[i].from_host, "h1");
  }
  EXPECT_TRUE(seen2.refusals.empty());

  // h2 goes away: after the heartbeats it may miss, it is no longer live.
  n2->reset();
  const auto until = std::chrono::steady_clock::now() + 30s;
  Result<void> late{};
  while (std::chrono::steady_clock::now() < until) {
    late = (*n1)->send(to("h2", "late"));
    if (!late) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("is not live on lattice 'prod'"), std::string::npos)
      << late.error().message;
  EXPECT_FALSE((*n1)->hosts().at(0).live);
}

TEST(LatticeNode, ARestartedHostIsFollowedAndWhatWasSealedForItsLastProcessIsRefused) {
  testing::NatsServer server;
  ASSERT_TRUE(server.running());
  Keys keys;
  Seen seen1, seen2, seen2b;
  auto n1 = Node::start(HostIdentity::create("h1", keys.k1, keys.hosts, "prod").value(),
                        seen1.options(server))
                .value();
  auto h2_first = HostIdentity::create("h2", keys.k2, keys.hosts, "prod").value();
  const uint64_t first_boot = h2_first->boot();
  auto n2 = Node::start(std::move(h2_first), seen2.options(server)).value();
  ASSERT_TRUE(n1->wait_for_host("h2", 30s));
  ASSERT_TRUE(n1->send(to("h2", "one")));
  ASSERT_TRUE(seen2.wait_messages(1));
  n2.reset();

  // A new process of h2 (a later boot).
  auto h2_second =
      HostIdentity::create("h2", keys.k2, keys.hosts, "prod", first_boot + 1).value();
  auto n2b = Node::start(std::move(h2_second), seen2b.options(server)).value();
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until) {
    auto h = n1->hosts();
    if (!h.empty() && h[0].boot == first_boot + 1) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(n1->hosts().at(0).boot, first_boot + 1);
  ASSERT_TRUE(n1->send(to("h2", "two")));
  ASSERT_TRUE(seen2b.wait_messages(1));
  EXPECT_EQ(text(seen2b.messages[0]), "two");

  // What h1 would have sealed for h2's first process: refused by the second.
  auto old_identity = HostIdentity::create("h1", keys.k1, keys.hosts, "prod").value();
  auto stale = to("h2", "stale");
  stale.to_boot = first_boot;
  ASSERT_TRUE(n1->link().publish(host_subject("prod", "h2"), old_identity->seal(stale).value()));
  ASSERT_TRUE(seen2b.wait_refusals(1));
  EXPECT_EQ(seen2b.refusals[0].code, ErrorCode::TrustDenied);
  EXPECT_NE(seen2b.refusals[0].message.find("earlier process of this host"), std::string::npos);
  EXPECT_EQ(seen2b.messages.size(), 1u);
}

TEST(LatticeNode, AHostTheLatticeDoesNotListIsNeverHeard) {
  testing::NatsServer server;
  ASSERT_TRUE(server.running());
  Keys keys;
  auto k9 = security::generate_key_pair().value();
  AdmittedHosts theirs = keys.hosts;
  theirs.add("h9", k9.public_key);  // h9 lists itself; h1 does not list it
  Seen seen1, seen9;
  auto n1 = Node::start(HostIdentity::create("h1", keys.k1, keys.hosts, "prod").value(),
                        seen1.options(server))
                .value();
  auto n9 = Node::start(HostIdentity::create("h9", k9, theirs, "prod").value(),
                        seen9.options(server))
                .value();
  ASSERT_TRUE(seen1.wait_refusals(2));  // its heartbeats, refused one after the other
  EXPECT_EQ(seen1.refusals[0].code, ErrorCode::TrustDenied);
  EXPECT_NE(seen1.refusals[0].message.find("from 'h9'"), std::string::npos)
      << seen1.refusals[0].message;
  EXPECT_TRUE(n1->hosts().empty());
  // h9 hears h1 (it lists it) and sends; h1 refuses what it sent.
  ASSERT_TRUE(n9->wait_for_host("h1", 30s));
  ASSERT_TRUE(n9->send(to("h1", "let me in")));
  ASSERT_TRUE(n9->link().flush(10s));
  size_t before = 0;
  {
    std::lock_guard lock(seen1.mutex);
    before = seen1.refusals.size();
  }
  ASSERT_TRUE(seen1.wait_refusals(before + 3));
  std::lock_guard lock(seen1.mutex);
  EXPECT_TRUE(seen1.messages.empty());
  for (const auto& r : seen1.refusals) {
    EXPECT_NE(r.message.find("not in the lattice's host list"), std::string::npos) << r.message;
  }
}

TEST(LatticeNode, NamesThatAreNoSubjectTokenAreRefused) {
  testing::NatsServer server;
  ASSERT_TRUE(server.running());
  auto k = security::generate_key_pair().value();
  AdmittedHosts hosts;
  hosts.add("h.1", k.public_key);
  Seen seen;
  auto node = Node::start(HostIdentity::create("h.1", k, hosts, "prod").value(),
                          seen.options(server));
  ASSERT_FALSE(node);
  EXPECT_EQ(node.error().code, ErrorCode::InvalidConfig);
}

}  // namespace
}  // namespace airssys::wasm::lattice
