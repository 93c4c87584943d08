#include "airssys/wasm/host/messaging.hpp"

#include <cstring>

#include <fmt/format.h>

#include "airssys/wasm/host/context.hpp"
#include "airssys_functions.hpp"

namespace airssys::wasm::host {

namespace {

// A name, topic or filter: 1 to `max` bytes of printable ASCII.
bool is_valid_text(std::string_view text, uint32_t max) {
  if (text.empty() || text.size() > max) return false;
  for (unsigned char b : text) {
    if (b < 0x20 || b >= 0x7f) return false;
  }
  return true;
}

Answer<std::span<const uint8_t>> checked_payload(const ComponentContext& ctx,
                                                 const Payload& payload,
                                                 std::string_view resource) {
  MessagingPort* port = ctx.messaging();
  if (payload.size > port->max_payload()) {
    ctx.audit("messaging.payload", resource, AuditResult::Denied, DecisionLayer::Messaging,
              fmt::format("payload of {} bytes is over the maximum of {}", payload.size,
                          port->max_payload()));
    return std::unexpected(AbiError::TooLarge);
  }
  if (!payload.bytes) return std::unexpected(AbiError::Invalid);
  return *payload.bytes;
}

Answer<void> answer(AbiError e) {
  if (e == AbiError::Ok) return {};
  return std::unexpected(e);
}

// A reply to a correlation id that awaits none (forged, guessed or repeated)
// reaches nobody, and is on record.
Answer<void> no_request(const ComponentContext& ctx, int64_t correlation) {
  ctx.audit("messaging.reply", fmt::format("correlation {}", correlation), AuditResult::Denied,
            DecisionLayer::Messaging, "no request awaits a reply from this component with this id");
  return std::unexpected(AbiError::NoRequest);
}

}  // namespace

Result<MessagingPort*> messaging_port(const ComponentContext* ctx, std::string_view function) {
  if (!ctx || !ctx->messaging()) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("{} called without a component messaging port", function));
  }
  return ctx->messaging();
}

Answer<void> message_send(ComponentContext& ctx, std::string_view target, const Payload& payload) {
  if (!is_valid_text(target, kMaxNameBytes)) return std::unexpected(AbiError::Invalid);
  if (!ctx.authorize(Permission::MsgSend, target)) return std::unexpected(AbiError::Denied);
  auto bytes = checked_payload(ctx, payload, target);
  if (!bytes) return std::unexpected(bytes.error());
  return answer(ctx.messaging()->send(target, *bytes));
}

Answer<uint64_t> message_request(ComponentContext& ctx, std::string_view target,
                                 const Payload& payload, uint32_t timeout_ms) {
  if (!is_valid_text(target, kMaxNameBytes)) return std::unexpected(AbiError::Invalid);
  if (!ctx.authorize(Permission::MsgSend, target)) return std::unexpected(AbiError::Denied);
  auto bytes = checked_payload(ctx, payload, target);
  if (!bytes) return std::unexpected(bytes.error());
  const int64_t id = ctx.messaging()->request(target, *bytes, timeout_ms);
  if (id < 0) return std::unexpected(static_cast<AbiError>(id));
  return static_cast<uint64_t>(id);
}

Answer<void> message_reply(ComponentContext& ctx, int64_t correlation, const Payload& payload) {
  if (correlation <= 0) return no_request(ctx, correlation);
  auto bytes = checked_payload(ctx, payload, "reply");
  if (!bytes) return std::unexpected(bytes.error());
  AbiError result = ctx.messaging()->reply(static_cast<uint64_t>(correlation), *bytes);
  if (result == AbiError::NoRequest) return no_request(ctx, correlation);
  return answer(result);
}

Answer<uint32_t> message_publish(ComponentContext& ctx, std::string_view topic,
                                 const Payload& payload) {
  if (!is_valid_text(topic, kMaxTopicBytes)) return std::unexpected(AbiError::Invalid);
  if (!ctx.authorize(Permission::MsgPublish, topic)) return std::unexpected(AbiError::Denied);
  auto bytes = checked_payload(ctx, payload, topic);
  if (!bytes) return std::unexpected(bytes.error());
  const int32_t reached = ctx.messaging()->publish(topic, *bytes);
  if (reached < 0) return std::unexpected(static_cast<AbiError>(reached));
  return static_cast<uint32_t>(reached);
}

Answer<void> topic_subscribe(ComponentContext& ctx, std::string_view filter) {
  if (!is_valid_text(filter, kMaxTopicBytes)) return std::unexpected(AbiError::Invalid);
  if (!ctx.authorize(Permission::MsgSubscribe, filter)) return std::unexpected(AbiError::Denied);
  return answer(ctx.messaging()->subscribe(filter));
}

Answer<void> topic_unsubscribe(ComponentContext& ctx, std::string_view filter) {
  if (!is_valid_text(filter, kMaxTopicBytes)) return std::unexpected(AbiError::Invalid);
  return answer(ctx.messaging()->unsubscribe(filter));
}

