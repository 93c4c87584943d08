#pragma once
// A bounded multi-producer, single-consumer queue of envelopes.
//
// Back-pressure: push() on a full mailbox fails with MailboxFull and leaves the
// envelope with the caller, who decides whether to retry later or to drop it
// and report. A mailbox never grows past its capacity.
//
// Storage: a chain of fixed segments of envelopes. Growing takes one segment
// (the spare one kept from the last that emptied, else one from a host-wide
// pool of emptied segments, else a new one) and never moves or copies what is
// queued; an emptied segment becomes the spare or goes to the pool, so a
// message costs the mailbox no allocation of its own in the steady state nor
// in a burst once the pool holds segments, and an idle mailbox holds at most
// one segment.

#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "airssys/wasm/actor/message.hpp"
#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::actor {

inline constexpr size_t kDefaultMailboxCapacity = 1024;

class Mailbox {
 public:
  static constexpr size_t kSegmentSlots = 8;

  explicit Mailbox(size_t capacity = kDefaultMailboxCapacity) : capacity_(capacity) {}
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Moves from `envelope` only on success; on MailboxFull or ActorStopped
  // (closed) the caller still holds it.
  [[nodiscard]] Result<void> push(Envelope&& envelope);
  // The oldest envelope, or nothing when empty. Single consumer.
  [[nodiscard]] std::optional<Envelope> pop();
  // Refuses every later push; what is queued stays until popped or drained.
  void close();
  // Everything still queued, oldest first.
  [[nodiscard]] std::vector<Envelope> drain();

  [[nodiscard]] size_t size() const;
  [[nodiscard]] bool empty() const { return size() == 0; }
  [[nodiscard]] bool closed() const;
  [[nodiscard]] size_t capacity() const { return capacity_; }

 private:
  struct Segment {
    std::array<Envelope, kSegmentSlots> slots;
    Segment* next = nullptr;
  };
  // The oldest envelope is head_->slots[head_slot_], the newest
  // tail_->slots[tail_slot_ - 1]; count_ in all. mutex_ held.
  Envelope take_locked();
  Segment* new_segment_locked();
  void recycle_locked(Segment* segment);

  const size_t capacity_;
  mutable std::mutex mutex_;
  Segment* head_ = nullptr;
  Segment* tail_ = nullptr;
  size_t head_slot_ = 0;
  size_t tail_slot_ = 0;
  std::unique_ptr<Segment> spare_;
  size_t count_ = 0;
  bool closed_ = false;
};

}  // namespace airssys::wasm::actor
