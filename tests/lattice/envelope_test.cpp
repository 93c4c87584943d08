// The lattice's envelopes: what one host seals, another admitted host opens,
// and every forgery, alteration, misdirection and replay is refused with a
// typed error.
#include <gtest/gtest.h>

#include <thread>

#include "airssys/wasm/lattice/envelope.hpp"

namespace airssys::wasm::lattice {
namespace {

struct Lattice {
  security::KeyPair k1 = security::generate_key_pair().value();
  security::KeyPair k2 = security::generate_key_pair().value();
  security::KeyPair k3 = security::generate_key_pair().value();
  AdmittedHosts hosts;
  std::unique_ptr<HostIdentity> h1, h2, h3;

  explicit Lattice(ReceiverOptions options = {}) {
    hosts.add("h1", k1.public_key);
    hosts.add("h2", k2.public_key);
    hosts.add("h3", k3.public_key);
    h1 = HostIdentity::create("h1", k1, hosts, "prod", 0, options).value();
    h2 = HostIdentity::create("h2", k2, hosts, "prod", 0, options).value();
    h3 = HostIdentity::create("h3", k3, hosts, "prod", 0, options).value();
  }
};

WireEnvelope send_to(const HostIdentity& to, std::string payload = "hello") {
  WireEnvelope e;
  e.kind = EnvelopeKind::Send;
  e.to_host = to.name();
  e.to_boot = to.boot();
  e.from_component = "orders";
  e.target = "ledger";
  e.payload.assign(payload.begin(), payload.end());
  return e;
}

WireEnvelope publish(std::string topic = "orders/new") {
  WireEnvelope e;
  e.kind = EnvelopeKind::Publish;
  e.from_component = "orders";
  e.target = std::move(topic);
  e.payload = {1, 2, 3};
  return e;
}

TEST(LatticeEnvelope, ADirectedEnvelopeOpensOnItsHostOnlyAndOnlyOnce) {
  Lattice l;
  auto sealed = l.h1->seal(send_to(*l.h2)).value();
  auto opened = l.h2->open(sealed);
  ASSERT_TRUE(opened) << opened.error().to_string();
  EXPECT_EQ(opened->from_host, "h1");
  EXPECT_EQ(opened->from_component, "orders");
  EXPECT_EQ(opened->target, "ledger");
  EXPECT_EQ(std::string(opened->payload.begin(), opened->payload.end()), "hello");
  EXPECT_EQ(opened->from_boot, l.h1->boot());

  auto again = l.h2->open(sealed);  // the same bytes once more: a replay
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::TrustDenied);
  EXPECT_NE(again.error().message.find("was seen already"), std::string::npos);

  auto elsewhere = l.h3->open(sealed);  // for h2, not h3
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().code, ErrorCode::TrustDenied);
  EXPECT_NE(elsewhere.error().message.find("it is for host 'h2'"), std::string::npos);
}

TEST(LatticeEnvelope, EveryAlteredByteIsRefused) {
  Lattice l;
  const auto sealed = l.h1->seal(send_to(*l.h2, "pay 10")).value();
  size_t refused = 0;
  for (size_t i = 0; i < sealed.size(); ++i) {
    auto altered = sealed;
    altered[i] ^= 0x01;
    auto opened = l.h2->open(altered);
    refused += !opened;
    if (opened) ADD_FAILURE() << "byte " << i << " altered and still accepted";
  }
  EXPECT_EQ(refused, sealed.size());
  EXPECT_TRUE(l.h2->open(sealed));  // the refusals changed no state
}

