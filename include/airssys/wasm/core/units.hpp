#pragma once
// Byte sizes as people write them: "256MB", "64 KiB", "4096". B, KB, MB, GB, TB
// (and the KiB... spellings) are powers of 1024.

#include <cstdint>
#include <string>
#include <string_view>

#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm {

inline constexpr uint64_t KiB = 1024;
inline constexpr uint64_t MiB = 1024 * KiB;
inline constexpr uint64_t GiB = 1024 * MiB;
inline constexpr uint64_t TiB = 1024 * GiB;

// Parses a non-negative size. Fails on an empty string, a sign, a fraction,
// an unknown unit or a value that overflows 64 bits.
[[nodiscard]] Result<uint64_t> parse_byte_size(std::string_view text);

// Parses a non-negative decimal integer without unit; fails on overflow.
[[nodiscard]] Result<uint64_t> parse_count(std::string_view text);

// 268435456 -> "256 MiB"; exact multiples only, bytes otherwise.
[[nodiscard]] std::string format_byte_size(uint64_t bytes);

}  // namespace airssys::wasm
