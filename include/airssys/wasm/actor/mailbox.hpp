#pragma once
// A bounded multi-producer, single-consumer queue of envelopes.
//
// Back-pressure: push() on a full mailbox fails with MailboxFull and leaves the
// envelope with the caller, who decides whether to retry later or to drop it
// and report. A mailbox never grows past its capacity.
//
// Storage: a ring of envelopes that doubles when full (never past the
// capacity) and is released once the mailbox is empty again, so a message
// costs the mailbox no allocation of its own in the steady state.

#include <cstddef>
#include <mutex>
#include <optional>
#include <vector>

#include "airssys/wasm/actor/message.hpp"
#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::actor {

inline constexpr size_t kDefaultMailboxCapacity = 1024;

class Mailbox {
 public:
  explicit Mailbox(size_t capacity = kDefaultMailboxCapacity) : capacity_(capacity) {}
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
  // The ring has ring_.size() slots, the oldest envelope at head_, count_
  // in all; mutex_ held.
  void grow_locked();
  Envelope take_locked();

  const size_t capacity_;
  mutable std::mutex mutex_;
  std::vector<Envelope> ring_;
  size_t head_ = 0;
  size_t count_ = 0;
  bool closed_ = false;
};

}  // namespace airssys::wasm::actor
