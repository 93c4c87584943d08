#pragma once
// The messaging port of one running component (host::MessagingPort): what the
// airssys messaging functions of the guest reach. Its sender identity is
// fixed; every message is checked (the receiver's admission, the sender's
// message rate, the receiver's mailbox) and every refusal audited.
// Private to the component layer.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "airssys/wasm/actor/message.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/host/messaging.hpp"

namespace airssys::wasm::component {

class ComponentActor;

class ComponentPort final : public host::MessagingPort {
 public:
  ComponentPort(ComponentRuntime& system, std::shared_ptr<ComponentRuntime::Entry> self,
                ComponentActor& actor)
      : system_(system), self_(std::move(self)), actor_(actor) {}

  host::AbiError send(std::string_view target, std::span<const uint8_t> payload) override;
  int64_t request(std::string_view target, std::span<const uint8_t> payload,
                  uint32_t timeout_ms) override;
  host::AbiError reply(uint64_t correlation_id, std::span<const uint8_t> payload) override;
  int32_t publish(std::string_view topic, std::span<const uint8_t> payload) override;
  host::AbiError subscribe(std::string_view filter) override;
  host::AbiError unsubscribe(std::string_view filter) override;
  uint64_t max_payload() const override { return self_->spec.max_payload; }

 private:
  host::AbiError deliver(std::string_view target, actor::Envelope envelope, std::string_view what);

  ComponentRuntime& system_;
  std::shared_ptr<ComponentRuntime::Entry> self_;
  ComponentActor& actor_;
};

}  // namespace airssys::wasm::component
