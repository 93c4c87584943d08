#include "airssys/wasm/actor/mailbox.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace airssys::wasm::actor {

Result<void> Mailbox::push(Envelope&& envelope) {
  std::lock_guard lock(mutex_);
  if (closed_) {
    return make_error(ErrorCode::ActorStopped,
                      fmt::format("{} accepts no more messages", envelope.target.to_string()));
  }
  if (count_ >= capacity_) {
    return make_error(ErrorCode::MailboxFull,
                      fmt::format("mailbox of {} is full ({} messages); retry later or drop",
                                  envelope.target.to_string(), capacity_));
  }
  if (tail_ == nullptr) {
    head_ = tail_ = new_segment_locked();
    head_slot_ = tail_slot_ = 0;
  } else if (tail_slot_ == kSegmentSlots) {
    // Links one more segment: nothing queued moves.
    tail_->next = new_segment_locked();
    tail_ = tail_->next;
    tail_slot_ = 0;
  }
  tail_->slots[tail_slot_++] = std::move(envelope);
  ++count_;
  return {};
}

Mailbox::~Mailbox() {
  while (head_ != nullptr) {
    Segment* next = head_->next;
    delete head_;
    head_ = next;
  }
}

namespace {

// Emptied segments beyond each mailbox's one spare, kept for any mailbox's
// next burst: a sender on one thread then reuses what a receiver on another
// freed, without a trip through the allocator. Bounded, so a past flood
// holds at most kPooledSegments of memory; never destroyed, so a mailbox
// that outlives static destruction can still give its segments back.
class SegmentPool {
 public:
  static constexpr size_t kPooledSegments = 256;

  static SegmentPool& instance() {
    static auto* pool = new SegmentPool();  // NOLINT: deliberately never freed
    return *pool;
  }

  void* take() {
    std::lock_guard lock(mutex_);
    if (free_.empty()) return nullptr;
    void* segment = free_.back();
    free_.pop_back();
    return segment;
  }

  // False when full: the caller frees the segment itself.
  bool give(void* segment) {
    std::lock_guard lock(mutex_);
    if (free_.size() >= kPooledSegments) return false;
    free_.push_back(segment);
    return true;
  }

 private:
  SegmentPool() { free_.reserve(kPooledSegments); }
  std::mutex mutex_;
  std::vector<void*> free_;
};

}  // namespace

Mailbox::Segment* Mailbox::new_segment_locked() {
  if (spare_) {
    spare_->next = nullptr;
    return spare_.release();
  }
  if (void* pooled = SegmentPool::instance().take()) {
    auto* segment = static_cast<Segment*>(pooled);
    segment->next = nullptr;
    return segment;
  }
  return new Segment();
}

// `segment` holds no envelope (every slot taken): it becomes the spare, or
// goes to the pool, or is freed.
void Mailbox::recycle_locked(Segment* segment) {
  if (!spare_) {
    spare_.reset(segment);
  } else if (!SegmentPool::instance().give(segment)) {
    delete segment;
  }
}

Envelope Mailbox::take_locked() {
  Envelope& slot = head_->slots[head_slot_];
  Envelope front = std::move(slot);
  // The moved-from slot keeps nothing (its payload is already empty).
  slot.sender.name.clear();
  slot.target.name.clear();
  slot.topic.reset();
  ++head_slot_;
  --count_;
  if (count_ == 0) {
    // Empty: the segments a burst linked go, one stays as the spare.
    Segment* segment = head_;
    while (segment != nullptr) {
      Segment* next = segment->next;
      recycle_locked(segment);
      segment = next;
    }
    head_ = tail_ = nullptr;
    head_slot_ = tail_slot_ = 0;
  } else if (head_slot_ == kSegmentSlots) {
    Segment* done = head_;
    head_ = head_->next;
    head_slot_ = 0;
    recycle_locked(done);
  }
  return front;
}

std::optional<Envelope> Mailbox::pop() {
  std::lock_guard lock(mutex_);
  if (count_ == 0) return std::nullopt;
  return take_locked();
}

void Mailbox::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
}

std::vector<Envelope> Mailbox::drain() {
  std::lock_guard lock(mutex_);
  std::vector<Envelope> out;
  out.reserve(count_);
  while (count_ > 0) out.push_back(take_locked());
  return out;
}

size_t Mailbox::size() const {
  std::lock_guard lock(mutex_);
  return count_;
}

bool Mailbox::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace airssys::wasm::actor
