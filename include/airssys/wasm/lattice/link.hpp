#pragma once
// A host's connection to the lattice's NATS servers (the C client, libnats):
// connect with the operator's credentials, publish, subscribe, request with
// a deadline; after the first connection it reconnects by itself, forever,
// and keeps its subscriptions. What a link publishes is never delivered to
// its own subscriptions (the host delivers to its own components itself).
// Bytes only: what travels is sealed and opened
// by lattice::HostIdentity (envelope.hpp).
//
// Example:
//   auto link = Link::connect({.servers = {"nats://127.0.0.1:4222"}, .name = "h1"});
//   auto sub = (*link)->subscribe("airssys.prod.host.h1", [](const Delivery& d) { ... });
//   (*link)->publish("airssys.prod.host.h2", bytes);

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::lattice {

enum class LinkEvent : uint8_t { Disconnected, Reconnected, Closed };
[[nodiscard]] const char* link_event_name(LinkEvent event);

struct LinkOptions {
  std::vector<std::string> servers;  // nats://host:port, at least one
  std::string name;                  // the connection's name on the server (the host's)
  // Credentials, any that the server asks for: user and password; an NKey
  // (its public key and the file of its seed); TLS (the CA that signs the
  // server's certificate, and this host's certificate and key when the
  // server asks for one).
  std::string user;
  std::string password;
  std::string nkey_public;
  std::filesystem::path nkey_seed_file;
  std::filesystem::path tls_ca_file;
  std::filesystem::path tls_cert_file;
  std::filesystem::path tls_key_file;
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds reconnect_wait{250};
  // Bytes published while disconnected that are kept to send on reconnect.
  size_t reconnect_buffer_bytes = 8 * 1024 * 1024;
  // Told on the client's own thread; must not block.
  std::function<void(LinkEvent)> on_event;
};

// One message received: valid during the handler only.
struct Delivery {
  std::string_view subject;
  std::string_view reply;  // empty unless the sender waits for a reply
  std::span<const uint8_t> data;
};
using DeliveryHandler = std::function<void(const Delivery&)>;

class Link;

// Ends when destroyed (or unsubscribe()); the handler is never called after.
// Neither may run in the subscription's own handler, and a subscription ends
// before its link.
class Subscription {
 public:
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  void unsubscribe();

 private:
  friend class Link;
  struct State;
  explicit Subscription(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class Link {
 public:
  // IoError when no server answers within connect_timeout or refuses the
  // credentials; InvalidConfig for options the client refuses (no server, a
  // bad URL, an unreadable certificate).
  [[nodiscard]] static Result<std::unique_ptr<Link>> connect(LinkOptions options);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Queued for the server; while disconnected, kept (up to
  // reconnect_buffer_bytes) and sent on reconnect.
  [[nodiscard]] Result<void> publish(std::string_view subject, std::span<const uint8_t> data,
                                     std::string_view reply = {});
  // `handler` runs on the client's thread for this subscription, one
  // message at a time, in the order the server sent them.
  [[nodiscard]] Result<std::unique_ptr<Subscription>> subscribe(std::string_view subject,
                                                                DeliveryHandler handler);
  // The reply; IoError when nobody answers within `timeout` (at once when
  // nobody subscribes to `subject`) or when the link is down.
  [[nodiscard]] Result<std::vector<uint8_t>> request(std::string_view subject,
                                                     std::span<const uint8_t> data,
                                                     std::chrono::milliseconds timeout);
  // Until the server has everything published so far.
  [[nodiscard]] Result<void> flush(std::chrono::milliseconds timeout);
  [[nodiscard]] bool connected() const;
  // The server it is connected to now ("" when none).
  [[nodiscard]] std::string server() const;

 private:
  struct State;
  explicit Link(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace airssys::wasm::lattice
