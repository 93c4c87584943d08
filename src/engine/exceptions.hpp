#pragma once
// Exception handling through the toolkit's legacy support. wabt 1.0.32 reads,
// validates, interprets and translates only the legacy form of the
// exception-handling proposal (try, catch, catch_all, delegate, rethrow);
// modules use the standard form (try_table with catch clauses, throw, tags).
// Before anything else reads a module, its code is translated, in one flat
// pass over the code section:
//
//   try_table bt (catch t L)* (catch_all L)? instr* end
//   =>  try bt instr* (catch t br L+1)* (catch_all br L+1)? end
//
// Both try and try_table open one label, so the branches of the body keep
// their depths; inside a legacy catch the try's own label is still open, so
// the clause's label L (relative to the try_table's context) is L+1 there,
// and the values a catch pushes (the tag's parameters) are what br carries to
// L. Clauses after a catch_all can never match and are dropped. The tag
// section, tag imports and exports and throw are encoded alike in both forms.
//
// Exception references have no legacy equivalent: exnref, throw_ref,
// catch_ref and catch_all_ref are refused (UnsupportedFeature, naming them).
// So is the legacy form itself when a module brings it (try, catch,
// catch_all, delegate, rethrow): it is not the standard, and the native
// tier's translation of rethrow needs a stack frame of unbounded size, so
// accepting it would make the tiers differ.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::engine::detail {

// The module with its try_table blocks translated; nullopt when it has none
// (the bytes are used as they are), or when its code cannot be read here (the
// toolkit's reader then reports the problem). UnsupportedFeature for an
// exception reference.
[[nodiscard]] Result<std::optional<std::vector<uint8_t>>> translate_exceptions(
    std::span<const uint8_t> bytes);

}  // namespace airssys::wasm::engine::detail
