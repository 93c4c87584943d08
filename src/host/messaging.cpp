#include "airssys/wasm/host/messaging.hpp"

#include <cstring>

#include <fmt/format.h>

#include "airssys/wasm/host/context.hpp"
#include "airssys_functions.hpp"

namespace airssys::wasm::host {
namespace {

// An outcome the guest sees: the value to return, never a trap.
struct Refusal {
  AbiError code;
};

template <class T>
using Outcome = std::expected<T, Refusal>;

Outcome<std::string_view> read_text(HostCall& call, uint32_t ptr, uint32_t len, uint32_t max) {
  if (len == 0 || len > max) return std::unexpected(Refusal{AbiError::Invalid});
  auto bytes = call.memory(ptr, len);
  if (!bytes) return std::unexpected(Refusal{AbiError::Invalid});
  for (uint8_t b : *bytes) {
    if (b < 0x20 || b >= 0x7f) return std::unexpected(Refusal{AbiError::Invalid});
  }
  return std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

Outcome<std::span<const uint8_t>> read_payload(HostCall& call, const ComponentContext& ctx,
                                               uint32_t ptr, uint32_t len,
                                               std::string_view resource) {
  MessagingPort* port = ctx.messaging();
  if (len > port->max_payload()) {
    ctx.audit("messaging.payload", resource, AuditResult::Denied, DecisionLayer::Messaging,
              fmt::format("payload of {} bytes is over the maximum of {}", len,
                          port->max_payload()));
    return std::unexpected(Refusal{AbiError::TooLarge});
  }
  auto bytes = call.memory(ptr, len);
  if (!bytes) return std::unexpected(Refusal{AbiError::Invalid});
  return std::span<const uint8_t>(bytes->data(), bytes->size());
}

// Resolves the caller's context and port; a call without either fails closed.
Result<ComponentContext*> context_of(HostCall& call, const char* function) {
  auto* ctx = static_cast<ComponentContext*>(call.user_data());
  if (!ctx || !ctx->messaging()) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("airssys.{} called without a component messaging port",
                                  function));
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
  auto target = read_text(call, u32(a[0]), u32(a[1]), kMaxNameBytes);
  if (!target) return code(target.error().code);
  if (!ctx.authorize(Permission::MsgSend, *target)) return code(AbiError::Denied);
  auto payload = read_payload(call, ctx, u32(a[2]), u32(a[3]), *target);
  if (!payload) return code(payload.error().code);
  return code(ctx.messaging()->send(*target, *payload));
}

int64_t request(HostCall& call, ComponentContext& ctx, Args a) {
  auto target = read_text(call, u32(a[0]), u32(a[1]), kMaxNameBytes);
  if (!target) return code(target.error().code);
  if (!ctx.authorize(Permission::MsgSend, *target)) return code(AbiError::Denied);
  auto payload = read_payload(call, ctx, u32(a[2]), u32(a[3]), *target);
  if (!payload) return code(payload.error().code);
  return ctx.messaging()->request(*target, *payload, u32(a[4]));
}

// A reply to a correlation id that awaits none (forged, guessed or repeated)
// reaches nobody, and is on record.
int64_t no_request(const ComponentContext& ctx, int64_t correlation) {
  ctx.audit("messaging.reply", fmt::format("correlation {}", correlation), AuditResult::Denied,
            DecisionLayer::Messaging, "no request awaits a reply from this component with this id");
  return code(AbiError::NoRequest);
}

int64_t reply(HostCall& call, ComponentContext& ctx, Args a) {
  int64_t correlation = a[0].as_i64();
  if (correlation <= 0) return no_request(ctx, correlation);
  auto payload = read_payload(call, ctx, u32(a[1]), u32(a[2]), "reply");
  if (!payload) return code(payload.error().code);
  AbiError result = ctx.messaging()->reply(static_cast<uint64_t>(correlation), *payload);
  if (result == AbiError::NoRequest) return no_request(ctx, correlation);
  return code(result);
}

int64_t publish(HostCall& call, ComponentContext& ctx, Args a) {
  auto topic = read_text(call, u32(a[0]), u32(a[1]), kMaxTopicBytes);
  if (!topic) return code(topic.error().code);
  if (!ctx.authorize(Permission::MsgPublish, *topic)) return code(AbiError::Denied);
  auto payload = read_payload(call, ctx, u32(a[2]), u32(a[3]), *topic);
  if (!payload) return code(payload.error().code);
  return ctx.messaging()->publish(*topic, *payload);
}

int64_t subscribe(HostCall& call, ComponentContext& ctx, Args a) {
  auto filter = read_text(call, u32(a[0]), u32(a[1]), kMaxTopicBytes);
  if (!filter) return code(filter.error().code);
  if (!ctx.authorize(Permission::MsgSubscribe, *filter)) return code(AbiError::Denied);
  return code(ctx.messaging()->subscribe(*filter));
}

int64_t unsubscribe(HostCall& call, ComponentContext& ctx, Args a) {
  auto filter = read_text(call, u32(a[0]), u32(a[1]), kMaxTopicBytes);
  if (!filter) return code(filter.error().code);
  return code(ctx.messaging()->unsubscribe(*filter));
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
