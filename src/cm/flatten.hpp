#pragma once
// What the validator asks of a value type's layout beyond canonical.hpp's
// (the one layout, shared with lifting and lowering): whether a type holds
// data in memory or a borrow handle, and whether a function's parameters or
// results spill to memory.

#include <cstdint>
#include <vector>

#include "airssys/wasm/cm/canonical.hpp"
#include "airssys/wasm/cm/types.hpp"
#include "airssys/wasm/engine/value.hpp"

namespace airssys::wasm::cm::static_layout {

// Whether a value of the type holds a list or a string anywhere inside: what
// needs a memory (and, when lifted into the callee, a realloc).
[[nodiscard]] bool contains_memory_data(const ValType& type);
// Whether the type holds a borrow handle anywhere inside.
[[nodiscard]] bool contains_borrow(const ValType& type);

// A function's core signature for `canon lift` or `canon lower`
// (canonical.hpp's flatten_functype), and whether its parameters or results
// went to memory on the way.
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
