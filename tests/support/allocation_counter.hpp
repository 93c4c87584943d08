#pragma once
// Counts the heap allocations a piece of a test makes, on any thread, by
// replacing the global operator new of the test binary. Include it in ONE
// translation unit of a binary (the replacement operators are definitions),
// ideally a binary of its own, since every allocation then passes here.

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__GNUC__) && !defined(__clang__)
// g++ sees free() inside the replaced operator delete and pairs it with
// operator new; both operators below use the malloc family, so they match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace airssys::wasm::test::allocation_counter {
inline std::atomic<bool> counting{false};
inline std::atomic<size_t> allocations{0};
}  // namespace airssys::wasm::test::allocation_counter

void* operator new(std::size_t size) {
  namespace counter = airssys::wasm::test::allocation_counter;
  if (counter::counting.load(std::memory_order_relaxed)) {
    counter::allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

void operator delete(void* p) noexcept { std::free(p); }

void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace airssys::wasm::test {

// Heap allocations made by `work`, on any thread, while it runs.
template <class Fn>
size_t allocations_of(Fn&& work) {
  allocation_counter::allocations.store(0);
  allocation_counter::counting.store(true);
  work();
  allocation_counter::counting.store(false);
  return allocation_counter::allocations.load();
}

}  // namespace airssys::wasm::test
