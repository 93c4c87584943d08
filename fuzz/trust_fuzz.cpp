// trust.toml text through the trust configuration parser. Invariant: a
// configuration that parses is written back as text that parses again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "airssys/wasm/security/trust.hpp"

using namespace airssys::wasm::security;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = TrustConfig::parse(text, "fuzz.toml");
  if (!config) return 0;
  auto again = TrustConfig::parse(config->to_toml(), "again.toml");
  if (!again || again->dev_mode() != config->dev_mode() ||
      again->keys().size() != config->keys().size() ||
      again->paths().size() != config->paths().size()) {
    __builtin_trap();
  }
  return 0;
}
