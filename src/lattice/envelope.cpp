#include "airssys/wasm/lattice/envelope.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "security/toml_reader.hpp"

namespace airssys::wasm::lattice {

namespace {

// "AWL" and the format's version.
constexpr std::array<uint8_t, 4> kMagic{'A', 'W', 'L', 1};
constexpr size_t kTagBytes = crypto_auth_hmacsha256_BYTES;  // 32
constexpr size_t kSignatureBytes = crypto_sign_BYTES;       // 64
constexpr std::string_view kPairContext = "airssys lattice pair key v1";

// The highest sequence number seen and the 64 below it.
struct Window {
  uint64_t max = 0;
  uint64_t seen = 0;  // bit d: max - d was seen

  [[nodiscard]] bool accept(uint64_t sequence) {
    if (sequence == 0) return false;
    if (sequence > max) {
      const uint64_t shift = sequence - max;
      seen = shift >= 64 ? 0 : seen << shift;
      seen |= 1;
      max = sequence;
      return true;
    }
    const uint64_t distance = max - sequence;
    if (distance >= 64) return false;
    const uint64_t bit = uint64_t{1} << distance;
    if (seen & bit) return false;
    seen |= bit;
    return true;
  }
};

// Writes into a buffer sized once for the whole envelope.
class Writer {
 public:
  explicit Writer(size_t size) : out_(size) {}
  void u8(uint8_t v) { put(&v, 1); }
  void u64(uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
    put(b, 8);
  }
  void bytes(std::span<const uint8_t> b) { put(b.data(), b.size()); }
  void name(std::string_view s) {
    u8(static_cast<uint8_t>(s.size()));
    put(s.data(), s.size());
  }
  size_t at() const { return at_; }
  std::vector<uint8_t>& out() { return out_; }

 private:
  void put(const void* p, size_t n) {
    if (n) std::memcpy(out_.data() + at_, p, n);
    at_ += n;
  }
  std::vector<uint8_t> out_;
  size_t at_ = 0;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  bool ok() const { return ok_; }
  size_t at() const { return at_; }
  uint8_t u8() {
    if (!need(1)) return 0;
    return in_[at_++];
  }
  uint64_t u64() {
    if (!need(8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{in_[at_ + i]} << (8 * i);
    at_ += 8;
    return v;
  }
  std::string name() {
    const size_t n = u8();
    if (!need(n)) return {};
    std::string s(reinterpret_cast<const char*>(in_.data() + at_), n);
    at_ += n;
    return s;
  }
  std::span<const uint8_t> take(size_t n) {
    if (!need(n)) return {};
    auto s = in_.subspan(at_, n);
    at_ += n;
    return s;
  }

 private:
  bool need(size_t n) {
    if (!ok_ || in_.size() - at_ < n) ok_ = false;
    return ok_;
  }
  std::span<const uint8_t> in_;
  size_t at_ = 0;
  bool ok_ = true;
};

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error refused(ErrorCode code, std::string_view from, std::string why) {
  return Error::of(code, fmt::format("lattice envelope from '{}' refused: {}", from, why));
}

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= kMaxNameBytes &&
         std::none_of(s.begin(), s.end(), [](char c) {
           return static_cast<unsigned char>(c) < 0x21 || c == 0x7f;
         });
}

}  // namespace

const char* envelope_kind_name(EnvelopeKind kind) {
  switch (kind) {
    case EnvelopeKind::Send: return "send";
    case EnvelopeKind::Request: return "request";
    case EnvelopeKind::Reply: return "reply";
    case EnvelopeKind::Publish: return "publish";
    case EnvelopeKind::Heartbeat: return "heartbeat";
  }
  return "?";
}

bool is_directed(EnvelopeKind kind) {
  return kind == EnvelopeKind::Send || kind == EnvelopeKind::Request ||
         kind == EnvelopeKind::Reply;
}

// --- admitted hosts ----------------------------------------------------------

Result<AdmittedHosts> AdmittedHosts::parse(std::string_view text, std::string_view file) {
  security::detail::TomlReader input{std::string(file)};
  input.limit_size(1024 * 1024, "a lattice host list");
  auto root = input.parse(text);
  if (!root) return std::unexpected(input.error(ErrorCode::InvalidConfig));
  AdmittedHosts hosts;
  std::set<security::PublicKey> keys;
  for (const auto& [k, node] : *root) {
    if (k.str() != "host") {
      input.add(node, std::string(k.str()), "unknown key (known: [[host]])");
      continue;
    }
    const auto* array = node.as_array();
    if (!array || !array->is_array_of_tables()) {
      input.add(node, "host", "must be an array of tables ([[host]])");
      continue;
    }
    for (const auto& entry : *array) {
      const auto& table = *entry.as_table();
      std::optional<std::string> name;
      std::optional<security::PublicKey> key;
      for (const auto& [hk, hv] : table) {
        const std::string key_name = "host." + std::string(hk.str());
        if (hk.str() == "name") {
          const auto* s = hv.as_string();
          if (!s || !valid_name(s->get())) {
            input.add(hv, key_name,
                      "must be a host name of 1 to 255 printable characters without spaces");
          } else {
            name = s->get();
          }
        } else if (hk.str() == "key") {
          const auto* s = hv.as_string();
          auto parsed = s ? security::parse_public_key(s->get())
                          : Result<security::PublicKey>(std::unexpected(
                                Error::of(ErrorCode::InvalidArgument, "not a string")));
          if (!parsed) {
            input.add(hv, key_name, "must be a base64 Ed25519 public key (as keygen writes)");
          } else {
            key = *parsed;
          }
        } else {
          input.add(hv, key_name, "unknown key (known: name, key)");
        }
      }
      if (!name || !key) {
        if (!name && !key) input.add(entry, "host", "needs a name and a key");
        continue;
      }
      if (hosts.key_of(*name)) {
        input.add(entry, "host.name", fmt::format("'{}' is listed twice", *name));
      } else if (!keys.insert(*key).second) {
        input.add(entry, "host.key", fmt::format("the key of '{}' is listed for another host",
                                                 *name));
      } else {
        hosts.add(*name, *key);
      }
    }
  }
  return input.result(std::move(hosts), ErrorCode::InvalidConfig);
}

Result<AdmittedHosts> AdmittedHosts::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::IoError,
                      fmt::format("{}: cannot read the lattice's host list", file.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), file.string());
}

