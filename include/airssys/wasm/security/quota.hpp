#pragma once
// The five resource quotas of a component and the tracker that enforces them.
//
// A QuotaTracker belongs to one component and outlives its instances: a
// restarted component keeps the tracker, so it cannot reset its storage or
// open a fresh rate window by crashing. Every operation is lock-free (one
// atomic word per quota); a refusal is a QuotaError that names the quota and
// carries the current usage, the amount requested and the limit.
//
// Two kinds of quota:
// - levels (storage, memory): the amount held now; released on delete.
// - rates (messages, network, CPU time): the amount used in the current
//   1-second window of the monotonic clock; a new window starts at zero.
//   Window and count live in one 64-bit word, so a window reset and a
//   concurrent consumption can never lose each other's update.
//
// Example:
//   QuotaTracker tracker(context->quotas());
//   if (auto ok = tracker.try_consume(QuotaKind::MessageRate, 1); !ok) {
//     audit(ok.error().to_string());   // "message rate quota: 1000 used + 1 requested > 1000"
//   }

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/core/units.hpp"

namespace airssys::wasm::security {

enum class QuotaKind : uint8_t { Storage, MessageRate, Network, CpuTime, Memory };
inline constexpr size_t kQuotaKindCount = 5;
inline constexpr std::array<QuotaKind, kQuotaKindCount> kQuotaKinds = {
    QuotaKind::Storage, QuotaKind::MessageRate, QuotaKind::Network, QuotaKind::CpuTime,
    QuotaKind::Memory};

// "storage", "message_rate", "network", "cpu_time", "memory".
[[nodiscard]] std::string_view quota_name(QuotaKind kind);
// The unit of used and limit: "bytes", "messages/s", "bytes/s", "us/s", "bytes".
[[nodiscard]] std::string_view quota_unit(QuotaKind kind);
// True for the quotas counted per 1-second window.
[[nodiscard]] constexpr bool quota_is_rate(QuotaKind kind) {
  return kind == QuotaKind::MessageRate || kind == QuotaKind::Network ||
         kind == QuotaKind::CpuTime;
}

// The five limits, with the defaults of a manifest and a host that name none.
struct ResourceQuota {
  uint64_t storage_bytes = 100 * MiB;            // bytes stored
  uint64_t messages_per_second = 1000;           // messages sent per 1 s window
  uint64_t network_bytes_per_second = 10 * MiB;  // bytes transferred per 1 s window
  uint64_t cpu_ms_per_second = 1000;             // metered CPU time per 1 s window
  uint64_t memory_bytes = 256 * MiB;             // current linear memory

  // The limit in the tracker's unit (CPU time in microseconds per second).
  [[nodiscard]] uint64_t limit(QuotaKind kind) const;

  friend bool operator==(const ResourceQuota&, const ResourceQuota&) = default;
};
using QuotaLimits = ResourceQuota;

// A refusal: `current + requested` would pass `limit`.
struct QuotaError {
  QuotaKind quota = QuotaKind::Storage;
  uint64_t current = 0;
  uint64_t requested = 0;
  uint64_t limit = 0;

  // "storage quota exceeded: 99 bytes used, 10 bytes requested, limit 100 bytes".
  [[nodiscard]] std::string to_string() const;
  // QuotaExceeded with to_string() as the message.
  [[nodiscard]] Error to_error() const;
};

// Monitoring levels: warning from 80 % of the limit, critical from 95 %.
enum class QuotaLevel : uint8_t { Normal, Warning, Critical };
inline constexpr uint64_t kQuotaWarningPercent = 80;
inline constexpr uint64_t kQuotaCriticalPercent = 95;
[[nodiscard]] std::string_view quota_level_name(QuotaLevel level);
[[nodiscard]] QuotaLevel quota_level(uint64_t used, uint64_t limit);

struct QuotaUsage {
  QuotaKind quota = QuotaKind::Storage;
  uint64_t used = 0;
  uint64_t limit = 0;
  uint64_t available = 0;  // limit - used, never negative
  double percent = 0;      // used / limit * 100; may pass 100 for CPU time
  QuotaLevel level = QuotaLevel::Normal;
};

// A change of monitoring level, reported once per crossing.
struct QuotaCrossing {
  QuotaKind quota = QuotaKind::Storage;
  QuotaLevel from = QuotaLevel::Normal;
  QuotaLevel to = QuotaLevel::Normal;
  uint64_t used = 0;
  uint64_t limit = 0;

