#pragma once
// Pieces both engine backends use: the export index's hash, the sizes an
// instance's tables may reach, and the AddressSanitizer notes around a switch
// between the caller's stack and a call's fiber.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace airssys::wasm::engine::detail {

// The most guest frames a trap's backtrace lists; the rest are counted.
inline constexpr size_t kMaxBacktrace = 32;

// Finds an export by a string_view name without building a std::string.
struct ExportNameHash {
  using is_transparent = void;
  size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
};

// The most elements each of an instance's own (not imported) tables may hold,
// in the order given (`tables`: their initial sizes and maximums), so that all
// of them together stay within what `limits` allows (InstanceLimits): the
// room the initial sizes leave is shared out equally among the tables that
// may grow, up to each one's own maximum; what a table cannot take goes to
// the others. LimitExceeded, naming `module`, when the initial sizes alone are
// over it. Both tiers apply the result before they allocate any table.
[[nodiscard]] Result<std::vector<uint32_t>> table_caps(std::string_view module,
                                                       std::span<const ExternLimits> tables,
                                                       const InstanceLimits& limits);

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
