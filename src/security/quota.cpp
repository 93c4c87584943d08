#include "airssys/wasm/security/quota.hpp"

#include <time.h>

#include <algorithm>

#include <fmt/format.h>

#include "airssys/wasm/core/enum_names.hpp"

namespace airssys::wasm::security {
namespace {

// A rate's word: the window number in the high bits, the count in the low
// ones. 42 bits count up to 4.4e12 (more than the largest rate a manifest
// accepts, 1 TB/s); 22 bits of window number repeat every 48 days, and a
// stale word that happens to match is at most one second of old usage.
constexpr unsigned kCountBits = 42;
constexpr uint64_t kCountMax = (uint64_t{1} << kCountBits) - 1;
constexpr uint64_t kWindowMask = (uint64_t{1} << (64 - kCountBits)) - 1;
constexpr int64_t kWindowNs = 1'000'000'000;

constexpr uint64_t pack(int64_t window, uint64_t count) {
  return ((static_cast<uint64_t>(window) & kWindowMask) << kCountBits) | (count & kCountMax);
}
constexpr uint64_t window_of(uint64_t word) { return word >> kCountBits; }
constexpr uint64_t count_of(uint64_t word) { return word & kCountMax; }

// The count of `word` if it belongs to `window`, else 0 (a new window).
constexpr uint64_t current_count(uint64_t word, int64_t window) {
  return window_of(word) == (static_cast<uint64_t>(window) & kWindowMask) ? count_of(word) : 0;
}

// The window a change to `word` belongs in: `now`, or the word's own window
// when that is newer. A thread that read the clock just before the window
// turned must not move the word back to the old window, which would reset the
// count of the new one and let it pass its limit.
constexpr int64_t window_for(uint64_t word, int64_t now) {
  const uint64_t ahead =
      (window_of(word) - (static_cast<uint64_t>(now) & kWindowMask)) & kWindowMask;
  return ahead != 0 && ahead <= (kWindowMask >> 1) ? now + static_cast<int64_t>(ahead) : now;
}

constexpr uint64_t saturating_add(uint64_t a, uint64_t b, uint64_t max) {
  return a > max - std::min(b, max) ? max : a + b;
}

static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint8_t>::is_always_lock_free);

}  // namespace

// X(kind, name, unit): the one table of the quota kinds' names and units.
#define AIRSSYS_QUOTA_KINDS(X)                            \
  X(QuotaKind::Storage, "storage", "bytes")               \
  X(QuotaKind::MessageRate, "message_rate", "messages/s") \
  X(QuotaKind::Network, "network", "bytes/s")             \
  X(QuotaKind::CpuTime, "cpu_time", "us/s")               \
  X(QuotaKind::Memory, "memory", "bytes")

std::string_view quota_name(QuotaKind kind) {
  switch (kind) {
#define AIRSSYS_X(kind, name, unit) AIRSSYS_ENUM_NAME_CASE(kind, name)
    AIRSSYS_QUOTA_KINDS(AIRSSYS_X)
#undef AIRSSYS_X
  }
  return "unknown";
}

std::string_view quota_unit(QuotaKind kind) {
  switch (kind) {
#define AIRSSYS_X(kind, name, unit) AIRSSYS_ENUM_NAME_CASE(kind, unit)
    AIRSSYS_QUOTA_KINDS(AIRSSYS_X)
#undef AIRSSYS_X
  }
  return "";
}

uint64_t ResourceQuota::limit(QuotaKind kind) const {
  switch (kind) {
    case QuotaKind::Storage: return storage_bytes;
    case QuotaKind::MessageRate: return messages_per_second;
    case QuotaKind::Network: return network_bytes_per_second;
    case QuotaKind::CpuTime:
      return cpu_ms_per_second > UINT64_MAX / 1000 ? UINT64_MAX : cpu_ms_per_second * 1000;
    case QuotaKind::Memory: return memory_bytes;
  }
  return 0;
}

std::string QuotaError::to_string() const {
  return fmt::format("{} quota exceeded: {} {} used, {} requested, limit {}", quota_name(quota),
                     current, quota_unit(quota), requested, limit);
}

