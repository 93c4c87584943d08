#include "airssys/wasm/actor/mailbox.hpp"

#include <fmt/format.h>

#include <algorithm>

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

Mailbox::Segment* Mailbox::new_segment_locked() {
  if (spare_) {
    spare_->next = nullptr;
    return spare_.release();
  }
  return new Segment();
}

Envelope Mailbox::take_locked() {
  Envelope front = std::move(head_->slots[head_slot_]);
  head_->slots[head_slot_] = Envelope{};  // the moved-from slot keeps nothing
  ++head_slot_;
  --count_;
  if (count_ == 0) {
    // Empty: the segments a burst linked go, one stays as the spare.
    Segment* segment = head_;
    while (segment != nullptr) {
      Segment* next = segment->next;
      if (spare_) {
        delete segment;
      } else {
        spare_.reset(segment);
      }
      segment = next;
    }
    head_ = tail_ = nullptr;
    head_slot_ = tail_slot_ = 0;
  } else if (head_slot_ == kSegmentSlots) {
    Segment* done = head_;
    head_ = head_->next;
    head_slot_ = 0;
    if (spare_) {
      delete done;
    } else {
      spare_.reset(done);
    }
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
