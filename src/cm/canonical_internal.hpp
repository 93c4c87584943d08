#pragma once
// Helpers shared by the canonical ABI's sources (not part of the layer's
// interface).

#include <fmt/format.h>

#include <cstdint>
#include <span>
#include <string>

#include "airssys/wasm/cm/canonical.hpp"

namespace airssys::wasm::cm::detail {

[[nodiscard]] inline std::unexpected<Error> trap(std::string message) {
  return make_error(ErrorCode::TrapCanonical, std::move(message));
}

// The host passed a value that does not fit its type.
[[nodiscard]] inline std::unexpected<Error> bad_value(std::string message) {
  return make_error(ErrorCode::InvalidArgument, std::move(message));
}

// The memory of the options, or a trap when the options have none.
[[nodiscard]] Result<std::span<uint8_t>> memory_of(const LiftLowerContext& cx);

// Checks that [ptr, ptr + size) lies in memory and ptr is aligned: traps
// "unaligned pointer ..." and "<what> out-of-bounds ...".
[[nodiscard]] Result<void> check_range(const LiftLowerContext& cx, uint64_t ptr, uint64_t size,
                                       uint32_t align, const char* what);

// realloc through the options, with `may_leave` cleared while it runs; then
// checks the result's alignment and bounds for `new_size` bytes.
[[nodiscard]] Result<uint32_t> reallocate(LiftLowerContext& cx, uint32_t old_ptr,
                                          uint32_t old_size, uint32_t align, uint32_t new_size);

// Little-endian integers in memory; the range was checked before.
[[nodiscard]] inline uint64_t read_le(std::span<const uint8_t> mem, uint32_t ptr, uint32_t n) {
  uint64_t v = 0;
  for (uint32_t i = 0; i < n; ++i) v |= uint64_t{mem[ptr + i]} << (8 * i);
  return v;
}
inline void write_le(std::span<uint8_t> mem, uint32_t ptr, uint32_t n, uint64_t v) {
  for (uint32_t i = 0; i < n; ++i) mem[ptr + i] = static_cast<uint8_t>(v >> (8 * i));
}

// UTF-8 <-> code points; decoding fails with the reason ("invalid utf-8 ...").
// next_utf8 decodes the code point at s[i] (i < s.size()) and moves past it.
[[nodiscard]] Result<char32_t> next_utf8(std::string_view s, size_t& i);
[[nodiscard]] Result<void> validate_utf8(std::string_view s);
[[nodiscard]] Result<std::u32string> decode_utf8(std::string_view s);
void append_utf8(std::string& out, char32_t c);
// The UTF-16LE code units of `s` (valid UTF-8).
[[nodiscard]] std::u16string encode_utf16(std::u32string_view s);

}  // namespace airssys::wasm::cm::detail
