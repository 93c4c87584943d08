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
  if (count_ == ring_.size()) grow_locked();
  ring_[(head_ + count_) % ring_.size()] = std::move(envelope);
  ++count_;
  return {};
}

void Mailbox::grow_locked() {
  // Doubles, from a few slots, never past the capacity.
  constexpr size_t kFirstSlots = 8;
  const size_t slots = std::min(capacity_, std::max(kFirstSlots, ring_.size() * 2));
  std::vector<Envelope> next(slots);
  for (size_t i = 0; i < count_; ++i) next[i] = std::move(ring_[(head_ + i) % ring_.size()]);
  ring_ = std::move(next);
  head_ = 0;
}

Envelope Mailbox::take_locked() {
  Envelope front = std::move(ring_[head_]);
  head_ = (head_ + 1) % ring_.size();
  --count_;
  if (count_ == 0) {
    head_ = 0;
    // A ring grown by a burst is given back once the burst is over.
    constexpr size_t kKeptSlots = 16;
    if (ring_.size() > kKeptSlots) ring_ = std::vector<Envelope>();
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
