#pragma once
// Rewrites a validated module so that its execution can be metered and
// suspended: every function entry and loop header subtracts the static cost
// of the code that follows from an imported fuel global, and calls an
// imported host function when the fuel falls below zero. memory.grow of
// every 32-bit memory becomes a call of an imported engine function, so that
// the instance's memory limit covers all its memories together and every
// growth and every refusal is seen by the embedder.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
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
// (i32 delta, i32 memory index) -> i32: memory.grow of any other memory.
inline constexpr const char* kMemoryGrowAtName = "memory_grow_at";

struct MeteredModule {
  std::vector<uint8_t> bytes;      // the rewritten binary
  uint32_t fuel_import_index = 0;  // function index of the fuel host function
  // Functions imported from the reserved module, from fuel_import_index on:
  // the fuel function, then memory_grow when the module grows memory 0 and
  // memory_grow_at when it grows another memory.
  uint32_t reserved_func_imports = 1;
  uint32_t grow_sites = 0;         // memory.grow instructions routed through memory_grow
  uint32_t metering_sites = 0;     // function entries and loop headers instrumented
  // Empty when an instance's whole state is its first memory and its mutable
  // globals (Instance::save_state can carry it); else why not.
  std::string state_hazard;
};

// How deep blocks, loops, ifs and trys may nest in one function. Every pass
// over a module's code is bounded by it: a deeper function is refused at load
// with ModuleTooComplex, naming the function and the depth.
inline constexpr uint32_t kMaxBlockNesting = 10'000;

// What a load learns of a module besides its code.
struct ModuleNotes {
  std::vector<std::string> func_names;  // of the name section, by function index
  // Custom sections that could not be read (the name section among them),
  // each named with its offset; the module loads without them.
  std::vector<std::string> warnings;
};

// Decodes `bytes` without validating them; fails on any malformed section
// other than a custom one, and on a function nested deeper than
// kMaxBlockNesting (ModuleTooComplex). A custom section that cannot be read
// never fails the module: a bad name section is dropped whole, with a warning.
[[nodiscard]] Result<void> check_well_formed(std::span<const uint8_t> bytes,
                                             const wabt::Features& features, ModuleNotes* notes);

// The deepest nesting of parentheses and plain blocks in WebAssembly text,
// an upper bound of what the text parser recurses through.
[[nodiscard]] uint64_t text_nesting(std::string_view text);

// Parses, validates and encodes a module in the text format; refuses text
// nested deeper than kMaxBlockNesting allows (ModuleTooComplex) before
// parsing it.
[[nodiscard]] Result<std::vector<uint8_t>> wat_to_binary(std::string_view text,
                                                         std::string_view name,
                                                         const wabt::Features& features);

// Runs `fn` on a thread of its own with a stack large enough for any pass
// over a module within kMaxBlockNesting (the IR passes of the toolkit the
// engine is built on recurse once per nesting level), whatever the caller's
// stack. Returns once `fn` has; an exception `fn` throws is thrown here.
// False when no such thread could be started (nothing ran).
[[nodiscard]] bool run_on_large_stack(const std::function<void()>& fn);

// `original` must already have passed validation.
[[nodiscard]] Result<MeteredModule> add_metering(std::span<const uint8_t> original,
                                                 const wabt::Features& features);

}  // namespace airssys::wasm::engine::detail
