#pragma once
// Pieces both engine backends use: the export index's hash and the
// AddressSanitizer notes around a switch between the caller's stack and a
// call's fiber.

#include <cstddef>
#include <functional>
#include <string_view>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace airssys::wasm::engine::detail {

// Finds an export by a string_view name without building a std::string.
struct ExportNameHash {
  using is_transparent = void;
  size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
};

#if defined(__SANITIZE_ADDRESS__)
// Tells AddressSanitizer about each stack switch, so it tracks the right stack.
struct FiberSwitch {
  static void start(void** fake_stack, const void* bottom, size_t size) {
    __sanitizer_start_switch_fiber(fake_stack, bottom, size);
  }
  static void finish(void* fake_stack, const void** bottom, size_t* size) {
    __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
  }
};
#else
struct FiberSwitch {
  static void start(void**, const void*, size_t) {}
  static void finish(void*, const void**, size_t*) {}
};
#endif

}  // namespace airssys::wasm::engine::detail
