#pragma once
// A message between two hosts of a lattice, as it travels over NATS, and the
// checks a receiving host makes before anything of it reaches a component
// (docs/design.md, "Lattice").
//
// A directed envelope (send, request, reply) has one receiving host and is
// authenticated with HMAC-SHA256 under a key only that pair of hosts can
// derive; a broadcast envelope (publish, heartbeat) is signed with the
// sending host's Ed25519 key. Either way the receiver refuses, with a typed
// error: a host it does not admit, a tag or signature that does not verify,
// another lattice or another host as receiver, a receiver boot that is not
// its own, a sequence number it has seen, a broadcast sent outside the clock
// skew window, a boot older than the newest it saw from that host.
//
// Example:
//   auto me = HostIdentity::create("h1", keys, hosts, "prod");
//   WireEnvelope e{.kind = EnvelopeKind::Send, .to_host = "h2", ...};
//   auto bytes = me.seal(e, peer_boot);          // on h1
//   auto opened = other.open(bytes);            // on h2: checked, or refused

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/signing.hpp"

namespace airssys::wasm::lattice {

enum class EnvelopeKind : uint8_t { Send = 1, Request = 2, Reply = 3, Publish = 4, Heartbeat = 5 };
[[nodiscard]] const char* envelope_kind_name(EnvelopeKind kind);
// Send, Request and Reply have one receiving host; the others are broadcast.
[[nodiscard]] bool is_directed(EnvelopeKind kind);

// Bounds of what a receiver decodes at all.
inline constexpr size_t kMaxNameBytes = 255;                 // host, component, topic
inline constexpr size_t kMaxEnvelopePayload = 16 * 1024 * 1024;

struct WireEnvelope {
  EnvelopeKind kind = EnvelopeKind::Send;
  std::string lattice;
  std::string from_host;
  std::string to_host;         // directed only; empty for broadcast
  uint64_t to_boot = 0;        // directed only: the receiving process's boot
  uint64_t from_boot = 0;      // the sending process's boot
  uint64_t sequence = 0;       // per sending boot and receiving host (broadcast: per boot)
  int64_t sent_unix_ms = 0;
  std::string from_component;  // the sender; "host" for the host itself
  std::string target;          // the receiving component, or the topic of a publish
  uint64_t correlation_id = 0;
  std::vector<uint8_t> payload;
};

// The hosts a lattice admits: name and Ed25519 public key (the operator's
// lattice-hosts.toml).
class AdmittedHosts {
 public:
  // [[host]] tables with `name` and `key` (base64 public key, as keygen
  // writes); names and keys unique. InvalidConfig with "file:line: ..." for
  // anything else.
  [[nodiscard]] static Result<AdmittedHosts> parse(std::string_view text, std::string_view file);
  [[nodiscard]] static Result<AdmittedHosts> load(const std::filesystem::path& file);
  void add(std::string name, const security::PublicKey& key);
  [[nodiscard]] const security::PublicKey* key_of(std::string_view host) const;
  [[nodiscard]] size_t size() const { return hosts_.size(); }

 private:
  std::map<std::string, security::PublicKey, std::less<>> hosts_;
};

struct ReceiverOptions {
  // A broadcast sent further than this from the receiver's clock is refused.
  std::chrono::milliseconds max_clock_skew{30'000};
};

// One host on one lattice: seals what it sends and opens what it receives.
// Thread-safe: sealing and opening may run on any threads at once.
class HostIdentity {
 public:
  // `keys` must be the key pair `hosts` lists under `name`: a host that is
  // not admitted itself cannot join (TrustDenied). `boot` is this process's
  // boot; 0: its start time in milliseconds and 16 random bits, so that a
  // later process of the host has a larger one.
  [[nodiscard]] static Result<std::unique_ptr<HostIdentity>> create(
      std::string name, const security::KeyPair& keys, AdmittedHosts hosts, std::string lattice,
      uint64_t boot = 0, ReceiverOptions options = {});
  ~HostIdentity();

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& lattice() const { return lattice_; }
  [[nodiscard]] uint64_t boot() const { return boot_; }

  // Fills lattice, from_host, from_boot, sequence and sent_unix_ms and
  // returns the bytes to send. A directed envelope needs to_host admitted and
  // to_boot (the receiver's boot, from its heartbeat).
  [[nodiscard]] Result<std::vector<uint8_t>> seal(WireEnvelope envelope);
  // Decodes and checks `bytes`; the envelope only when every check passes.
  [[nodiscard]] Result<WireEnvelope> open(std::span<const uint8_t> bytes);

 private:
  struct Peer;
  HostIdentity() = default;
  Peer* peer(std::string_view host);  // under mutex_; null when not admitted

  std::string name_;
  std::string lattice_;
  uint64_t boot_ = 0;
  ReceiverOptions options_;
  security::KeyPair keys_;
  std::array<uint8_t, 64> signing_key_{};  // libsodium's expanded secret key
  std::array<uint8_t, 32> exchange_key_{};  // the X25519 secret of keys_
  AdmittedHosts hosts_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Peer>, std::less<>> peers_;
  uint64_t broadcast_sequence_ = 0;
};

}  // namespace airssys::wasm::lattice
