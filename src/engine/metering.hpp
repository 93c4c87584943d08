#pragma once
// Rewrites a validated module so that its execution can be metered and
// suspended: every function entry and loop header subtracts the static cost
// of the code that follows from an imported fuel global, and calls an
// imported host function when the fuel falls below zero. memory.grow of
// memory 0 becomes a call of an imported engine function, so that every
// growth and every refusal is seen by the embedder.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "airssys/wasm/core/error.hpp"

namespace wabt {
class Features;
}

namespace airssys::wasm::engine::detail {

inline constexpr const char* kFuelGlobalName = "fuel";
inline constexpr const char* kFuelExhaustedName = "fuel_exhausted";
// (i32 delta) -> i32: memory.grow of memory 0, through the engine.
inline constexpr const char* kMemoryGrowName = "memory_grow";

struct MeteredModule {
  std::vector<uint8_t> bytes;      // the rewritten binary
  uint32_t fuel_import_index = 0;  // function index of the fuel host function
  // Functions imported from the reserved module, from fuel_import_index on:
  // the fuel function, then memory_grow when the module grows memory 0.
  uint32_t reserved_func_imports = 1;
  uint32_t grow_sites = 0;         // memory.grow instructions routed through memory_grow
  uint32_t metering_sites = 0;     // function entries and loop headers instrumented
  // Empty when an instance's whole state is its first memory and its mutable
  // globals (Instance::save_state can carry it); else why not.
  std::string state_hazard;
};

// Decodes `bytes` without validating them; fails on any malformed section.
// Fills `names` with the function names of the name section, by index.
[[nodiscard]] Result<void> check_well_formed(std::span<const uint8_t> bytes,
                                             const wabt::Features& features,
                                             std::vector<std::string>* names);

// `original` must already have passed validation.
[[nodiscard]] Result<MeteredModule> add_metering(std::span<const uint8_t> original,
                                                 const wabt::Features& features);

}  // namespace airssys::wasm::engine::detail
