#include "airssys/wasm/actor/message.hpp"

#include <fmt/format.h>

namespace airssys::wasm::actor {

std::string Address::to_string() const {
  if (name.empty()) return fmt::format("#{}", id);
  if (id == 0) return fmt::format("'{}'", name);
  return fmt::format("'{}' (#{})", name, id);
}

const char* message_kind_name(MessageKind kind) {
  switch (kind) {
    case MessageKind::Send:
      return "send";
    case MessageKind::Request:
      return "request";
    case MessageKind::Reply:
      return "reply";
    case MessageKind::Timeout:
      return "timeout";
  }
  return "unknown";
}

}  // namespace airssys::wasm::actor