namespace {

// The core ABI: arguments read from guest memory, answers as numbers.

// Text out of bounds is as malformed as text too long (an empty range is
// left to the check of its length).
std::string_view text_at(HostCall& call, uint32_t ptr, uint32_t len, uint32_t max, bool& bad) {
  if (len == 0 || len > max) return {};
  auto bytes = call.memory(ptr, len);
  if (!bytes) {
    bad = true;
    return {};
  }
  return {reinterpret_cast<const char*>(bytes->data()), bytes->size()};
}

Payload payload_at(HostCall& call, uint32_t ptr, uint32_t len) {
  Payload p{len, std::nullopt};
  if (auto bytes = call.memory(ptr, len)) p.bytes = std::span<const uint8_t>(*bytes);
  return p;
}

// Resolves the caller's context and port; a call without either fails closed.
Result<ComponentContext*> context_of(HostCall& call, const char* function) {
  auto* ctx = static_cast<ComponentContext*>(call.user_data());
  // The function's name is formatted only for the error: this runs on every
  // message.
  if (!ctx || !ctx->messaging()) {
    AIRSSYS_TRY(messaging_port(ctx, fmt::format("airssys.{}", function)));
  }
  return ctx;
}

int64_t code(AbiError e) { return static_cast<int64_t>(e); }

int64_t self_id(HostCall& call, ComponentContext& ctx, Args a) {
  std::string_view name = ctx.name();
  uint32_t len = u32(a[1]);
  auto out = call.memory(u32(a[0]), std::min<uint64_t>(len, name.size()));
  if (!out) return code(AbiError::Invalid);
  if (len < name.size()) return code(AbiError::Buffer);
  std::memcpy(out->data(), name.data(), name.size());
  return static_cast<int64_t>(name.size());
}

int64_t send(HostCall& call, ComponentContext& ctx, Args a) {
  bool bad = false;
  auto target = text_at(call, u32(a[0]), u32(a[1]), kMaxNameBytes, bad);
  if (bad) return code(AbiError::Invalid);
  return abi_result(message_send(ctx, target, payload_at(call, u32(a[2]), u32(a[3]))));
}

int64_t request(HostCall& call, ComponentContext& ctx, Args a) {
  bool bad = false;
  auto target = text_at(call, u32(a[0]), u32(a[1]), kMaxNameBytes, bad);
  if (bad) return code(AbiError::Invalid);
  return abi_result(message_request(ctx, target, payload_at(call, u32(a[2]), u32(a[3])), u32(a[4])));
}

int64_t reply(HostCall& call, ComponentContext& ctx, Args a) {
  return abi_result(message_reply(ctx, a[0].as_i64(), payload_at(call, u32(a[1]), u32(a[2]))));
}

int64_t publish(HostCall& call, ComponentContext& ctx, Args a) {
  bool bad = false;
  auto topic = text_at(call, u32(a[0]), u32(a[1]), kMaxTopicBytes, bad);
  if (bad) return code(AbiError::Invalid);
  return abi_result(message_publish(ctx, topic, payload_at(call, u32(a[2]), u32(a[3]))));
}

int64_t subscribe(HostCall& call, ComponentContext& ctx, Args a) {
  bool bad = false;
  auto filter = text_at(call, u32(a[0]), u32(a[1]), kMaxTopicBytes, bad);
  if (bad) return code(AbiError::Invalid);
  return abi_result(topic_subscribe(ctx, filter));
}

int64_t unsubscribe(HostCall& call, ComponentContext& ctx, Args a) {
  bool bad = false;
  auto filter = text_at(call, u32(a[0]), u32(a[1]), kMaxTopicBytes, bad);
  if (bad) return code(AbiError::Invalid);
  return abi_result(topic_unsubscribe(ctx, filter));
}

}  // namespace

const char* abi_error_name(AbiError error) {
  switch (error) {
    case AbiError::Ok: return "ok";
    case AbiError::Denied: return "denied";
    case AbiError::Quota: return "quota";
    case AbiError::TooLarge: return "too-large";
    case AbiError::NotFound: return "not-found";
    case AbiError::Full: return "full";
    case AbiError::Invalid: return "invalid";
    case AbiError::Timeout: return "timeout";
    case AbiError::Buffer: return "buffer";
    case AbiError::Unavailable: return "unavailable";
    case AbiError::NoRequest: return "no-request";
  }
  return "?";
}

void add_messaging(engine::Linker& linker) {
  static const std::vector<AirssysFunction> kFunctions = {
      {"self_id", {I32, I32}, I32, self_id},
      {"send", {I32, I32, I32, I32}, I32, send},
      {"request", {I32, I32, I32, I32, I32}, I64, request},
      {"reply", {I64, I32, I32}, I32, reply},
      {"publish", {I32, I32, I32, I32}, I32, publish},
      {"subscribe", {I32, I32}, I32, subscribe},
      {"unsubscribe", {I32, I32}, I32, unsubscribe},
  };
  define_airssys_functions(linker, kFunctions, context_of);
}

}  // namespace airssys::wasm::host
