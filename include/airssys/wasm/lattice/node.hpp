#pragma once
// One host on the lattice: its link to NATS and its identity together. It
// announces itself in signed heartbeats, keeps the table of the hosts it
// hears (their boots, labels, when last heard), sends directed envelopes to
// live hosts, and hands on only what opens: every refused envelope goes to
// on_refused with its typed error, for the audit log.
//
// Example:
//   auto node = Node::start(std::move(identity), {.link = {.servers = {url}}});
//   (*node)->wait_for_host("h2", 10s);
//   (*node)->send({.kind = EnvelopeKind::Send, .to_host = "h2", ...});

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/lattice/envelope.hpp"
#include "airssys/wasm/lattice/link.hpp"

namespace airssys::wasm::lattice {

// The subjects of a lattice (docs/design.md, "Lattice").
[[nodiscard]] std::string host_subject(std::string_view lattice, std::string_view host);
[[nodiscard]] std::string heartbeat_subject(std::string_view lattice);

struct NodeOptions {
  LinkOptions link;  // its name defaults to the host's
  std::map<std::string, std::string> labels;
  std::chrono::milliseconds heartbeat_interval{1'000};
  // A host not heard for this many intervals is no longer live.
  uint32_t missed_heartbeats = 3;
  // Each envelope that opened, on the link's thread for its subject, in the
  // order the sending host sent them. Must not block for long.
  std::function<void(WireEnvelope)> on_message;
  // Each envelope refused (what it claimed to come from, why).
  std::function<void(std::string_view from, const Error&)> on_refused;
};

struct PeerHost {
  std::string name;
  uint64_t boot = 0;
  std::map<std::string, std::string> labels;
  std::chrono::steady_clock::time_point last_heard;
  bool live = false;
};

class Node {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Node>> start(std::unique_ptr<HostIdentity> identity,
                                                           NodeOptions options);
  // Stops the heartbeats and subscriptions; nothing is handed on after.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  [[nodiscard]] const HostIdentity& identity() const { return *identity_; }
  // A directed envelope to a live host (its boot filled in from its
  // heartbeat): IoError when that host is not live, or the link refuses.
  [[nodiscard]] Result<void> send(WireEnvelope envelope);
  // The hosts heard from, this one aside, in name order.
  [[nodiscard]] std::vector<PeerHost> hosts() const;
  // Until `host` is live (true), or the deadline (false).
  [[nodiscard]] bool wait_for_host(std::string_view host, std::chrono::milliseconds deadline) const;
  // The link (for what the node does not do itself yet: publish, flush).
  [[nodiscard]] Link& link() { return *link_; }

 private:
  struct State;
  Node() = default;
  std::unique_ptr<HostIdentity> identity_;
  std::unique_ptr<Link> link_;
  std::unique_ptr<State> state_;
};

}  // namespace airssys::wasm::lattice
