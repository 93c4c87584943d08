#pragma once
// Addresses and envelopes. An actor is addressed by id or by name, never by
// pointer or thread, and a payload is plain bytes, so an envelope can cross a
// process boundary unchanged. The bytes are immutable (payload.hpp): copies
// of an envelope share them.

#include <cstdint>
#include <optional>
#include <string>

#include "airssys/wasm/actor/payload.hpp"

namespace airssys::wasm::actor {

// Unique within one scheduler for the life of the process; never reused.
// 0 means "no id": the address is resolved by name.
using ActorId = uint64_t;

struct Address {
  ActorId id = 0;
  std::string name = {};  // registered name; empty for an anonymous actor

  // Resolves by name each time it is used, so it reaches whichever instance
  // currently holds the name (for example a restarted child).
  [[nodiscard]] static Address named(std::string name) { return Address{0, std::move(name)}; }
  [[nodiscard]] bool empty() const { return id == 0 && name.empty(); }
  // "'name' (#id)", "'name'" or "#id", for messages and logs.
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const Address&, const Address&) = default;
};

// What the payload means to the layers above; the runtime only carries it.
enum class MessageKind : uint8_t {
  Send,     // fire and forget
  Request,  // expects a Reply with the same correlation id
  Reply,    // answers a Request
  Timeout,  // a Request's reply did not arrive in time
};

[[nodiscard]] const char* message_kind_name(MessageKind kind);

struct Envelope {
  Address sender = {};  // stamped by the runtime when an actor sends
  Address target = {};
  MessageKind kind = MessageKind::Send;
  uint64_t correlation_id = 0;  // 0: none
  std::optional<std::string> topic = {};
  Payload payload = {};
};

}  // namespace airssys::wasm::actor
