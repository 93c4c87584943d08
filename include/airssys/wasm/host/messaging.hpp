#pragma once
// The messaging part of the `airssys` host module. The host functions read
// their arguments from guest memory, check the caller's own grants
// (messaging.send / publish / subscribe, audited) and the payload size, then
// hand the request to the component's MessagingPort, which the component
// layer implements (receiver admission, rate, mailboxes, routing).
//
// Every function returns 0 (or a positive value) on success and a negative
// AbiError on refusal; a refusal never traps the guest. See docs/abi.md.

#include <cstdint>
#include <span>
#include <string_view>

#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::host {

inline constexpr std::string_view kAirssysModule = "airssys";
inline constexpr uint64_t kDefaultMaxPayload = 1 * MiB;
inline constexpr uint32_t kMaxNameBytes = 64;
inline constexpr uint32_t kMaxTopicBytes = 256;

// One table of error codes for the whole `airssys` ABI.
enum class AbiError : int32_t {
  Ok = 0,
  Denied = -1,       // a capability, the receiver or the host policy refused
  Quota = -2,        // a rate or resource quota refused
  TooLarge = -3,     // a payload or value is over its maximum size
  NotFound = -4,     // no such component or key
  Full = -5,         // the target's mailbox is full: back off and retry
  Invalid = -6,      // a malformed argument (name, topic, key, pointer, length)
  Timeout = -7,      // the reply did not arrive in time (reply callback status)
  Buffer = -8,       // the caller's buffer is too small
  Unavailable = -9,  // the target is stopping, stopped or failed; no key-value store
  NoRequest = -10,   // reply to a correlation id that is not awaiting one
};

[[nodiscard]] const char* abi_error_name(AbiError error);

// What a component may ask of the messaging system; one port per component,
// so the sender is always the port's owner.
class MessagingPort {
 public:
  virtual ~MessagingPort() = default;
  [[nodiscard]] virtual AbiError send(std::string_view target,
                                      std::span<const uint8_t> payload) = 0;
  // A correlation id (> 0), or a negative AbiError.
  [[nodiscard]] virtual int64_t request(std::string_view target, std::span<const uint8_t> payload,
                                        uint32_t timeout_ms) = 0;
  [[nodiscard]] virtual AbiError reply(uint64_t correlation_id,
                                       std::span<const uint8_t> payload) = 0;
  // The number of subscribers reached (>= 0), or a negative AbiError.
  [[nodiscard]] virtual int32_t publish(std::string_view topic,
                                        std::span<const uint8_t> payload) = 0;
  [[nodiscard]] virtual AbiError subscribe(std::string_view filter) = 0;
  [[nodiscard]] virtual AbiError unsubscribe(std::string_view filter) = 0;
  [[nodiscard]] virtual uint64_t max_payload() const { return kDefaultMaxPayload; }
};

// Defines airssys.self_id, send, request, reply, publish, subscribe,
// unsubscribe. The instance's user data must be a host::ComponentContext
// with a messaging port.
void add_messaging(engine::Linker& linker);

}  // namespace airssys::wasm::host
