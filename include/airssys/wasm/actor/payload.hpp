#pragma once
// A message's bytes: immutable once built, cheap to copy.
//
// Up to kInlineBytes are held inside the Payload itself, so a small message
// costs no allocation. A larger one is one reference-counted buffer that
// every copy shares: a publish to many subscribers builds its payload once
// and each subscriber's envelope holds a reference to the same bytes. Nobody
// can change the bytes after they are built, so sharing them between actors
// on different threads needs no lock; assigning a new value replaces the
// reference, never the shared bytes.
//
// Example:
//   Payload once(std::span<const uint8_t>(bytes));  // one copy of `bytes`
//   Payload again = once;                           // no copy: shared (or inline)
//   std::span<const uint8_t> view = again;

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace airssys::wasm::actor {

class Payload {
 public:
  using value_type = uint8_t;
  using const_iterator = const uint8_t*;
  using iterator = const_iterator;

  // What fits inside the Payload without an allocation.
  static constexpr size_t kInlineBytes = 24;

  Payload() noexcept = default;
  // Copies `bytes`: into the Payload when they fit, else into a new shared buffer.
  explicit Payload(std::span<const uint8_t> bytes) { build(bytes.data(), bytes.size()); }
  Payload(const std::vector<uint8_t>& bytes) { build(bytes.data(), bytes.size()); }  // NOLINT
  Payload(std::initializer_list<uint8_t> bytes) { build(std::data(bytes), bytes.size()); }
  // Bytes (or chars) from a range, as a vector's constructor takes them.
  template <std::input_iterator It>
    requires(sizeof(std::iter_value_t<It>) == 1)
  Payload(It first, It last) {
    if constexpr (std::contiguous_iterator<It>) {
      build(reinterpret_cast<const uint8_t*>(std::to_address(first)),
            static_cast<size_t>(last - first));
    } else {
      const std::vector<uint8_t> bytes(first, last);
      build(bytes.data(), bytes.size());
    }
  }

  Payload(const Payload& other) noexcept { share(other); }
  Payload(Payload&& other) noexcept { steal(other); }
  Payload& operator=(const Payload& other) noexcept {
    if (this != &other) {
      release();
      share(other);
    }
    return *this;
  }
  Payload& operator=(Payload&& other) noexcept {
    if (this != &other) {
      release();
      steal(other);
    }
    return *this;
  }
  ~Payload() { release(); }

  // Replaces the value (as a vector's assign); copies of the old value keep it.
  template <std::input_iterator It>
    requires(sizeof(std::iter_value_t<It>) == 1)
  void assign(It first, It last) {
    *this = Payload(first, last);
  }

  [[nodiscard]] const uint8_t* data() const noexcept {
    return size_ <= kInlineBytes ? inline_ : reinterpret_cast<const uint8_t*>(heap_ + 1);
  }
  [[nodiscard]] size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] const_iterator begin() const noexcept { return data(); }
  [[nodiscard]] const_iterator end() const noexcept { return data() + size_; }
  [[nodiscard]] uint8_t operator[](size_t i) const noexcept { return data()[i]; }
  [[nodiscard]] std::span<const uint8_t> span() const noexcept { return {data(), size_}; }
  operator std::span<const uint8_t>() const noexcept { return span(); }  // NOLINT
  [[nodiscard]] std::vector<uint8_t> to_vector() const { return {begin(), end()}; }

  // True when this Payload and `other` refer to the one shared buffer (never
  // for inline bytes, which each copy holds itself).
  [[nodiscard]] bool shares_with(const Payload& other) const noexcept {
    return size_ > kInlineBytes && other.size_ > kInlineBytes && heap_ == other.heap_;
  }
  // How many Payloads refer to this one's shared buffer; 0 for inline bytes.
  [[nodiscard]] size_t share_count() const noexcept {
    return size_ > kInlineBytes ? heap_->refs.load(std::memory_order_acquire) : 0;
  }

  friend bool operator==(const Payload& a, const Payload& b) noexcept {
    return a.size_ == b.size_ && (a.size_ == 0 || std::equal(a.begin(), a.end(), b.begin()));
  }

 private:
  // The shared buffer: the count, then size_ bytes right after it.
  struct Heap {
    std::atomic<size_t> refs;
  };

  void build(const uint8_t* bytes, size_t size);
  void share(const Payload& other) noexcept {
    size_ = other.size_;
    if (size_ <= kInlineBytes) {
      std::copy(other.inline_, other.inline_ + kInlineBytes, inline_);
    } else {
      heap_ = other.heap_;
      heap_->refs.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void steal(Payload& other) noexcept {
    size_ = other.size_;
    if (size_ <= kInlineBytes) {
      std::copy(other.inline_, other.inline_ + kInlineBytes, inline_);
    } else {
      heap_ = other.heap_;
    }
    other.size_ = 0;
  }
  void release() noexcept {
    if (size_ > kInlineBytes && heap_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      free_heap(heap_);
    }
    size_ = 0;
  }
  static void free_heap(Heap* heap) noexcept;

  union {
    uint8_t inline_[kInlineBytes] = {};
    Heap* heap_;
  };
  size_t size_ = 0;
};

}  // namespace airssys::wasm::actor