TEST(LatticeEnvelope, AHostThatIsNotListedCannotSpeakOrJoin) {
  Lattice l;
  auto mallory = security::generate_key_pair().value();
  // Not listed: cannot even make an identity.
  auto joined = HostIdentity::create("mallory", mallory, l.hosts, "prod");
  ASSERT_FALSE(joined);
  EXPECT_EQ(joined.error().code, ErrorCode::TrustDenied);
  // Listed under its own name, claiming to be h1 toward a lattice that lists h1's real key.
  AdmittedHosts forged;
  forged.add("h1", mallory.public_key);
  forged.add("h2", l.k2.public_key);
  auto impostor = HostIdentity::create("h1", mallory, forged, "prod").value();
  auto directed = l.h2->open(impostor->seal(send_to(*l.h2)).value());
  ASSERT_FALSE(directed);
  EXPECT_EQ(directed.error().code, ErrorCode::SignatureInvalid);
  auto broadcast = l.h2->open(impostor->seal(publish()).value());
  ASSERT_FALSE(broadcast);
  EXPECT_EQ(broadcast.error().code, ErrorCode::SignatureInvalid);
  // A host the receiver does not list at all.
  AdmittedHosts theirs;
  theirs.add("h9", mallory.public_key);
  theirs.add("h2", l.k2.public_key);
  auto stranger = HostIdentity::create("h9", mallory, theirs, "prod").value();
  auto unknown = l.h2->open(stranger->seal(publish()).value());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::TrustDenied);
  EXPECT_NE(unknown.error().message.find("not in the lattice's host list"), std::string::npos);
}

TEST(LatticeEnvelope, AnotherLatticeOrAnEarlierProcessOfTheReceiverIsRefused) {
  Lattice l;
  auto staging = HostIdentity::create("h1", l.k1, l.hosts, "staging").value();
  auto other = l.h2->open(staging->seal(send_to(*l.h2)).value());
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("lattice 'staging'"), std::string::npos);

  auto stale = send_to(*l.h2);
  stale.to_boot = l.h2->boot() - 1;  // sealed for h2's previous process
  auto refused = l.h2->open(l.h1->seal(stale).value());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::TrustDenied);
  EXPECT_NE(refused.error().message.find("earlier process of this host"), std::string::npos);
}

TEST(LatticeEnvelope, ASendersEarlierProcessIsRefusedOnceANewerOneSpoke) {
  Lattice l;
  auto old_h1 = HostIdentity::create("h1", l.k1, l.hosts, "prod", 1000).value();
  auto new_h1 = HostIdentity::create("h1", l.k1, l.hosts, "prod", 2000).value();
  auto captured = old_h1->seal(send_to(*l.h2)).value();
  ASSERT_TRUE(l.h2->open(new_h1->seal(send_to(*l.h2)).value()));
  auto replayed = l.h2->open(captured);
  ASSERT_FALSE(replayed);
  EXPECT_NE(replayed.error().message.find("earlier process of that host"), std::string::npos);
  // The newer process's numbers go on.
  EXPECT_TRUE(l.h2->open(new_h1->seal(send_to(*l.h2)).value()));
}

TEST(LatticeEnvelope, EnvelopesOutOfOrderWithinTheWindowAreAcceptedOnce) {
  Lattice l;
  std::vector<std::vector<uint8_t>> sealed;
  for (int i = 0; i < 70; ++i) sealed.push_back(l.h1->seal(send_to(*l.h2)).value());
  // Number 70 first, then 10..69 backwards: all inside the window of 64.
  ASSERT_TRUE(l.h2->open(sealed[69]));
  for (int i = 68; i >= 6; --i) EXPECT_TRUE(l.h2->open(sealed[i])) << i + 1;
  // 6 and below are older than the window: refused, as a replay would be.
  EXPECT_FALSE(l.h2->open(sealed[5]));
  EXPECT_FALSE(l.h2->open(sealed[0]));
  EXPECT_FALSE(l.h2->open(sealed[30]));  // seen
}

TEST(LatticeEnvelope, ABroadcastIsSignedAndOpensOnEveryHostOnce) {
  Lattice l;
  auto sealed = l.h1->seal(publish("orders/new")).value();
  for (auto* host : {l.h2.get(), l.h3.get()}) {
    auto opened = host->open(sealed);
    ASSERT_TRUE(opened) << opened.error().to_string();
    EXPECT_EQ(opened->kind, EnvelopeKind::Publish);
    EXPECT_EQ(opened->target, "orders/new");
    EXPECT_TRUE(opened->to_host.empty());
    EXPECT_FALSE(host->open(sealed));  // once
  }
}

