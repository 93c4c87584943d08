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
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::security {

// The five resource quotas of a component, with the defaults of a manifest
// that names none.
struct QuotaLimits {
  uint64_t storage_bytes = 100 * MiB;            // bytes stored
  uint64_t messages_per_second = 1000;           // messages sent per 1 s window
  uint64_t network_bytes_per_second = 10 * MiB;  // bytes transferred per 1 s window
  uint64_t cpu_ms_per_second = 1000;             // metered CPU time per 1 s window
  uint64_t memory_bytes = 256 * MiB;             // current linear memory

  friend bool operator==(const QuotaLimits&, const QuotaLimits&) = default;
};

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
