#include "airssys/wasm/actor/payload.hpp"

#include <cstring>
#include <new>

namespace airssys::wasm::actor {

void Payload::build(const uint8_t* bytes, size_t size) {
  if (size <= kInlineBytes) {
    if (size != 0) std::memcpy(inline_, bytes, size);
  } else {
    void* raw = ::operator new(sizeof(Heap) + size);
    auto* heap = new (raw) Heap{1};
    std::memcpy(reinterpret_cast<uint8_t*>(heap + 1), bytes, size);
    heap_ = heap;
  }
  size_ = size;
}

void Payload::free_heap(Heap* heap) noexcept {
  heap->~Heap();
  ::operator delete(static_cast<void*>(heap));
}

}  // namespace airssys::wasm::actor
