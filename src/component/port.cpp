#include "port.hpp"

#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "actor.hpp"
#include "airssys/wasm/security/manifest.hpp"

namespace airssys::wasm::component {

using host::AbiError;
using security::AuditResult;
using security::DecisionLayer;
using security::Permission;

AbiError ComponentPort::deliver(std::string_view target, actor::Envelope envelope,
                                std::string_view what) {
  const auto& sender = self_->spec.name;
  std::shared_lock route(system_.route_mutex_);
  auto entry = system_.find(target);
  if (!entry) {
    system_.audit(*self_, what, target, AuditResult::Denied, DecisionLayer::Messaging,
                  "no such component");
    return AbiError::NotFound;
  }
  if (envelope.kind != actor::MessageKind::Reply) {
    auto admitted = entry->spec.security->check(Permission::MsgReceive, sender);
    if (!admitted.granted) {
      system_.audit(*self_, what, target, AuditResult::Denied, DecisionLayer::Messaging,
                    fmt::format("'{}' does not admit messages from '{}' (messaging.receive: {})",
                                target, sender, admitted.reason_text()));
      return AbiError::Denied;
    }
  }
  if (!actor_.context().consume_quota(what, target, security::QuotaKind::MessageRate, 1)) {
    return AbiError::Quota;  // audited with the usage, the request and the limit
  }
  // Replies find the sender by id; the name it shows is the component's,
  // whichever actor (version) runs it.
  envelope.sender = actor::Address{actor_.self().id, sender};
  envelope.target = actor::Address::named(entry->actor_name);
  auto sent = system_.scheduler_.send(std::move(envelope));
  if (!sent) {
    bool full = sent.error().code == ErrorCode::MailboxFull;
    system_.audit(*self_, what, target, AuditResult::Denied, DecisionLayer::Messaging,
                  full ? "the receiver's mailbox is full" : sent.error().message);
    return full ? AbiError::Full : AbiError::Unavailable;
  }
  return AbiError::Ok;
}

AbiError ComponentPort::send(std::string_view target, std::span<const uint8_t> payload) {
  actor::Envelope envelope;
  envelope.kind = actor::MessageKind::Send;
  envelope.payload = actor::Payload(payload);
  return deliver(target, std::move(envelope), "messaging.send");
}

int64_t ComponentPort::request(std::string_view target, std::span<const uint8_t> payload,
                               uint32_t timeout_ms) {
  actor::Envelope envelope;
  envelope.kind = actor::MessageKind::Request;
  envelope.correlation_id = system_.next_correlation();
  envelope.payload = actor::Payload(payload);
  uint64_t correlation = envelope.correlation_id;
  AbiError sent = deliver(target, std::move(envelope), "messaging.request");
  if (sent != AbiError::Ok) return static_cast<int64_t>(sent);
  actor::Envelope timeout;
  timeout.kind = actor::MessageKind::Timeout;
  timeout.correlation_id = correlation;
  timeout.target = actor_.self();
  timeout.sender = actor_.self();
  uint32_t ms = timeout_ms == 0 ? 30'000 : timeout_ms;
  auto timer = system_.scheduler_.send_after(std::chrono::milliseconds(ms), std::move(timeout));
  actor_.expect_reply(correlation, timer);
  return static_cast<int64_t>(correlation);
}

AbiError ComponentPort::reply(uint64_t correlation_id, std::span<const uint8_t> payload) {
  auto requester = actor_.take_requester(correlation_id);
  if (!requester) return AbiError::NoRequest;
  actor::Envelope envelope;
  envelope.kind = actor::MessageKind::Reply;
  envelope.correlation_id = correlation_id;
  envelope.payload = actor::Payload(payload);
  envelope.sender = actor::Address{actor_.self().id, self_->spec.name};
  envelope.target = *requester;
  auto sent = system_.scheduler_.send(std::move(envelope));
  if (!sent) {
    system_.audit(*self_, "messaging.reply", requester->to_string(), AuditResult::Denied,
                  DecisionLayer::Messaging, sent.error().message);
    return sent.error().code == ErrorCode::MailboxFull ? AbiError::Full : AbiError::Unavailable;
  }
  return AbiError::Ok;
}

int32_t ComponentPort::publish(std::string_view topic, std::span<const uint8_t> payload) {
  if (!security::is_valid_topic(topic)) return static_cast<int32_t>(AbiError::Invalid);
  if (!actor_.context().consume_quota("messaging.publish", topic,
                                      security::QuotaKind::MessageRate, 1)) {
    return static_cast<int32_t>(AbiError::Quota);
  }
  std::vector<std::pair<std::string, std::string>> targets;  // component, actor
  std::shared_lock route(system_.route_mutex_);
  {
    std::lock_guard lock(system_.mutex_);
    for (const auto& [name, entry] : system_.entries_) {
      for (const auto& s : entry->subscriptions) {
        if (s.pattern.matches(topic)) {
          targets.emplace_back(name, entry->actor_name);
          break;
        }
      }
    }
  }
  // One envelope per subscriber, all sent under one lock of the scheduler,
  // which wakes its workers once for the lot. The payload is built once:
  // every envelope shares its bytes (or holds a small one inline).
  const actor::Payload shared(payload);
  const actor::Address sender{actor_.self().id, self_->spec.name};
  std::vector<actor::Envelope> envelopes(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    auto& envelope = envelopes[i];
    envelope.kind = actor::MessageKind::Send;
    envelope.topic = std::string(topic);
    envelope.payload = shared;
    envelope.sender = sender;
    envelope.target = actor::Address::named(std::move(targets[i].second));
  }
  const size_t reached =
      system_.scheduler_.send_all(envelopes, [&](size_t i, const Error& error) {
        const std::string& name = targets[i].first;
        system_.audit(*self_, "messaging.publish", name, AuditResult::Denied,
                      DecisionLayer::Messaging,
                      fmt::format("topic {} not delivered to '{}': {}", topic, name,
                                  error.message));
      });
  return static_cast<int32_t>(reached);
}

AbiError ComponentPort::subscribe(std::string_view filter) {
  auto pattern = security::TopicPattern::compile(filter);
  if (!pattern) return AbiError::Invalid;
  std::lock_guard lock(system_.mutex_);
  for (const auto& s : self_->subscriptions) {
    if (s.filter == filter) return AbiError::Ok;
  }
  self_->subscriptions.push_back({std::string(filter), std::move(*pattern)});
  return AbiError::Ok;
}

AbiError ComponentPort::unsubscribe(std::string_view filter) {
  std::lock_guard lock(system_.mutex_);
  auto& subs = self_->subscriptions;
  std::erase_if(subs, [&](const auto& s) { return s.filter == filter; });
  return AbiError::Ok;
}

}  // namespace airssys::wasm::component