Error QuotaError::to_error() const {
  return Error::of(ErrorCode::QuotaExceeded, to_string());
}

std::string_view quota_level_name(QuotaLevel level) {
  switch (level) {
    case QuotaLevel::Normal: return "normal";
    case QuotaLevel::Warning: return "warning";
    case QuotaLevel::Critical: return "critical";
  }
  return "unknown";
}

QuotaLevel quota_level(uint64_t used, uint64_t limit) {
  if (limit == 0) return used == 0 ? QuotaLevel::Normal : QuotaLevel::Critical;
  // used * 100 >= limit * percent, without overflow for any 64-bit values.
  auto at_least = [&](uint64_t percent) {
    unsigned __int128 lhs = static_cast<unsigned __int128>(used) * 100;
    unsigned __int128 rhs = static_cast<unsigned __int128>(limit) * percent;
    return lhs >= rhs;
  };
  if (at_least(kQuotaCriticalPercent)) return QuotaLevel::Critical;
  if (at_least(kQuotaWarningPercent)) return QuotaLevel::Warning;
  return QuotaLevel::Normal;
}

std::string QuotaCrossing::to_string() const {
  double percent = limit == 0 ? 100.0 : static_cast<double>(used) * 100.0 / static_cast<double>(limit);
  return fmt::format("{} quota at {:.0f}% ({} of {} {}): {}", quota_name(quota), percent, used,
                     limit, quota_unit(quota), quota_level_name(to));
}

int64_t quota_clock_now() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kWindowNs + ts.tv_nsec;
}

QuotaTracker::QuotaTracker(const ResourceQuota& limits, QuotaClock clock)
    : clock_(clock ? clock : &quota_clock_now) {
  for (QuotaKind kind : kQuotaKinds) {
    uint64_t limit = limits.limit(kind);
    // A rate's count saturates at kCountMax: a larger limit could never bind.
    limit_[static_cast<size_t>(kind)] = quota_is_rate(kind) ? std::min(limit, kCountMax) : limit;
  }
}

ResourceQuota QuotaTracker::limits() const noexcept {
  ResourceQuota q;
  q.storage_bytes = limit(QuotaKind::Storage);
  q.messages_per_second = limit(QuotaKind::MessageRate);
  q.network_bytes_per_second = limit(QuotaKind::Network);
  q.cpu_ms_per_second = limit(QuotaKind::CpuTime) / 1000;
  q.memory_bytes = limit(QuotaKind::Memory);
  return q;
}

int64_t QuotaTracker::window() const noexcept { return clock_() / kWindowNs; }

