#pragma once
// Guard-page linear memories of the native tier (native_guard.cpp): the
// reservations, the code of the compiled objects, and the fault handler that
// turns an access of a reservation's inaccessible part by compiled code into
// the out-of-bounds trap. Every other fault goes to the handler that was
// there before, or kills the process as it would have.

#include <cstddef>
#include <cstdint>
#include <optional>

namespace airssys::wasm::engine::native {

// Whether this build and platform can run guard-page memories (x86-64 Linux).
[[nodiscard]] bool guard_pages_supported();

// Installs the SIGSEGV and SIGBUS handler once per process (the first
// guard-page engine does); false when it could not be installed.
[[nodiscard]] bool install_fault_handler();

// Gives the calling thread an alternate signal stack for the handler, unless
// it has one: called on each entry to native code, cheap after the first.
void ensure_alt_stack() noexcept;

// A guard reservation (AIRSSYS_GUARD_RESERVE bytes, inaccessible) known to
// the handler; nullptr when none can be had. Released with release_memory.
uint8_t* reserve_memory() noexcept;
void release_memory(uint8_t* base) noexcept;
// Whether `base` begins a guard reservation that is held now.
[[nodiscard]] bool is_guard_memory(const uint8_t* base) noexcept;

// The executable code of a loaded guard-page object, [begin, end), and where
// a faulting thread resumes (the object's airssys_memory_fault); a handle for
// unregister_code, nothing when the registry cannot grow.
[[nodiscard]] std::optional<size_t> register_code(uintptr_t begin, uintptr_t end,
                                                  uintptr_t fault_entry);
void unregister_code(size_t handle) noexcept;

}  // namespace airssys::wasm::engine::native