void AdmittedHosts::add(std::string name, const security::PublicKey& key) {
  hosts_[std::move(name)] = key;
}

const security::PublicKey* AdmittedHosts::key_of(std::string_view host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? nullptr : &it->second;
}

// --- one host's identity -----------------------------------------------------

struct HostIdentity::Peer {
  security::PublicKey key{};
  std::optional<std::array<uint8_t, crypto_auth_hmacsha256_KEYBYTES>> pair_key;  // lazily
  bool unusable = false;  // its key has no X25519 form
  uint64_t send_sequence = 0;
  uint64_t newest_boot = 0;
  Window directed;
  Window broadcast;
};

HostIdentity::~HostIdentity() {
  sodium_memzero(signing_key_.data(), signing_key_.size());
  sodium_memzero(exchange_key_.data(), exchange_key_.size());
  for (auto& [name, peer] : peers_) {
    if (peer->pair_key) sodium_memzero(peer->pair_key->data(), peer->pair_key->size());
  }
}

Result<std::unique_ptr<HostIdentity>> HostIdentity::create(std::string name,
                                                           const security::KeyPair& keys,
                                                           AdmittedHosts hosts,
                                                           std::string lattice, uint64_t boot,
                                                           ReceiverOptions options) {
  AIRSSYS_TRY(security::crypto_init());
  if (!valid_name(name) || !valid_name(lattice)) {
    return make_error(ErrorCode::InvalidArgument,
                      "a lattice and host name is 1 to 255 printable characters without spaces");
  }
  const auto* listed = hosts.key_of(name);
  if (!listed || *listed != keys.public_key) {
    return make_error(ErrorCode::TrustDenied,
                      fmt::format("host '{}' (key {}) is not in the lattice's host list{}", name,
                                  security::key_id(keys.public_key),
                                  listed ? " under this key" : ""));
  }
  std::unique_ptr<HostIdentity> me(new HostIdentity());
  me->name_ = std::move(name);
  me->lattice_ = std::move(lattice);
  me->options_ = options;
  me->keys_ = keys;
  me->hosts_ = std::move(hosts);
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  crypto_sign_seed_keypair(public_key.data(), me->signing_key_.data(),
                           keys.secret_key.seed().data());
  if (crypto_sign_ed25519_sk_to_curve25519(me->exchange_key_.data(), me->signing_key_.data()) !=
      0) {
    return make_error(ErrorCode::InternalError, "the host key has no X25519 form");
  }
  if (boot == 0) {
    // Later processes of a host have larger boots: its start time in
    // milliseconds, and 16 random bits.
    boot = (static_cast<uint64_t>(now_unix_ms()) << 16) | (randombytes_random() & 0xffff);
  }
  me->boot_ = boot;
  return me;
}

HostIdentity::Peer* HostIdentity::peer(std::string_view host) {
  if (auto it = peers_.find(host); it != peers_.end()) return it->second.get();
  const auto* key = hosts_.key_of(host);
  if (!key) return nullptr;
  auto peer = std::make_unique<Peer>();
  peer->key = *key;
  auto* p = peer.get();
  peers_.emplace(std::string(host), std::move(peer));
  return p;
}

