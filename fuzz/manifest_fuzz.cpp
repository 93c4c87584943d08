// Component.toml text through the manifest parser. Invariant: whatever the
// parser accepts, the capability set builds from (the two agree on patterns).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "airssys/wasm/security/capability.hpp"
#include "airssys/wasm/security/manifest.hpp"

using namespace airssys::wasm::security;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto check = check_manifest(text, "fuzz.toml");
  if (!check.problems.empty()) return 0;
  (void)canonical_capabilities(check.manifest);
  auto set = CapabilitySet::build(check.manifest.capabilities);
  if (!set) __builtin_trap();  // the manifest accepted a pattern the matchers refuse
  return 0;
}
