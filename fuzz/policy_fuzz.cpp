// policy.toml text through the host policy parser, then a few checks.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "airssys/wasm/security/policy.hpp"

using namespace airssys::wasm::security;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto policy = HostPolicy::parse(text, "fuzz.toml");
  if (!policy) return 0;
  for (auto permission : kAllPermissions) {
    (void)policy->check({"fuzz-component", std::nullopt}, permission, "/etc/passwd");
    (void)policy->check({"fuzz-component", "00aa11bb22cc33dd"}, permission, "a.example.com:443");
  }
  return 0;
}