namespace {

// The key both hosts of a pair derive: BLAKE2b of their X25519 shared secret,
// both public keys in a fixed order, and the format's context.
std::optional<std::array<uint8_t, crypto_auth_hmacsha256_KEYBYTES>> pair_key(
    const std::array<uint8_t, 32>& my_exchange, const security::PublicKey& mine,
    const security::PublicKey& theirs) {
  std::array<uint8_t, 32> their_exchange{};
  if (crypto_sign_ed25519_pk_to_curve25519(their_exchange.data(), theirs.data()) != 0) {
    return std::nullopt;
  }
  std::array<uint8_t, crypto_scalarmult_BYTES> shared{};
  if (crypto_scalarmult(shared.data(), my_exchange.data(), their_exchange.data()) != 0) {
    return std::nullopt;
  }
  const auto& low = std::min(mine, theirs);
  const auto& high = std::max(mine, theirs);
  std::array<uint8_t, crypto_auth_hmacsha256_KEYBYTES> key{};
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, key.size());
  crypto_generichash_update(&state, shared.data(), shared.size());
  crypto_generichash_update(&state, low.data(), low.size());
  crypto_generichash_update(&state, high.data(), high.size());
  crypto_generichash_update(&state, reinterpret_cast<const uint8_t*>(kPairContext.data()),
                            kPairContext.size());
  crypto_generichash_final(&state, key.data(), key.size());
  sodium_memzero(shared.data(), shared.size());
  return key;
}

}  // namespace

Result<std::vector<uint8_t>> HostIdentity::seal(WireEnvelope e) {
  const bool directed = is_directed(e.kind);
  if (!valid_name(e.from_component) || !valid_name(e.target) ||
      (directed && !valid_name(e.to_host))) {
    return make_error(ErrorCode::InvalidArgument,
                      "a lattice envelope names its sender, its target and, when directed, its "
                      "receiving host (1 to 255 printable characters each)");
  }
  if (e.payload.size() > kMaxEnvelopePayload) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("a lattice envelope carries at most {} bytes", kMaxEnvelopePayload));
  }
  if (!directed) e.to_host.clear(), e.to_boot = 0;
  e.lattice = lattice_;
  e.from_host = name_;
  e.from_boot = boot_;
  e.sent_unix_ms = now_unix_ms();
  std::optional<std::array<uint8_t, crypto_auth_hmacsha256_KEYBYTES>> key;
  {
    std::lock_guard lock(mutex_);
    if (directed) {
      Peer* p = peer(e.to_host);
      if (!p) {
        return make_error(ErrorCode::TrustDenied,
                          fmt::format("host '{}' is not in the lattice's host list", e.to_host));
      }
      if (!p->pair_key && !p->unusable) {
        p->pair_key = pair_key(exchange_key_, keys_.public_key, p->key);
        p->unusable = !p->pair_key;
      }
      if (!p->pair_key) {
        return make_error(ErrorCode::TrustDenied,
                          fmt::format("host '{}' has a key no pair key can be made with",
                                      e.to_host));
      }
      key = p->pair_key;
      e.sequence = ++p->send_sequence;
    } else {
      e.sequence = ++broadcast_sequence_;
    }
  }
  const size_t covered = kMagic.size() + 1 + 5 + e.lattice.size() + e.from_host.size() +
                         e.to_host.size() + e.from_component.size() + e.target.size() + 6 * 8 +
                         e.payload.size();
  Writer w(covered + (directed ? kTagBytes : kSignatureBytes));
  w.bytes(kMagic);
  w.u8(static_cast<uint8_t>(e.kind));
  w.name(e.lattice);
  w.name(e.from_host);
  w.name(e.to_host);
  w.name(e.from_component);
  w.name(e.target);
  w.u64(e.to_boot);
  w.u64(e.from_boot);
  w.u64(e.sequence);
  w.u64(static_cast<uint64_t>(e.sent_unix_ms));
  w.u64(e.correlation_id);
  w.u64(e.payload.size());
  w.bytes(e.payload);
  auto& out = w.out();
  if (w.at() != covered) return make_error(ErrorCode::InternalError, "lattice envelope size");
  if (directed) {
    crypto_auth_hmacsha256(out.data() + covered, out.data(), covered, key->data());
    sodium_memzero(key->data(), key->size());
  } else {
    crypto_sign_detached(out.data() + covered, nullptr, out.data(), covered,
                         signing_key_.data());
  }
  return std::move(out);
}

