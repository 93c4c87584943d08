#pragma once
// The canonical ABI's static layout of value types (CanonicalABI.md:
// Alignment, Element Size, Flattening), for 32-bit memories, as the
// validator needs it: sizes that saturate instead of wrapping (a type too
// large to exist is refused, never miscomputed) and flattening that stops
// once past its limit. Lifting and lowering use canonical.hpp's layout; this
// one lives in its own namespace so that the two never mix.
//
// Every function here recurses over the type tree; the decoder refuses
// types nested deeper than kMaxTypeDepth, so the recursion is bounded.

#include <cstdint>
#include <span>
#include <vector>

#include "airssys/wasm/cm/types.hpp"
#include "airssys/wasm/engine/value.hpp"

namespace airssys::wasm::cm::static_layout {

inline constexpr size_t kMaxFlatParams = 16;
inline constexpr size_t kMaxFlatResults = 1;

// alignment(t) and elem_size(t) with 32-bit pointers. Sizes saturate at
// UINT64_MAX / 2 rather than wrap (a validated type is below 2^28).
[[nodiscard]] uint32_t alignment(const ValType& type);
[[nodiscard]] uint64_t elem_size(const ValType& type);
[[nodiscard]] uint64_t align_to(uint64_t offset, uint32_t alignment);

// The discriminant's size in bytes for a variant with `cases` cases (1, 2 or 4).
[[nodiscard]] uint32_t discriminant_size(size_t cases);

// Appends the flat core types of `type` to `out`, stopping once `out` holds
// more than `limit` values (the caller only needs to know it is past it).
void flatten_type(const ValType& type, std::vector<engine::ValType>& out, size_t limit);

// Whether a value of the type holds a list or a string anywhere inside: what
// needs a memory (and, when lifted into the callee, a realloc).
[[nodiscard]] bool contains_memory_data(const ValType& type);
// Whether the type holds a borrow handle anywhere inside.
[[nodiscard]] bool contains_borrow(const ValType& type);

// The core function type of a component function for `canon lift` (the
// core function the component calls into) or `canon lower` (the core
// function it gives to core code): flattened parameters past 16 become one
// i32 pointer; a result that flattens to more than one value becomes a
// returned pointer (lift) or a pointer parameter (lower).
enum class FlatContext : uint8_t { Lift, Lower };
struct FlatFunc {
  engine::FuncSig sig;
  bool params_in_memory = false;
  bool results_in_memory = false;
};
[[nodiscard]] FlatFunc flatten_functype(const FuncType& type, FlatContext context);

}  // namespace airssys::wasm::cm::static_layout

namespace airssys::wasm::cm {
using static_layout::contains_borrow;
using static_layout::contains_memory_data;
using static_layout::FlatContext;
using static_layout::FlatFunc;
using static_layout::flatten_functype;
}  // namespace airssys::wasm::cm
