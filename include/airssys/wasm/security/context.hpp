#pragma once
// A component's security context: who it is, what it may do, how much it may
// use. Built once through create(), immutable, shared by pointer: a restarted
// component gets the same object, so a crash never widens or resets what it
// may do.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/core/units.hpp"
#include "airssys/wasm/security/capability.hpp"
#include "airssys/wasm/security/quota.hpp"
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::security {

class WasmSecurityContext {
 public:
  // Fails (InvalidArgument) when the id is not a valid component name.
  // Example:
  //   auto ctx = WasmSecurityContext::create("order-validator", *caps, TrustLevel::Trusted);
  //   (*ctx)->check(Permission::StorageRead, "orders:42");
  [[nodiscard]] static Result<std::shared_ptr<const WasmSecurityContext>> create(
      std::string component_id, CapabilitySet capabilities, TrustLevel trust,
      QuotaLimits quotas = {});

  WasmSecurityContext(const WasmSecurityContext&) = delete;
  WasmSecurityContext& operator=(const WasmSecurityContext&) = delete;

  [[nodiscard]] const std::string& component_id() const noexcept { return component_id_; }
  [[nodiscard]] const CapabilitySet& capabilities() const noexcept { return capabilities_; }
  [[nodiscard]] TrustLevel trust_level() const noexcept { return trust_; }
  [[nodiscard]] const QuotaLimits& quotas() const noexcept { return quotas_; }

  // DevMode grants everything (reason "dev mode"; the caller audits it). Any
  // other trust level checks the capability set: whether an Unknown component
  // may run at all is decided by its approval before it starts.
  [[nodiscard]] Decision check(Permission permission, std::string_view resource) const noexcept;

 private:
  WasmSecurityContext(std::string component_id, CapabilitySet capabilities, TrustLevel trust,
                      QuotaLimits quotas);

  const std::string component_id_;
  const CapabilitySet capabilities_;
  const TrustLevel trust_;
  const QuotaLimits quotas_;
};

}  // namespace airssys::wasm::security