Result<WireEnvelope> HostIdentity::open(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  auto magic = r.take(kMagic.size());
  if (!r.ok() || !std::equal(magic.begin(), magic.end(), kMagic.begin())) {
    return std::unexpected(refused(ErrorCode::InvalidArgument, "?",
                                   "not a lattice envelope of this version"));
  }
  WireEnvelope e;
  const uint8_t kind = r.u8();
  if (kind < static_cast<uint8_t>(EnvelopeKind::Send) ||
      kind > static_cast<uint8_t>(EnvelopeKind::Heartbeat)) {
    return std::unexpected(refused(ErrorCode::InvalidArgument, "?",
                                   fmt::format("unknown kind {}", kind)));
  }
  e.kind = static_cast<EnvelopeKind>(kind);
  const bool directed = is_directed(e.kind);
  e.lattice = r.name();
  e.from_host = r.name();
  e.to_host = r.name();
  e.from_component = r.name();
  e.target = r.name();
  e.to_boot = r.u64();
  e.from_boot = r.u64();
  e.sequence = r.u64();
  e.sent_unix_ms = static_cast<int64_t>(r.u64());
  e.correlation_id = r.u64();
  const uint64_t size = r.u64();
  const std::string from = r.ok() && valid_name(e.from_host) ? e.from_host : "?";
  if (!r.ok() || size > kMaxEnvelopePayload) {
    return std::unexpected(refused(ErrorCode::InvalidArgument, from, "malformed"));
  }
  auto payload = r.take(size);
  const size_t covered = r.at();
  auto auth = r.take(directed ? kTagBytes : kSignatureBytes);
  if (!r.ok() || r.at() != bytes.size() || !valid_name(e.from_component) ||
      !valid_name(e.target) || (directed && !valid_name(e.to_host))) {
    return std::unexpected(refused(ErrorCode::InvalidArgument, from, "malformed"));
  }
  if (e.lattice != lattice_) {
    return std::unexpected(refused(ErrorCode::TrustDenied, from,
                                   fmt::format("it is for lattice '{}'", e.lattice)));
  }
  if (directed && e.to_host != name_) {
    return std::unexpected(
        refused(ErrorCode::TrustDenied, from, fmt::format("it is for host '{}'", e.to_host)));
  }
  if (directed && e.to_boot != boot_) {
    return std::unexpected(refused(ErrorCode::TrustDenied, from,
                                   "it was sealed for an earlier process of this host (a "
                                   "replay, or a sender that has not seen this host restart)"));
  }
  std::lock_guard lock(mutex_);
  Peer* p = peer(from);
  if (!p) {
    return std::unexpected(
        refused(ErrorCode::TrustDenied, from, "the host is not in the lattice's host list"));
  }
  if (directed) {
    if (!p->pair_key && !p->unusable) {
      p->pair_key = pair_key(exchange_key_, keys_.public_key, p->key);
      p->unusable = !p->pair_key;
    }
    if (!p->pair_key || crypto_auth_hmacsha256_verify(auth.data(), bytes.data(), covered,
                                                      p->pair_key->data()) != 0) {
      return std::unexpected(refused(ErrorCode::SignatureInvalid, from,
                                     "its tag does not verify under the key of this pair of "
                                     "hosts (forged or altered)"));
    }
  } else if (crypto_sign_verify_detached(auth.data(), bytes.data(), covered, p->key.data()) !=
             0) {
    return std::unexpected(refused(ErrorCode::SignatureInvalid, from,
                                   "its signature does not verify under the host's key (forged "
                                   "or altered)"));
  }
  if (!directed) {
    const auto skew = std::chrono::milliseconds(std::llabs(now_unix_ms() - e.sent_unix_ms));
    if (skew > options_.max_clock_skew) {
      return std::unexpected(refused(
          ErrorCode::TrustDenied, from,
          fmt::format("it was sent {} ms from this host's clock (at most {} ms)", skew.count(),
                      options_.max_clock_skew.count())));
    }
  }
  // Authentic: now its place in the sender's sequence.
  if (e.from_boot < p->newest_boot) {
    return std::unexpected(refused(ErrorCode::TrustDenied, from,
                                   "it comes from an earlier process of that host (a replay)"));
  }
  if (e.from_boot > p->newest_boot) {
    p->newest_boot = e.from_boot;
    p->directed = {};
    p->broadcast = {};
  }
  if (!(directed ? p->directed : p->broadcast).accept(e.sequence)) {
    return std::unexpected(refused(
        ErrorCode::TrustDenied, from,
        fmt::format("its sequence number {} was seen already, or is too old (a replay)",
                    e.sequence)));
  }
  e.payload.assign(payload.begin(), payload.end());
  return e;
}

}  // namespace airssys::wasm::lattice
