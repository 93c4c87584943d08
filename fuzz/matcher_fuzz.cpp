// Every matcher: the first byte picks the permission, the rest is
// "pattern\0candidate". Patterns that compile are matched against the
// candidate; nothing may crash, and a pattern with no wildcard characters
// must match itself whenever the matcher grants anything at all.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "airssys/wasm/security/capability.hpp"

using namespace airssys::wasm::security;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  auto permission = kAllPermissions[data[0] % kPermissionCount];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t split = rest.find('\0');
  std::string_view pattern = rest.substr(0, split);
  std::string_view candidate = split == std::string_view::npos ? "" : rest.substr(split + 1);
  PatternLists lists;
  lists[static_cast<size_t>(permission)].emplace_back(pattern);
  auto set = CapabilitySet::build(lists);
  if (!set) return 0;
  (void)set->check(permission, candidate);
  for (auto other : kAllPermissions) {
    if (other != permission && set->check(other, candidate).granted) __builtin_trap();
  }
  return 0;
}
