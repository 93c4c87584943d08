#pragma once
// What both backends check before an instance continues from a saved state
// (InstanceOptions::restore).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::engine::detail {

// The saved state must have one value per mutable global of the module and a
// memory of whole pages no smaller than the fresh instance's (`memory_bytes`;
// none when the module has no memory). Returns the pages to grow by.
[[nodiscard]] Result<uint64_t> check_saved_state(const InstanceState& saved,
                                                 std::string_view module, size_t globals,
                                                 bool has_memory, uint64_t memory_bytes);

// The saved memory is larger than the new instance's limits allow.
[[nodiscard]] Error saved_memory_over_limit(std::string_view module, uint64_t bytes);

}  // namespace airssys::wasm::engine::detail
