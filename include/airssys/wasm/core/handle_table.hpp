#pragma once
// A table of values a guest holds by small integer handles: a component's
// WASI descriptors (host::FileTable), and the resources of the Component
// Model's canonical ABI.
//
// The rules:
//   - A handle is `first + slot`, slots numbered densely from 0; `first` is
//     fixed per table (3 for descriptors, after the standard streams).
//   - Reuse: a removed entry's slot is taken again by a later insert, the
//     lowest free slot first, as POSIX hands out descriptors. There is no
//     generation count: a handle kept past its removal names whatever entry
//     takes its slot next, exactly as a stale descriptor does. A user that
//     must tell those apart keeps a generation in its value.
//   - Bound: at most `capacity` entries are live at once; an insert past it
//     is refused (HandleError::Full) and the table never grows beyond
//     `capacity` slots.
//   - A handle that is not live is refused with a typed error, never read:
//     Unknown when no insert ever issued it (below `first`, or past every
//     slot the table has had), Removed when it was live and has been removed
//     since.
//
// Example:
//   HandleTable<std::string> names(/*first=*/1, /*capacity=*/64);
//   auto handle = names.insert("a");      // 1
//   auto value = names.get(*handle);      // std::string*
//   auto gone = names.remove(*handle);    // "a"; get(1) is now Removed
//
// Not thread-safe: a table belongs to one component, used by one thread at a
// time.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace airssys::wasm {

enum class HandleError : uint8_t {
  Unknown,  // never issued by this table
  Removed,  // issued, then removed; not live now
  Full,     // an insert with `capacity` entries live
};

[[nodiscard]] constexpr const char* handle_error_name(HandleError error) {
  switch (error) {
    case HandleError::Unknown: return "unknown handle";
    case HandleError::Removed: return "handle already removed";
    case HandleError::Full: return "handle table full";
  }
  return "?";
}

template <class T>
class HandleTable {
 public:
  // `capacity` is cut to the handles left above `first` in 32 bits.
  HandleTable(uint32_t first, size_t capacity)
      : first_(first), capacity_(std::min<size_t>(capacity, size_t{UINT32_MAX} - first + 1)) {}

  // The entry's handle, or Full.
  [[nodiscard]] std::expected<uint32_t, HandleError> insert(T value) {
    if (live_ >= capacity_) return std::unexpected(HandleError::Full);
    size_t slot = slots_.size();
    if (!free_.empty()) {
      std::pop_heap(free_.begin(), free_.end(), std::greater<>{});
      slot = free_.back();
      free_.pop_back();
      slots_[slot].emplace(std::move(value));
    } else {
      slots_.emplace_back(std::move(value));
    }
    ++live_;
    return static_cast<uint32_t>(first_ + slot);
  }

  // The live entry `handle` names; Unknown or Removed otherwise.
  [[nodiscard]] std::expected<T*, HandleError> get(uint32_t handle) {
    auto slot = slot_of(handle);
    if (!slot) return std::unexpected(slot.error());
    return &*slots_[*slot];
  }
  [[nodiscard]] std::expected<const T*, HandleError> get(uint32_t handle) const {
    auto slot = slot_of(handle);
    if (!slot) return std::unexpected(slot.error());
    return &*slots_[*slot];
  }
  // get() for callers that need not tell the errors apart: null when not live.
  [[nodiscard]] T* find(uint32_t handle) {
    auto found = get(handle);
    return found ? *found : nullptr;
  }

  // Takes the entry out; its slot is free for a later insert.
  [[nodiscard]] std::expected<T, HandleError> remove(uint32_t handle) {
    auto slot = slot_of(handle);
    if (!slot) return std::unexpected(slot.error());
    T value = std::move(*slots_[*slot]);
    slots_[*slot].reset();
    free_.push_back(*slot);
    std::push_heap(free_.begin(), free_.end(), std::greater<>{});
    --live_;
    return value;
  }

  // Calls f(handle, value) for each live entry, in handle order.
  template <class F>
  void for_each(F&& f) {
    for (size_t slot = 0; slot < slots_.size(); ++slot) {
      if (slots_[slot]) f(static_cast<uint32_t>(first_ + slot), *slots_[slot]);
    }
  }

  [[nodiscard]] size_t size() const { return live_; }  // live entries
  [[nodiscard]] size_t capacity() const { return capacity_; }
  [[nodiscard]] uint32_t first() const { return first_; }

 private:
  [[nodiscard]] std::expected<size_t, HandleError> slot_of(uint32_t handle) const {
    if (handle < first_ || handle - first_ >= slots_.size()) {
      return std::unexpected(HandleError::Unknown);
    }
    const size_t slot = handle - first_;
    if (!slots_[slot]) return std::unexpected(HandleError::Removed);
    return slot;
  }

  uint32_t first_;
  size_t capacity_;
  std::vector<std::optional<T>> slots_;  // never more than capacity_
  std::vector<size_t> free_;             // empty slots, a min-heap
  size_t live_ = 0;
};

}  // namespace airssys::wasm