std::expected<void, QuotaError> QuotaTracker::try_consume(QuotaKind kind,
                                                          uint64_t amount) noexcept {
  auto& state = state_[static_cast<size_t>(kind)];
  const uint64_t limit = this->limit(kind);
  uint64_t word = state.load(std::memory_order_relaxed);
  if (quota_is_rate(kind)) {
    const int64_t now = window();
    for (;;) {
      const int64_t at = window_for(word, now);
      uint64_t current = current_count(word, at);
      if (amount > limit || current > limit - amount) {
        return std::unexpected(QuotaError{kind, current, amount, limit});
      }
      if (state.compare_exchange_weak(word, pack(at, current + amount),
                                      std::memory_order_acq_rel, std::memory_order_relaxed)) {
        return {};
      }
    }
  }
  for (;;) {
    if (amount > limit || word > limit - amount) {
      return std::unexpected(QuotaError{kind, word, amount, limit});
    }
    if (state.compare_exchange_weak(word, word + amount, std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      return {};
    }
  }
}

std::expected<void, QuotaError> QuotaTracker::check(QuotaKind kind,
                                                    uint64_t amount) const noexcept {
  const uint64_t limit = this->limit(kind);
  const uint64_t current = used(kind);
  if (amount > limit || current > limit - amount) {
    return std::unexpected(QuotaError{kind, current, amount, limit});
  }
  return {};
}

void QuotaTracker::release(QuotaKind kind, uint64_t amount) noexcept {
  auto& state = state_[static_cast<size_t>(kind)];
  uint64_t word = state.load(std::memory_order_relaxed);
  if (quota_is_rate(kind)) {
    const int64_t now = window();
    for (;;) {
      if (window_of(word) != (static_cast<uint64_t>(now) & kWindowMask)) return;  // window over
      uint64_t count = count_of(word);
      uint64_t next = pack(now, count - std::min(count, amount));
      if (state.compare_exchange_weak(word, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
        return;
      }
    }
  }
  for (;;) {
    if (state.compare_exchange_weak(word, word - std::min(word, amount), std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      return;
    }
  }
}

void QuotaTracker::record(QuotaKind kind, uint64_t amount) noexcept {
  auto& state = state_[static_cast<size_t>(kind)];
  uint64_t word = state.load(std::memory_order_relaxed);
  if (quota_is_rate(kind)) {
    const int64_t now = window();
    for (;;) {
      const int64_t at = window_for(word, now);
      uint64_t next = pack(at, saturating_add(current_count(word, at), amount, kCountMax));
      if (state.compare_exchange_weak(word, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
        return;
      }
    }
  }
  for (;;) {
    if (state.compare_exchange_weak(word, saturating_add(word, amount, UINT64_MAX),
                                    std::memory_order_acq_rel, std::memory_order_relaxed)) {
      return;
    }
  }
}

void QuotaTracker::carry_over(const QuotaTracker& other) noexcept {
  for (size_t i = 0; i < kQuotaKindCount; ++i) {
    state_[i].store(other.state_[i].load(std::memory_order_acquire), std::memory_order_release);
  }
}

void QuotaTracker::set_used(QuotaKind kind, uint64_t value) noexcept {
  auto& state = state_[static_cast<size_t>(kind)];
  if (quota_is_rate(kind)) {
    state.store(pack(window(), std::min(value, kCountMax)), std::memory_order_release);
  } else {
    state.store(value, std::memory_order_release);
  }
}

uint64_t QuotaTracker::used(QuotaKind kind) const noexcept {
  uint64_t word = state_[static_cast<size_t>(kind)].load(std::memory_order_acquire);
  return quota_is_rate(kind) ? current_count(word, window()) : word;
}

QuotaUsage QuotaTracker::usage(QuotaKind kind) const noexcept {
  QuotaUsage out;
  out.quota = kind;
  out.used = used(kind);
  out.limit = limit(kind);
  out.available = out.used >= out.limit ? 0 : out.limit - out.used;
  out.percent = out.limit == 0 ? (out.used == 0 ? 0.0 : 100.0)
                               : static_cast<double>(out.used) * 100.0 /
                                     static_cast<double>(out.limit);
  out.level = quota_level(out.used, out.limit);
  return out;
}

std::array<QuotaUsage, kQuotaKindCount> QuotaTracker::snapshot() const noexcept {
  std::array<QuotaUsage, kQuotaKindCount> out;
  for (QuotaKind kind : kQuotaKinds) out[static_cast<size_t>(kind)] = usage(kind);
  return out;
}

std::chrono::nanoseconds QuotaTracker::until_next_window() const noexcept {
  int64_t now = clock_();
  return std::chrono::nanoseconds(kWindowNs - now % kWindowNs);
}

std::optional<QuotaCrossing> QuotaTracker::observe(QuotaKind kind) noexcept {
  const uint64_t used = this->used(kind);
  const uint64_t limit = this->limit(kind);
  const auto level = static_cast<uint8_t>(quota_level(used, limit));
  auto& reported = reported_[static_cast<size_t>(kind)];
  uint8_t previous = reported.load(std::memory_order_relaxed);
  do {
    if (previous == level) return std::nullopt;
  } while (!reported.compare_exchange_weak(previous, level, std::memory_order_acq_rel,
                                           std::memory_order_relaxed));
  return QuotaCrossing{kind, static_cast<QuotaLevel>(previous), static_cast<QuotaLevel>(level),
                       used, limit};
}

}  // namespace airssys::wasm::security
