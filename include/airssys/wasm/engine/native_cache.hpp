#pragma once
// A look into the native tier's cache without making a native engine (which
// asks the compilers for their versions, processes of their own): for a
// caller that uses native code only when it is there already.

#include <cstdint>
#include <filesystem>
#include <span>

namespace airssys::wasm::engine {

// False when `cache_dir` holds no entry of `module_bytes` (for any compiler
// or host version): a cache-only native load would fail with NotFound. True
// says only that an entry may serve; the native engine decides.
[[nodiscard]] bool native_cache_may_hold(const std::filesystem::path& cache_dir,
                                         std::span<const uint8_t> module_bytes);

}  // namespace airssys::wasm::engine
