#include "airssys/wasm/lattice/node.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace airssys::wasm::lattice {

std::string host_subject(std::string_view lattice, std::string_view host) {
  return fmt::format("airssys.{}.host.{}", lattice, host);
}

std::string heartbeat_subject(std::string_view lattice) {
  return fmt::format("airssys.{}.hb", lattice);
}

namespace {

// A name that is one NATS subject token: no dots, no wildcards.
bool subject_token(std::string_view s) {
  return !s.empty() && s.find_first_of(".*> \t\r\n") == std::string_view::npos;
}

}  // namespace

struct Node::State {
  NodeOptions options;
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::map<std::string, PeerHost, std::less<>> peers;
  bool stopping = false;
  std::thread heartbeat;
  std::unique_ptr<Subscription> inbox;
  std::unique_ptr<Subscription> heartbeats;

  [[nodiscard]] std::chrono::steady_clock::duration live_for() const {
    return options.heartbeat_interval * options.missed_heartbeats;
  }
  void refused(std::string_view from, const Error& e) const {
    if (options.on_refused) options.on_refused(from, e);
  }
};

Result<std::unique_ptr<Node>> Node::start(std::unique_ptr<HostIdentity> identity,
                                          NodeOptions options) {
  if (!identity) return make_error(ErrorCode::InvalidArgument, "a lattice node needs an identity");
  if (!subject_token(identity->lattice()) || !subject_token(identity->name())) {
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("lattice '{}' and host '{}': a name there is one NATS subject "
                                  "token (no '.', '*', '>' or spaces)",
                                  identity->lattice(), identity->name()));
  }
  if (options.heartbeat_interval <= std::chrono::milliseconds(0) ||
      options.missed_heartbeats == 0) {
    return make_error(ErrorCode::InvalidConfig,
                      "the heartbeat interval and the heartbeats a host may miss are positive");
  }
  if (options.link.name.empty()) options.link.name = identity->name();
  std::unique_ptr<Node> node(new Node());
  node->identity_ = std::move(identity);
  node->state_ = std::make_unique<State>();
  node->state_->options = std::move(options);
  AIRSSYS_TRY_ASSIGN(node->link_, Link::connect(node->state_->options.link));

  State* st = node->state_.get();
  HostIdentity* me = node->identity_.get();
  AIRSSYS_TRY_ASSIGN(
      st->inbox,
      node->link_->subscribe(host_subject(me->lattice(), me->name()), [st, me](const Delivery& d) {
        auto opened = me->open(d.data);
        if (!opened) {
          st->refused("?", opened.error());
          return;
        }
        if (st->options.on_message) st->options.on_message(std::move(*opened));
      }));
  AIRSSYS_TRY_ASSIGN(
      st->heartbeats,
      node->link_->subscribe(heartbeat_subject(me->lattice()), [st, me](const Delivery& d) {
        auto opened = me->open(d.data);
        if (!opened) {
          st->refused("?", opened.error());
          return;
        }
        if (opened->kind != EnvelopeKind::Heartbeat || opened->from_host == me->name()) return;
        auto body = nlohmann::json::parse(opened->payload.begin(), opened->payload.end(), nullptr,
                                          false);
        std::map<std::string, std::string> labels;
        if (body.is_object() && body.contains("labels") && body["labels"].is_object()) {
          for (const auto& [k, v] : body["labels"].items()) {
            if (v.is_string()) labels[k] = v.get<std::string>();
          }
        }
        std::lock_guard lock(st->mutex);
        auto& peer = st->peers[opened->from_host];
        peer.name = opened->from_host;
        peer.boot = opened->from_boot;
        peer.labels = std::move(labels);
        peer.last_heard = std::chrono::steady_clock::now();
        st->changed.notify_all();
      }));
  AIRSSYS_TRY(node->link_->flush(st->options.link.connect_timeout));

  // Heartbeats: at once, then every interval, until the node stops.
  Link* link = node->link_.get();
  st->heartbeat = std::thread([st, me, link] {
    nlohmann::json labels = nlohmann::json::object();
    for (const auto& [k, v] : st->options.labels) labels[k] = v;
    const std::string body = nlohmann::json{{"labels", labels}}.dump();
    const std::string subject = heartbeat_subject(me->lattice());
    std::unique_lock lock(st->mutex);
    while (!st->stopping) {
      lock.unlock();
      WireEnvelope beat;
      beat.kind = EnvelopeKind::Heartbeat;
      beat.from_component = "host";
      beat.target = "heartbeat";
      beat.payload.assign(body.begin(), body.end());
      if (auto sealed = me->seal(std::move(beat))) (void)link->publish(subject, *sealed);
      lock.lock();
      st->changed.wait_for(lock, st->options.heartbeat_interval, [st] { return st->stopping; });
    }
  });
  return node;
}

Node::~Node() {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    state_->changed.notify_all();
  }
  if (state_->heartbeat.joinable()) state_->heartbeat.join();
  // The subscriptions end before the link they belong to.
  state_->inbox.reset();
  state_->heartbeats.reset();
  link_.reset();
}

Result<void> Node::send(WireEnvelope envelope) {
  if (!is_directed(envelope.kind)) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("a {} envelope is not sent to one host",
                                  envelope_kind_name(envelope.kind)));
  }
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->peers.find(envelope.to_host);
    const auto now = std::chrono::steady_clock::now();
    if (it == state_->peers.end() || now - it->second.last_heard > state_->live_for()) {
      return make_error(
          ErrorCode::IoError,
          it == state_->peers.end()
              ? fmt::format("host '{}' has not been heard on lattice '{}'", envelope.to_host,
                            identity_->lattice())
              : fmt::format("host '{}' is not live on lattice '{}' (last heard {} ms ago)",
                            envelope.to_host, identity_->lattice(),
                            std::chrono::duration_cast<std::chrono::milliseconds>(
                                now - it->second.last_heard)
                                .count()));
    }
    envelope.to_boot = it->second.boot;
  }
  if (!subject_token(envelope.to_host)) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("'{}' is no host name of a lattice", envelope.to_host));
  }
  const std::string subject = host_subject(identity_->lattice(), envelope.to_host);
  AIRSSYS_TRY_ASSIGN(auto sealed, identity_->seal(std::move(envelope)));
  return link_->publish(subject, sealed);
}

std::vector<PeerHost> Node::hosts() const {
  std::lock_guard lock(state_->mutex);
  const auto now = std::chrono::steady_clock::now();
  std::vector<PeerHost> out;
  for (const auto& [name, peer] : state_->peers) {
    PeerHost p = peer;
    p.live = now - peer.last_heard <= state_->live_for();
    out.push_back(std::move(p));
  }
  return out;
}

bool Node::wait_for_host(std::string_view host, std::chrono::milliseconds deadline) const {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, deadline, [&] {
    auto it = state_->peers.find(host);
    return it != state_->peers.end() &&
           std::chrono::steady_clock::now() - it->second.last_heard <= state_->live_for();
  });
}

}  // namespace airssys::wasm::lattice
