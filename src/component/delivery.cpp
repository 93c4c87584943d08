// How the actor turns a message (or its configuration) into guest calls:
// alloc, write [sender][topic][payload], the handler, dealloc; the inbox
// buffer that saves the alloc; the start-up calls (_initialize, airssys_init).
// Methods of ComponentActor (actor.hpp).
#include <string>
#include <utility>

#include <fmt/format.h>

#include "actor.hpp"

namespace airssys::wasm::component {

using host::AbiError;
using security::AuditResult;
using security::DecisionLayer;

Result<void> ComponentActor::begin(engine::ExportHandle handle,
                                   std::span<const engine::Value> args, Stage stage,
                                   uint64_t fuel) {
  engine::CallOptions options;
  options.fuel = fuel;
  options.slice = entry_->spec.slice;
  AIRSSYS_TRY_ASSIGN(call_, instance_->start_call(handle, args, options));
  stage_ = stage;
  return {};
}

Result<void> ComponentActor::next_init_stage(Stage done) {
  const auto& spec = entry_->spec;
  if (world_) {
    return begin_world(world_exports_.init, {cm::Val::string(spec.config_json)}, Stage::Init);
  }
  if (done == Stage::None && exports_.initialize) {
    return begin(*exports_.initialize, {}, Stage::Initialize, spec.fuel_per_message);
  }
  if ((done == Stage::None || done == Stage::Initialize) && exports_.init) {
    // The configuration travels like a message payload: allocate, write, call.
    delivering_ = actor::Envelope{};
    delivering_->payload.assign(spec.config_json.begin(), spec.config_json.end());
    if (!exports_.alloc) {
      return make_error(ErrorCode::MissingExport,
                        fmt::format("component '{}' exports {} but not {}", spec.name,
                                    kExportInit, kExportAlloc));
    }
    buffer_size_ = static_cast<uint32_t>(delivering_->payload.size());
    return begin(*exports_.alloc, {engine::Value::i32(static_cast<int32_t>(buffer_size_))},
                 Stage::Alloc, spec.fuel_per_message);
  }
  ready_ = true;
  if (auto inbox = open_inbox(); !inbox) return inbox;
  system_.set_state(*entry_, ComponentState::Ready);
  return {};
}

Result<void> ComponentActor::begin_delivery(actor::Envelope envelope) {
  const auto& spec = entry_->spec;
  bool is_reply = envelope.kind == actor::MessageKind::Reply ||
                  envelope.kind == actor::MessageKind::Timeout;
  if (is_reply) {
    auto it = awaiting_.find(envelope.correlation_id);
    if (it == awaiting_.end()) return {};  // the other of reply/timeout already arrived
    if (envelope.kind == actor::MessageKind::Reply) system_.scheduler_.cancel(it->second);
    awaiting_.erase(it);
    reply_status_ = envelope.kind == actor::MessageKind::Reply
                        ? 0
                        : static_cast<int32_t>(AbiError::Timeout);
  }
  if (world_) {
    if (envelope.kind == actor::MessageKind::Request) {
      requesters_[envelope.correlation_id] = envelope.sender;
    }
    delivering_ = std::move(envelope);
    return begin_world_delivery(is_reply);
  }
  if (!(is_reply ? exports_.handle_reply : exports_.handle_message)) {
    std::string_view handler = is_reply ? kExportHandleReply : kExportHandleMessage;
    system_.audit(*entry_, "messaging.deliver", envelope.sender.to_string(), AuditResult::Denied,
                  DecisionLayer::Messaging,
                  fmt::format("'{}' exports no {}: message not delivered", spec.name, handler));
    return {};
  }
  if (envelope.kind == actor::MessageKind::Request) {
    requesters_[envelope.correlation_id] = envelope.sender;
  }
  delivering_ = std::move(envelope);
  uint64_t size = delivering_->payload.size() +
                  (is_reply ? 0 : delivering_->sender.name.size() +
                                      delivering_->topic.value_or("").size());
  buffer_size_ = static_cast<uint32_t>(size);
  buffer_ = 0;
  if (size != 0 && size <= inbox_size_) {
    // The component's own receive buffer: one guest call per message.
    buffer_ = inbox_;
    in_inbox_ = true;
    if (auto written = write_delivery(); !written) return written;
    return begin_handler();
  }
  if (size == 0 || !exports_.alloc) {
    if (size != 0) {
      return make_error(ErrorCode::MissingExport,
                        fmt::format("component '{}' receives messages but exports no {}",
                                    spec.name, kExportAlloc));
    }
    return begin_handler();
  }
  return begin(*exports_.alloc, {engine::Value::i32(static_cast<int32_t>(size))}, Stage::Alloc,
               spec.fuel_per_message);
}

// Writes [sender][topic][payload] (or the configuration) at buffer_.
Result<void> ComponentActor::write_delivery() {
  auto& bytes = staging_;  // keeps its capacity from message to message
  bytes.clear();
  auto& env = *delivering_;
  bool is_reply =
      env.kind == actor::MessageKind::Reply || env.kind == actor::MessageKind::Timeout;
  if (ready_ && !is_reply) {
    bytes.insert(bytes.end(), env.sender.name.begin(), env.sender.name.end());
    if (env.topic) bytes.insert(bytes.end(), env.topic->begin(), env.topic->end());
  }
  bytes.insert(bytes.end(), env.payload.begin(), env.payload.end());
  return instance_->write_memory(buffer_, bytes);
}

Result<void> ComponentActor::open_inbox() {
  if (!exports_.inbox) return {};
  engine::CallOptions options;
  options.fuel = 1'000'000;
  AIRSSYS_TRY_ASSIGN(auto r, instance_->call(*exports_.inbox, {}, options));
  uint64_t packed = r.empty() ? 0 : static_cast<uint64_t>(r[0].as_i64());
  uint32_t ptr = static_cast<uint32_t>(packed >> 32);
  uint32_t size = static_cast<uint32_t>(packed);
  if (ptr == 0 || size == 0 || uint64_t{ptr} + size > instance_->memory_bytes()) {
    return make_error(ErrorCode::TrapHost,
                      fmt::format("component '{}': {} names [{}, +{}), not a buffer in its "
                                  "memory",
                                  entry_->spec.name, kExportInbox, ptr, size));
  }
  inbox_ = ptr;
  inbox_size_ = size;
  return {};
}

Result<void> ComponentActor::begin_handler() {
  const auto& spec = entry_->spec;
  auto& env = *delivering_;
  if (!ready_) {  // airssys_init(config_ptr, config_len)
    return begin(*exports_.init,
                 {engine::Value::i32(static_cast<int32_t>(buffer_)),
                  engine::Value::i32(static_cast<int32_t>(buffer_size_))},
                 Stage::Init, spec.fuel_per_message);
  }
  uint32_t at = buffer_;
  if (env.kind == actor::MessageKind::Reply || env.kind == actor::MessageKind::Timeout) {
    return begin(*exports_.handle_reply,
                 {engine::Value::i64(static_cast<int64_t>(env.correlation_id)),
                  engine::Value::i32(reply_status_), engine::Value::i32(static_cast<int32_t>(at)),
                  engine::Value::i32(static_cast<int32_t>(env.payload.size()))},
                 Stage::Handle, spec.fuel_per_message);
  }
  auto kind = env.topic ? GuestMessageKind::Publish
                        : env.kind == actor::MessageKind::Request ? GuestMessageKind::Request
                                                                  : GuestMessageKind::Send;
  uint32_t sender_len = static_cast<uint32_t>(env.sender.name.size());
  uint32_t topic_len = static_cast<uint32_t>(env.topic.value_or("").size());
  return begin(*exports_.handle_message,
               {engine::Value::i32(static_cast<int32_t>(kind)),
                engine::Value::i64(static_cast<int64_t>(env.correlation_id)),
                engine::Value::i32(static_cast<int32_t>(at)),
                engine::Value::i32(static_cast<int32_t>(sender_len)),
                engine::Value::i32(static_cast<int32_t>(at + sender_len)),
                engine::Value::i32(static_cast<int32_t>(topic_len)),
                engine::Value::i32(static_cast<int32_t>(at + sender_len + topic_len)),
                engine::Value::i32(static_cast<int32_t>(env.payload.size()))},
               Stage::Handle, spec.fuel_per_message);
}

Result<void> ComponentActor::after(Stage stage, std::span<const engine::Value> results) {
  const auto& spec = entry_->spec;
  if (world_) return after_world(stage);
  switch (stage) {
    case Stage::Initialize:
      return next_init_stage(Stage::Initialize);
    case Stage::Alloc: {
      int32_t ptr = results.empty() ? 0 : results[0].as_i32();
      if (ptr == 0 && ready_ && delivering_) {
        // The receiver has no room for this message: the message is dropped
        // on record and the component carries on (a requester's timeout
        // fires). A sender must not be able to crash its receiver this way.
        system_.audit(*entry_, "messaging.deliver", delivering_->sender.to_string(),
                      AuditResult::Denied, DecisionLayer::Messaging,
                      fmt::format("'{}' could not allocate {} bytes for the message: dropped",
                                  spec.name, buffer_size_));
        if (delivering_->kind == actor::MessageKind::Request) {
          requesters_.erase(delivering_->correlation_id);
        }
        delivering_.reset();
        buffer_ = 0;
        return {};
      }
      if (ptr == 0) {
        return make_error(ErrorCode::TrapHost,
                          fmt::format("component '{}': {} returned no memory for {} bytes",
                                      spec.name, kExportAlloc, buffer_size_));
      }
      buffer_ = static_cast<uint32_t>(ptr);
      if (auto written = write_delivery(); !written) return written;
      return begin_handler();
    }
    case Stage::Init: {
      int32_t status = results.empty() ? 0 : results[0].as_i32();
      if (status != 0) {
        return make_error(ErrorCode::TrapHost,
                          fmt::format("component '{}': {} failed with status {}", spec.name,
                                      kExportInit, status));
      }
      [[fallthrough]];
    }
    case Stage::Handle:
      if (stage == Stage::Handle) system_.count_handled(*entry_);
      if (in_inbox_) {
        in_inbox_ = false;
        buffer_ = 0;
      }
      if (buffer_ != 0 && exports_.dealloc) {
        auto ptr = buffer_;
        buffer_ = 0;
        return begin(*exports_.dealloc,
                     {engine::Value::i32(static_cast<int32_t>(ptr)),
                      engine::Value::i32(static_cast<int32_t>(buffer_size_))},
                     Stage::Dealloc, spec.fuel_per_message);
      }
      [[fallthrough]];
    case Stage::Dealloc:
      delivering_.reset();
      buffer_ = 0;
      if (!ready_) return next_init_stage(Stage::Init);
      return {};
    case Stage::Health:
    case Stage::Shutdown:
    case Stage::None:
      return {};
  }
  return {};
}

}  // namespace airssys::wasm::component
