// Hosts' links to a real nats-server on loopback: sealed envelopes cross it
// and open on the other side; what a bare NATS client injects is refused;
// a restarted server is reconnected to without the host doing anything.
#include <gtest/gtest.h>

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "../support/nats_server.hpp"
#include "airssys/wasm/lattice/envelope.hpp"
#include "airssys/wasm/lattice/link.hpp"

namespace airssys::wasm::lattice {
namespace {

using namespace std::chrono_literals;

// What a subscription received, in order, waited on with a deadline that
// only bounds a hang.
class Inbox {
 public:
  DeliveryHandler handler() {
    return [this](const Delivery& d) {
      std::lock_guard lock(mutex_);
      items_.emplace_back(d.data.begin(), d.data.end());
      replies_.emplace_back(d.reply);
      cv_.notify_all();
    };
  }
  bool wait_for(size_t n, std::chrono::milliseconds deadline = 30s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, deadline, [&] { return items_.size() >= n; });
  }
  std::vector<uint8_t> at(size_t i) {
    std::lock_guard lock(mutex_);
    return items_.at(i);
  }
  size_t size() {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::vector<uint8_t>> items_;
  std::deque<std::string> replies_;
};

struct TwoHosts {
  security::KeyPair k1 = security::generate_key_pair().value();
  security::KeyPair k2 = security::generate_key_pair().value();
  AdmittedHosts hosts;
  std::unique_ptr<HostIdentity> h1, h2;
  TwoHosts() {
    hosts.add("h1", k1.public_key);
    hosts.add("h2", k2.public_key);
    h1 = HostIdentity::create("h1", k1, hosts, "prod").value();
    h2 = HostIdentity::create("h2", k2, hosts, "prod").value();
  }
  WireEnvelope to_h2(std::string text) const {
    WireEnvelope e;
    e.kind = EnvelopeKind::Send;
    e.to_host = "h2";
    e.to_boot = h2->boot();
    e.from_component = "orders";
    e.target = "ledger";
    e.payload.assign(text.begin(), text.end());
    return e;
  }
};

std::unique_ptr<Link> connect(const testing::NatsServer& server, std::string name,
                              std::function<void(LinkEvent)> on_event = {}) {
  LinkOptions o;
  o.servers = {server.url()};
  o.name = std::move(name);
  o.on_event = std::move(on_event);
  auto link = Link::connect(std::move(o));
  EXPECT_TRUE(link) << link.error().to_string();
  return link ? std::move(*link) : nullptr;
}

std::string text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

// A real server, two hosts and their links: h1's on `a` (its reconnects
// counted), h2's on `b`.
class LatticeLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server.running());
    a = connect(server, "h1", [this](LinkEvent e) { reconnects += e == LinkEvent::Reconnected; });
    b = connect(server, "h2");
    ASSERT_TRUE(a && b);
  }
  // What arrives on h2's subject goes to `inbox`, from when this returns.
  std::unique_ptr<Subscription> listen_on_h2() {
    auto sub = b->subscribe("airssys.prod.host.h2", inbox.handler()).value();
    EXPECT_TRUE(b->flush(10s));
    return sub;
  }

  testing::NatsServer server;
  TwoHosts l;
  std::atomic<int> reconnects{0};
  std::unique_ptr<Link> a, b;
  Inbox inbox;
};

TEST_F(LatticeLinkTest, SealedEnvelopesCrossARealServerInOrderAndOpenOnTheOtherHost) {
  auto sub = listen_on_h2();
  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(a->publish("airssys.prod.host.h2",
                           l.h1->seal(l.to_h2("order " + std::to_string(i))).value()));
  }
  ASSERT_TRUE(inbox.wait_for(kCount)) << inbox.size();
  for (int i = 0; i < kCount; ++i) {
    auto opened = l.h2->open(inbox.at(i));
    ASSERT_TRUE(opened) << opened.error().to_string();
    EXPECT_EQ(text(opened->payload), "order " + std::to_string(i));  // per-sender order kept
  }
}

TEST_F(LatticeLinkTest, ARequestIsAnsweredAcrossTheServerAndAnUnansweredOneEndsInTime) {
  // h2 answers each request with a sealed reply for h1.
  Link* b_link = b.get();
  auto sub = b->subscribe("airssys.prod.host.h2", [&](const Delivery& d) {
                 auto opened = l.h2->open(d.data);
                 if (!opened || d.reply.empty()) return;
                 WireEnvelope reply;
                 reply.kind = EnvelopeKind::Reply;
                 reply.to_host = opened->from_host;
                 reply.to_boot = opened->from_boot;
                 reply.from_component = opened->target;
                 reply.target = opened->from_component;
                 reply.correlation_id = opened->correlation_id;
                 reply.payload = opened->payload;
                 reply.payload.insert(reply.payload.begin(), {'o', 'k', ' '});
                 (void)b_link->publish(d.reply, l.h2->seal(reply).value());
               }).value();
  ASSERT_TRUE(b->flush(10s));
  auto request = l.to_h2("balance");
  request.kind = EnvelopeKind::Request;
  request.correlation_id = 42;
  auto answered = a->request("airssys.prod.host.h2", l.h1->seal(request).value(), 10s);
  ASSERT_TRUE(answered) << answered.error().to_string();
  auto reply = l.h1->open(*answered);
  ASSERT_TRUE(reply) << reply.error().to_string();
  EXPECT_EQ(reply->kind, EnvelopeKind::Reply);
  EXPECT_EQ(reply->correlation_id, 42u);
  EXPECT_EQ(text(reply->payload), "ok balance");

  // Nobody listens on h3's subject: the request ends at once, it does not hang.
  const auto start = std::chrono::steady_clock::now();
  auto nobody = a->request("airssys.prod.host.h3", std::vector<uint8_t>{1}, 20s);
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().code, ErrorCode::IoError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
}

