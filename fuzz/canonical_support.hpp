#pragma once
// What the canonical ABI's fuzzers share: the fuzz input read as bytes and
// little-endian numbers, and a guest memory whose realloc bumps upwards.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "airssys/wasm/cm/canonical.hpp"

namespace airssys::wasm::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{byte()} << (8 * i);
    return v;
  }
  std::span<const uint8_t> rest() { return {data_ + pos_, size_ - std::min(pos_, size_)}; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// `size` bytes of memory; realloc hands out blocks from `first` upwards,
// growing the memory to fit, and keeps a shrunk block where it is.
class BumpMemory final : public cm::GuestMemory {
 public:
  BumpMemory(size_t size, uint64_t first) : mem(size), last(first) {}
  std::span<uint8_t> bytes() override { return mem; }
  cm::Realloc realloc() {
    return [this](uint32_t old_ptr, uint32_t old_size, uint32_t align,
                  uint32_t new_size) -> Result<uint32_t> {
      if (old_ptr != 0 && new_size < old_size) return old_ptr;
      uint64_t ret = cm::align_to(last, align);
      if (ret + new_size > mem.size()) mem.resize(ret + new_size);
      last = ret + new_size;
      std::memmove(mem.data() + ret, mem.data() + old_ptr, old_size);
      return static_cast<uint32_t>(ret);
    };
  }
  std::vector<uint8_t> mem;
  uint64_t last;
};

}  // namespace airssys::wasm::fuzz
