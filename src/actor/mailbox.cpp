#include "airssys/wasm/actor/mailbox.hpp"

#include <fmt/format.h>

namespace airssys::wasm::actor {

Result<void> Mailbox::push(Envelope&& envelope) {
  std::lock_guard lock(mutex_);
  if (closed_) {
    return make_error(ErrorCode::ActorStopped,
                      fmt::format("{} accepts no more messages", envelope.target.to_string()));
  }
  if (queue_.size() >= capacity_) {
    return make_error(ErrorCode::MailboxFull,
                      fmt::format("mailbox of {} is full ({} messages); retry later or drop",
                                  envelope.target.to_string(), capacity_));
  }
  queue_.push_back(std::move(envelope));
  return {};
}

std::optional<Envelope> Mailbox::pop() {
  std::lock_guard lock(mutex_);
  if (queue_.empty()) return std::nullopt;
  Envelope front = std::move(queue_.front());
  queue_.pop_front();
  return front;
}

void Mailbox::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
}

std::vector<Envelope> Mailbox::drain() {
  std::lock_guard lock(mutex_);
  std::vector<Envelope> out(std::make_move_iterator(queue_.begin()),
                            std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

size_t Mailbox::size() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

bool Mailbox::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace airssys::wasm::actor