TEST(LatticeEnvelope, ABroadcastOutsideTheClockSkewIsRefused) {
  Lattice l({.max_clock_skew = std::chrono::milliseconds(50)});
  auto sealed = l.h1->seal(publish()).value();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto late = l.h2->open(sealed);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::TrustDenied);
  EXPECT_NE(late.error().message.find("from this host's clock"), std::string::npos);
}

TEST(LatticeEnvelope, MalformedBytesAreRefusedWithoutReadingPastThem) {
  Lattice l;
  auto sealed = l.h1->seal(send_to(*l.h2)).value();
  for (size_t n = 0; n < sealed.size(); ++n) {
    auto cut = l.h2->open(std::span<const uint8_t>(sealed.data(), n));
    ASSERT_FALSE(cut) << n;
  }
  auto longer = sealed;
  longer.push_back(0);
  EXPECT_FALSE(l.h2->open(longer));
  EXPECT_EQ(l.h2->open(std::vector<uint8_t>{'x', 'y'}).error().code, ErrorCode::InvalidArgument);
}

TEST(LatticeEnvelope, SealingRefusesWhatNoHostWouldOpen) {
  Lattice l;
  auto to_stranger = send_to(*l.h2);
  to_stranger.to_host = "h9";
  EXPECT_EQ(l.h1->seal(to_stranger).error().code, ErrorCode::TrustDenied);
  auto nameless = send_to(*l.h2);
  nameless.target = "";
  EXPECT_EQ(l.h1->seal(nameless).error().code, ErrorCode::InvalidArgument);
  auto spaced = send_to(*l.h2);
  spaced.from_component = "a b";
  EXPECT_EQ(l.h1->seal(spaced).error().code, ErrorCode::InvalidArgument);
}

TEST(LatticeHosts, TheHostListIsReadStrictly) {
  auto k1 = security::generate_key_pair().value();
  auto k2 = security::generate_key_pair().value();
  const std::string a = security::public_key_to_text(k1.public_key);
  const std::string b = security::public_key_to_text(k2.public_key);
  auto ok = AdmittedHosts::parse("[[host]]\nname = \"h1\"\nkey = \"" + a +
                                     "\"\n[[host]]\nname = \"h2\"\nkey = \"" + b + "\"\n",
                                 "lattice-hosts.toml");
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->size(), 2u);
  ASSERT_NE(ok->key_of("h2"), nullptr);
  EXPECT_EQ(*ok->key_of("h2"), k2.public_key);

  auto bad = AdmittedHosts::parse("[[host]]\nname = \"h1\"\nkey = \"" + a +
                                      "\"\n[[host]]\nname = \"h1\"\nkey = \"" + b +
                                      "\"\n[[host]]\nname = \"h3\"\nkey = \"" + a +
                                      "\"\n[[host]]\nname = \"a b\"\nkey = \"nope\"\nport = 1\n"
                                      "[extra]\n",
                                  "lattice-hosts.toml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::InvalidConfig);
  const std::string& m = bad.error().message;
  EXPECT_NE(m.find("lattice-hosts.toml:4: host.name: 'h1' is listed twice"), std::string::npos)
      << m;
  EXPECT_NE(m.find("host.key: the key of 'h3' is listed for another host"), std::string::npos)
      << m;
  EXPECT_NE(m.find("host.name: must be a host name"), std::string::npos) << m;
  EXPECT_NE(m.find("host.key: must be a base64 Ed25519 public key"), std::string::npos) << m;
  EXPECT_NE(m.find("host.port: unknown key"), std::string::npos) << m;
  EXPECT_NE(m.find("extra: unknown key"), std::string::npos) << m;
}

}  // namespace
}  // namespace airssys::wasm::lattice