  [[nodiscard]] bool rising() const { return to > from; }
  // "storage quota at 81% (81 of 100 bytes): warning".
  [[nodiscard]] std::string to_string() const;
};

// Monotonic nanoseconds; the default reads CLOCK_MONOTONIC_COARSE (a few ns,
// millisecond resolution, plenty for 1-second windows).
using QuotaClock = int64_t (*)() noexcept;
[[nodiscard]] int64_t quota_clock_now() noexcept;

class QuotaTracker {
 public:
  explicit QuotaTracker(const ResourceQuota& limits, QuotaClock clock = &quota_clock_now);
  QuotaTracker(const QuotaTracker&) = delete;
  QuotaTracker& operator=(const QuotaTracker&) = delete;

  [[nodiscard]] ResourceQuota limits() const noexcept;

  // Adds `amount` when the usage stays within the limit; otherwise changes
  // nothing and returns the refusal. Concurrent callers never push the usage
  // past the limit.
  [[nodiscard]] std::expected<void, QuotaError> try_consume(QuotaKind kind,
                                                            uint64_t amount) noexcept;
  // The same test without consuming.
  [[nodiscard]] std::expected<void, QuotaError> check(QuotaKind kind,
                                                      uint64_t amount) const noexcept;
  // Gives back part of a consumption (a deleted value, an unused reservation);
  // for a rate, only while its window lasts.
  void release(QuotaKind kind, uint64_t amount) noexcept;
  // Adds what was already spent (CPU time after a slice); may pass the limit.
  void record(QuotaKind kind, uint64_t amount) noexcept;
  // Takes over another tracker's usage (its levels and current windows),
  // e.g. a new version of the same component.
  void carry_over(const QuotaTracker& other) noexcept;
  // Sets a level quota to a measured value (memory size, stored bytes).
  void set_used(QuotaKind kind, uint64_t value) noexcept;

  // The usage now (a rate reads 0 once its window is over).
  [[nodiscard]] uint64_t used(QuotaKind kind) const noexcept;
  [[nodiscard]] QuotaUsage usage(QuotaKind kind) const noexcept;
  [[nodiscard]] std::array<QuotaUsage, kQuotaKindCount> snapshot() const noexcept;
  // True when nothing more fits in the current window or level.
  [[nodiscard]] bool exhausted(QuotaKind kind) const noexcept { return used(kind) >= limit(kind); }
  // Nanoseconds until the current 1-second window ends.
  [[nodiscard]] std::chrono::nanoseconds until_next_window() const noexcept;

  // Compares the quota's level with the level last reported and returns the
  // change, once: each crossing of 80 % or 95 % (up or back down) is
  // returned to exactly one caller.
  [[nodiscard]] std::optional<QuotaCrossing> observe(QuotaKind kind) noexcept;

 private:
  [[nodiscard]] uint64_t limit(QuotaKind kind) const noexcept {
    return limit_[static_cast<size_t>(kind)];
  }
  [[nodiscard]] int64_t window() const noexcept;

  const QuotaClock clock_;
  std::array<uint64_t, kQuotaKindCount> limit_{};
  // Levels: the amount. Rates: (window << kCountBits) | count.
  std::array<std::atomic<uint64_t>, kQuotaKindCount> state_{};
  std::array<std::atomic<uint8_t>, kQuotaKindCount> reported_{};
};

}  // namespace airssys::wasm::security
