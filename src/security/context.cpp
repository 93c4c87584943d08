#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/security/manifest.hpp"

#include <fmt/format.h>

#include <utility>

namespace airssys::wasm::security {

WasmSecurityContext::WasmSecurityContext(std::string component_id, CapabilitySet capabilities,
                                         TrustLevel trust, QuotaLimits quotas)
    : component_id_(std::move(component_id)),
      capabilities_(std::move(capabilities)),
      trust_(trust),
      quotas_(quotas) {}

Result<std::shared_ptr<const WasmSecurityContext>> WasmSecurityContext::create(
    std::string component_id, CapabilitySet capabilities, TrustLevel trust, QuotaLimits quotas) {
  if (!is_valid_component_name(component_id)) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("\"{}\" is not a component name: 3 to 64 characters of a-z, "
                                  "0-9 and '-', not starting or ending with '-'",
                                  component_id));
  }
  if (component_id == kHostSenderName) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("\"{}\" is reserved for the host's own messages; a component "
                                  "cannot take that name",
                                  component_id));
  }
  return std::shared_ptr<const WasmSecurityContext>(
      new WasmSecurityContext(std::move(component_id), std::move(capabilities), trust, quotas));
}

Decision WasmSecurityContext::check(Permission permission,
                                    std::string_view resource) const noexcept {
  if (trust_ == TrustLevel::DevMode) {
    return Decision::grant(permission, DecisionReason::DevMode);
  }
  return capabilities_.check(permission, resource);
}

}  // namespace airssys::wasm::security