TEST_F(LatticeLinkTest, WhatABareNatsClientInjectsIsRefusedByTheHost) {
  auto sub = listen_on_h2();
  // A genuine envelope, captured on the way by a third client.
  auto c = connect(server, "eavesdropper");
  ASSERT_TRUE(c);
  Inbox tap;
  auto spy = c->subscribe("airssys.prod.host.>", tap.handler()).value();
  ASSERT_TRUE(c->flush(10s));
  ASSERT_TRUE(a->publish("airssys.prod.host.h2", l.h1->seal(l.to_h2("pay 10")).value()));
  ASSERT_TRUE(tap.wait_for(1));
  const auto captured = tap.at(0);

  // A plain client of the same server: the captured bytes again, the same
  // with the amount changed, and an envelope of its own claiming to be h1.
  natsConnection* bare = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&bare, server.url().c_str()), NATS_OK);
  auto inject = [&](const std::vector<uint8_t>& bytes) {
    ASSERT_EQ(natsConnection_Publish(bare, "airssys.prod.host.h2", bytes.data(),
                                     static_cast<int>(bytes.size())),
              NATS_OK);
  };
  inject(captured);
  auto altered = captured;
  // A byte of the payload ("pay 10" ends where the 32-byte tag begins).
  altered[altered.size() - 35] ^= 0x01;
  inject(altered);
  auto mallory = security::generate_key_pair().value();
  AdmittedHosts forged;
  forged.add("h1", mallory.public_key);
  forged.add("h2", l.k2.public_key);
  auto impostor = HostIdentity::create("h1", mallory, forged, "prod").value();
  inject(impostor->seal(l.to_h2("pay 1000")).value());
  ASSERT_EQ(natsConnection_FlushTimeout(bare, 10000), NATS_OK);
  natsConnection_Destroy(bare);

  ASSERT_TRUE(inbox.wait_for(4));
  auto genuine = l.h2->open(inbox.at(0));
  ASSERT_TRUE(genuine) << genuine.error().to_string();
  EXPECT_EQ(text(genuine->payload), "pay 10");
  auto replayed = l.h2->open(inbox.at(1));
  ASSERT_FALSE(replayed);
  EXPECT_EQ(replayed.error().code, ErrorCode::TrustDenied);
  auto changed = l.h2->open(inbox.at(2));
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().code, ErrorCode::SignatureInvalid);
  auto forgery = l.h2->open(inbox.at(3));
  ASSERT_FALSE(forgery);
  EXPECT_EQ(forgery.error().code, ErrorCode::SignatureInvalid);
}

TEST_F(LatticeLinkTest, AfterTheServerRestartsTheLinkReconnectsByItselfAndDeliversAgain) {
  auto sub = listen_on_h2();
  ASSERT_TRUE(a->publish("airssys.prod.host.h2", l.h1->seal(l.to_h2("before")).value()));
  ASSERT_TRUE(inbox.wait_for(1));

  server.stop();
  server.start();
  ASSERT_TRUE(server.running());
  // Both links come back on their own (the deadline only bounds a hang);
  // the subscription is renewed with them.
  const auto until = std::chrono::steady_clock::now() + 60s;
  // The event comes on the client's own thread, after the status changed.
  while ((!a->connected() || !b->connected() || reconnects.load() == 0) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(a->connected() && b->connected());
  EXPECT_GE(reconnects.load(), 1);
  ASSERT_TRUE(b->flush(10s));
  ASSERT_TRUE(a->publish("airssys.prod.host.h2", l.h1->seal(l.to_h2("after")).value()));
  ASSERT_TRUE(a->flush(10s));
  ASSERT_TRUE(inbox.wait_for(2)) << inbox.size();
  auto opened = l.h2->open(inbox.at(inbox.size() - 1));
  ASSERT_TRUE(opened) << opened.error().to_string();
  EXPECT_EQ(text(opened->payload), "after");
}

TEST(LatticeLink, NoServerIsAClearErrorInTime) {
  testing::NatsServer server;
  ASSERT_TRUE(server.running());
  const std::string url = server.url();
  server.stop();
  LinkOptions o;
  o.servers = {url};
  o.connect_timeout = 500ms;
  auto link = Link::connect(o);
  ASSERT_FALSE(link);
  EXPECT_EQ(link.error().code, ErrorCode::IoError);
  EXPECT_NE(link.error().message.find("no NATS server of " + url), std::string::npos)
      << link.error().message;
  EXPECT_EQ(Link::connect({}).error().code, ErrorCode::InvalidConfig);
  LinkOptions bad;
  bad.servers = {"nats://127.0.0.1:1"};
  bad.connect_timeout = 500ms;
  EXPECT_FALSE(Link::connect(bad));
}

}  // namespace
}  // namespace airssys::wasm::lattice
