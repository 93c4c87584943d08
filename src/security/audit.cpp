// The audit log: the record's JSON line, the writer and the readers. Longer
// than 900 lines because the writer (ring, per-source shares, repeat
// summaries, rotation, reopening) is one object whose invariants span all of
// its parts; the line format and the readers beside it are small.
#include "airssys/wasm/security/audit.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "airssys/wasm/core/enum_names.hpp"

namespace airssys::wasm::security {

// X(value, name): one table per enum, both directions made from it.
#define AIRSSYS_AUDIT_RESULTS(X)     \
  X(AuditResult::Granted, "granted") \
  X(AuditResult::Denied, "denied")

#define AIRSSYS_DECISION_LAYERS(X)            \
  X(DecisionLayer::Component, "component")    \
  X(DecisionLayer::HostPolicy, "host-policy") \
  X(DecisionLayer::Trust, "trust")            \
  X(DecisionLayer::Approval, "approval")      \
  X(DecisionLayer::Quota, "quota")            \
  X(DecisionLayer::Messaging, "messaging")    \
  X(DecisionLayer::Audit, "audit")

std::string_view audit_result_name(AuditResult result) {
  switch (result) { AIRSSYS_AUDIT_RESULTS(AIRSSYS_ENUM_NAME_CASE) }
  return "denied";
}

std::optional<AuditResult> parse_audit_result(std::string_view text) {
  AIRSSYS_AUDIT_RESULTS(AIRSSYS_ENUM_PARSE_IF)
  return std::nullopt;
}

std::string_view decision_layer_name(DecisionLayer layer) {
  switch (layer) { AIRSSYS_DECISION_LAYERS(AIRSSYS_ENUM_NAME_CASE) }
  return "?";
}

std::optional<DecisionLayer> parse_decision_layer(std::string_view text) {
  AIRSSYS_DECISION_LAYERS(AIRSSYS_ENUM_PARSE_IF)
  return std::nullopt;
}

std::string format_audit_time(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  auto ms = floor<milliseconds>(time).time_since_epoch().count();
  auto seconds = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  auto millis = ms - static_cast<int64_t>(seconds) * 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
}

std::optional<std::chrono::system_clock::time_point> parse_audit_time(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS.mmmZ
  if (text.size() != 24 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != '.' || text[23] != 'Z') {
    return std::nullopt;
  }
  auto field = [&](size_t at, size_t length) -> std::optional<int> {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data() + at, text.data() + at + length, value);
    if (ec != std::errc() || end != text.data() + at + length) return std::nullopt;
    return value;
  };
  auto year = field(0, 4), month = field(5, 2), day = field(8, 2), hour = field(11, 2),
       minute = field(14, 2), second = field(17, 2), millis = field(20, 3);
  if (!year || !month || !day || !hour || !minute || !second || !millis) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits (years 1677 to 2262); audit
  // times are written by the host, so anything outside 1970-2200 is refused
  // rather than overflowed (found by fuzz_records).
  if (*year < 1970 || *year > 2200) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year(*year), std::chrono::month(*month),
                                   std::chrono::day(*day)};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(*hour) + std::chrono::minutes(*minute) +
         std::chrono::seconds(*second) + std::chrono::milliseconds(*millis);
}

std::string to_json_line(const AuditRecord& record) {
  nlohmann::ordered_json line;
  line["time"] = format_audit_time(record.time);
  line["component"] = record.component;
  line["resource"] = record.resource;
  line["permission"] = record.permission;
  line["result"] = audit_result_name(record.result);
  if (record.trust) {
    line["trust"] = trust_level_name(*record.trust);
  } else {
    line["trust"] = nullptr;
  }
  line["reason"] = record.reason;
  line["layer"] = decision_layer_name(record.layer);
  if (record.permission == kAuditOverflowPermission || record.dropped != 0) {
    line["dropped"] = record.dropped;
  }
  if (record.repeats != 0) line["repeats"] = record.repeats;
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<AuditRecord> parse_audit_line(std::string_view line) {
  auto json = nlohmann::json::parse(line, nullptr, false);
  auto invalid = [](std::string_view why) {
    return make_error(ErrorCode::InvalidArgument, fmt::format("not an audit record: {}", why));
  };
  if (json.is_discarded() || !json.is_object()) return invalid("not a JSON object");
  auto text = [&](const char* key) -> std::optional<std::string> {
    auto it = json.find(key);
    if (it == json.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  AuditRecord record;
  auto time = text("time");
  auto parsed_time = time ? parse_audit_time(*time) : std::nullopt;
  if (!parsed_time) return invalid("'time' is missing or not RFC 3339 UTC with milliseconds");
  record.time = *parsed_time;
  auto component = text("component"), resource = text("resource"), permission = text("permission"),
       reason = text("reason");
  if (!component || !resource || !permission || !reason) {
    return invalid("'component', 'resource', 'permission' and 'reason' must be strings");
  }
  record.component = std::move(*component);
  record.resource = std::move(*resource);
  record.permission = std::move(*permission);
  record.reason = std::move(*reason);
  auto result = text("result");
  auto parsed_result = result ? parse_audit_result(*result) : std::nullopt;
  if (!parsed_result) return invalid("'result' must be \"granted\" or \"denied\"");
  record.result = *parsed_result;
  auto layer = text("layer");
  auto parsed_layer = layer ? parse_decision_layer(*layer) : std::nullopt;
  if (!parsed_layer) return invalid("'layer' is missing or unknown");
  record.layer = *parsed_layer;
  auto trust = json.find("trust");
  if (trust == json.end()) return invalid("'trust' is missing");
  if (!trust->is_null()) {
    auto level = trust->is_string() ? parse_trust_level(trust->get<std::string>()) : std::nullopt;
    if (!level) return invalid("'trust' is not a trust level");
    record.trust = *level;
  }
  if (auto dropped = json.find("dropped"); dropped != json.end()) {
    if (!dropped->is_number_unsigned()) return invalid("'dropped' is not a count");
    record.dropped = dropped->get<uint64_t>();
  }
  if (auto repeats = json.find("repeats"); repeats != json.end()) {
    if (!repeats->is_number_unsigned()) return invalid("'repeats' is not a count");
    record.repeats = repeats->get<uint64_t>();
  }
  return record;
}

namespace {

// The 1-second windows of the monotonic clock that repeat limits count in.
int64_t steady_second() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

// Whether the regular file open as `fd` (and named `path`) ends in a line
// without its newline: the last line of a crash or of a full disk.
bool ends_in_partial_line(int fd, const std::string& path) {
  struct stat mine {}, named {};
  if (::fstat(fd, &mine) != 0 || !S_ISREG(mine.st_mode) || mine.st_size == 0) return false;
  int reader = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (reader < 0) return false;
  char last = '\n';
  const bool partial = ::fstat(reader, &named) == 0 && same_file(mine, named) &&
                       ::pread(reader, &last, 1, mine.st_size - 1) == 1 && last != '\n';
  ::close(reader);
  return partial;
}

}  // namespace

// A bounded multi-producer queue (Vyukov's sequence-numbered ring): producers
// claim a slot with one compare-and-swap and never wait; the writer thread is
// the only consumer. A slot whose sequence equals its position is free; one
// whose sequence is position + 1 holds a record.
//
// Before a record reaches the ring, its source (the component, or "" for the
// host's own records) is looked up in a sharded table, for two rules that
// keep one component from pushing out the records of others:
// - repeated refusals: past repeat_limit denials of one permission by one
//   component in a second, the rest are counted and written as one summary
//   record a second (its `repeats` says how many it stands for);
// - the share: a source may hold at most kShareFactor times as many queued
//   records as there are free slots, so however many sources flood, slots
//   stay free for one that does not; a record refused by this rule is
//   counted and reported in an audit.overflow record naming the source.
struct AuditLog::Writer {
  struct Source;
  struct Slot {
    std::atomic<uint64_t> sequence{0};
    AuditRecord record;
    Source* source = nullptr;  // whose slot it is; none for records without a source entry
  };
  // The refusals of one permission by one component.
  struct Repeat {
    int64_t window = 0;        // the current window
    uint64_t in_window = 0;    // written one by one in it
    uint64_t coalesced = 0;    // counted since the last summary
    int64_t first_window = 0;  // of the first of those
    std::chrono::system_clock::time_point first{};
    AuditRecord last;  // the last of those
  };
  struct Source {
    std::atomic<uint64_t> queued{0};  // its records in the ring; the writer takes them off
    uint64_t dropped = 0;             // refused for its share since the last report
    int64_t dropped_window = 0;       // of the first of those
    int64_t active = 0;               // the last window it recorded in
    std::map<std::string, Repeat, std::less<>> repeats;  // by permission
  };
  struct Shard {
    std::mutex mutex;
    std::map<std::string, std::unique_ptr<Source>, std::less<>> sources;
  };
  static constexpr size_t kShards = 16;
  // A source may hold up to this many times the free slots: alone, four
  // fifths of the queue; with K sources flooding, at least 1/(4K + 1) of it
  // stays free for the others.
  static constexpr uint64_t kShareFactor = 4;
  static constexpr size_t kBatch = 256;

  Writer(int fd, std::string path, size_t capacity, AuditLogOptions options)
      : fd_(fd),
        has_file_(fd >= 0),
        path_(std::move(path)),
        slots_(std::make_unique<Slot[]>(capacity)),
        mask_(capacity - 1),
        subscriber_(std::move(options.subscriber)),
        repeat_limit_(options.repeat_limit),
        rotate_bytes_(options.rotate_bytes),
        keep_(options.keep) {
    // Only a regular file is rotated or followed: never a device, a pipe or
    // a terminal.
    struct stat st {};
    regular_ = fd_ >= 0 && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
    if (regular_) size_ = static_cast<uint64_t>(st.st_size);
    if (!regular_) rotate_bytes_ = 0;
    rotate_at_ = rotate_bytes_;
    // A log that ends in a partial line (a crash, a full disk) gets a newline
    // before the first record, so that the record starts a line of its own.
    torn_line_ = regular_ && ends_in_partial_line(fd_, path_);
    swept_window_ = steady_second();
    for (size_t i = 0; i < capacity; ++i) slots_[i].sequence.store(i, std::memory_order_relaxed);
    thread_ = std::thread([this] { run(); });
  }

  ~Writer() {
    stop_.store(true, std::memory_order_release);
    wake();
    thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }

  void push(AuditRecord&& record) noexcept {
    try {
      Shard& shard = shards_[std::hash<std::string>{}(record.component) % kShards];
      std::lock_guard lock(shard.mutex);
      auto it = shard.sources.find(record.component);
      if (it == shard.sources.end()) {
        it = shard.sources.emplace(record.component, std::make_unique<Source>()).first;
      }
      Source& source = *it->second;
      const int64_t now = steady_second();
      source.active = now;
      if (repeat_limit_ != 0 && record.result == AuditResult::Denied &&
          !record.component.empty() && record.layer != DecisionLayer::Audit) {
        auto r = source.repeats.find(record.permission);
        if (r == source.repeats.end()) r = source.repeats.emplace(record.permission, Repeat{}).first;
        Repeat& repeat = r->second;
        if (repeat.window != now) {
          repeat.window = now;
          repeat.in_window = 0;
        }
        if (repeat.in_window >= repeat_limit_) {
          coalesced_.fetch_add(1, std::memory_order_relaxed);
          if (repeat.coalesced++ == 0) {
            repeat.first = record.time;
            repeat.first_window = now;
            report_later();
          }
          repeat.last = std::move(record);
          return;
        }
        ++repeat.in_window;
      }
      // Its share: fewer queued records than kShareFactor times the free
      // slots. (No free slot at all is a full queue, counted as such below.)
      const uint64_t used =
          enqueue_.load(std::memory_order_relaxed) - dequeued_.load(std::memory_order_acquire);
      const uint64_t free = capacity() > used ? capacity() - used : 0;
      if (free != 0 && source.queued.load(std::memory_order_relaxed) >= kShareFactor * free) {
        share_dropped_.fetch_add(1, std::memory_order_relaxed);
        if (source.dropped++ == 0) {
          source.dropped_window = now;
          report_later();
        }
        return;
      }
      source.queued.fetch_add(1, std::memory_order_relaxed);
      if (!enqueue(std::move(record), &source)) {
        source.queued.fetch_sub(1, std::memory_order_relaxed);
      }
    } catch (...) {
      // No memory for the source's entry: the record is lost, and counted.
      dropped_.fetch_add(1, std::memory_order_seq_cst);
      wake_if_sleeping();
    }
  }

  void wake() noexcept {
    {
      std::lock_guard lock(sleep_mutex_);
      wake_epoch_.fetch_add(1, std::memory_order_release);
    }
    sleep_cv_.notify_one();
  }

  void flush() {
    if (std::this_thread::get_id() == thread_.get_id()) return;
    uint64_t generation = flush_requested_.fetch_add(1, std::memory_order_acq_rel) + 1;
    wake();
    std::unique_lock lock(progress_mutex_);
    progress_.wait(lock, [&] { return flush_done_ >= generation; });
  }

  void reopen() {
    reopen_requested_.store(true, std::memory_order_release);
    flush();
  }

  AuditStats stats() const {
    AuditStats s;
    s.recorded = enqueue_.load(std::memory_order_relaxed);
    s.written = written_.load(std::memory_order_relaxed);
    s.dropped = dropped_.load(std::memory_order_relaxed) +
                share_dropped_.load(std::memory_order_relaxed);
    s.overflow_reports = overflow_reports_.load(std::memory_order_relaxed);
    s.write_failures = write_failures_.load(std::memory_order_relaxed);
    s.subscriber_failures = subscriber_failures_.load(std::memory_order_relaxed);
    s.rotations = rotations_.load(std::memory_order_relaxed);
    s.coalesced = coalesced_.load(std::memory_order_relaxed);
    s.summaries = summaries_.load(std::memory_order_relaxed);
    s.reopens = reopens_.load(std::memory_order_relaxed);
    return s;
  }

  size_t capacity() const { return mask_ + 1; }

 private:
  // Claims a slot, or counts the record as dropped when the ring is full.
  bool enqueue(AuditRecord&& record, Source* source) noexcept {
    uint64_t position = enqueue_.load(std::memory_order_relaxed);
    bool queued = false;
    while (true) {
      Slot& slot = slots_[position & mask_];
      uint64_t sequence = slot.sequence.load(std::memory_order_acquire);
      if (sequence == position) {
        // seq_cst: pairs with sleep() (see below); on x86 a locked
        // instruction costs the same either way.
        if (enqueue_.compare_exchange_weak(position, position + 1, std::memory_order_seq_cst,
                                           std::memory_order_relaxed)) {
          slot.record = std::move(record);
          slot.source = source;
          slot.sequence.store(position + 1, std::memory_order_release);
          queued = true;
          break;
        }
      } else if (sequence < position) {
        dropped_.fetch_add(1, std::memory_order_seq_cst);
        break;
      } else {
        position = enqueue_.load(std::memory_order_relaxed);
      }
    }
    wake_if_sleeping();
    return queued;
  }

  // Pairs with sleep(): all four accesses are sequentially consistent, so
  // either the writer sees the new position (or drop, or pending report) or
  // this thread sees that the writer sleeps. (No fences: ThreadSanitizer
  // cannot model them.)
  void wake_if_sleeping() noexcept {
    if (sleeping_.load(std::memory_order_seq_cst)) wake();
  }

  // Something for the writer to report once its window has ended.
  void report_later() noexcept {
    pending_.fetch_add(1, std::memory_order_seq_cst);
    wake_if_sleeping();
  }

  void run() {
    std::vector<AuditRecord> batch;
    batch.reserve(kBatch + 1);
    while (true) {
      uint64_t generation = flush_requested_.load(std::memory_order_acquire);
      bool stopping = stop_.load(std::memory_order_acquire);
      if (reopen_requested_.exchange(false, std::memory_order_acq_rel)) open_again(true);
      // Everything claimed before the flush request (or the stop) is below end.
      uint64_t end = enqueue_.load(std::memory_order_acquire);
      while (dequeue_ < end) {
        batch.clear();
        while (dequeue_ < end && batch.size() < kBatch) batch.push_back(pop());
        write_or_count(batch);
      }
      const bool everything = generation != flush_done_local_ || stopping;
      batch.clear();
      sweep(everything, batch);
      uint64_t dropped = dropped_.load(std::memory_order_relaxed);
      if (dropped != dropped_reported_) {
        batch.push_back(overflow_record("", dropped - dropped_reported_,
                                        fmt::format("the queue of {} records was full",
                                                    capacity())));
        dropped_reported_ = dropped;
      }
      if (!batch.empty()) write_or_count(batch);
      if (everything) sync();
      flush_done_local_ = generation;
      {
        std::lock_guard lock(progress_mutex_);
        flush_done_ = generation;
      }
      progress_.notify_all();
      if (stopping) {
        if (enqueue_.load(std::memory_order_acquire) == dequeue_ &&
            dropped_.load(std::memory_order_relaxed) == dropped_reported_ &&
            pending_.load(std::memory_order_acquire) == 0) {
          return;
        }
        continue;
      }
      sleep(generation);
    }
  }

  // Waits for the producer that claimed the slot to fill it; it is between two
  // instructions, so a yield is enough.
  AuditRecord pop() {
    Slot& slot = slots_[dequeue_ & mask_];
    while (slot.sequence.load(std::memory_order_acquire) != dequeue_ + 1) {
      std::this_thread::yield();
    }
    AuditRecord record = std::move(slot.record);
    if (slot.source) slot.source->queued.fetch_sub(1, std::memory_order_relaxed);
    slot.source = nullptr;
    slot.sequence.store(dequeue_ + mask_ + 1, std::memory_order_release);
    ++dequeue_;
    dequeued_.store(dequeue_, std::memory_order_release);
    return record;
  }

  // Until there is work; while summaries or reports wait for their window
  // to end, until the next window at the latest.
  void sleep(uint64_t generation) {
    uint32_t epoch = wake_epoch_.load(std::memory_order_acquire);
    sleeping_.store(true, std::memory_order_seq_cst);
    bool work = enqueue_.load(std::memory_order_seq_cst) != dequeue_ ||
                dropped_.load(std::memory_order_seq_cst) != dropped_reported_ ||
                flush_requested_.load(std::memory_order_acquire) != generation ||
                reopen_requested_.load(std::memory_order_acquire) ||
                stop_.load(std::memory_order_acquire);
    if (!work) {
      const bool pending = pending_.load(std::memory_order_seq_cst) != 0;
      std::unique_lock lock(sleep_mutex_);
      auto woken = [&] { return wake_epoch_.load(std::memory_order_acquire) != epoch; };
      if (pending) {
        const auto next_window = std::chrono::steady_clock::time_point(
            std::chrono::seconds(steady_second() + 1));
        sleep_cv_.wait_until(lock, next_window, woken);
      } else {
        sleep_cv_.wait(lock, woken);
      }
    }
    sleeping_.store(false, std::memory_order_relaxed);
  }

  // The summaries of coalesced refusals and the reports of records refused
  // for a source's share whose window has ended (with `everything`, all of
  // them); entries idle for two windows are forgotten. At most once a window
  // unless `everything`.
  void sweep(bool everything, std::vector<AuditRecord>& out) {
    const int64_t now = steady_second();
    if (!everything && now == swept_window_) return;
    swept_window_ = now;
    for (auto& shard : shards_) {
      std::lock_guard lock(shard.mutex);
      for (auto it = shard.sources.begin(); it != shard.sources.end();) {
        Source& source = *it->second;
        if (source.dropped != 0 && (everything || source.dropped_window < now)) {
          out.push_back(overflow_record(
              it->first, source.dropped,
              fmt::format("{} held its share of the queue of {} records",
                          it->first.empty() ? std::string("the host") : it->first, capacity())));
          source.dropped = 0;
          pending_.fetch_sub(1, std::memory_order_acq_rel);
        }
        for (auto r = source.repeats.begin(); r != source.repeats.end();) {
          Repeat& repeat = r->second;
          if (repeat.coalesced != 0 && (everything || repeat.first_window < now)) {
            out.push_back(summary_record(repeat));
            repeat.coalesced = 0;
            pending_.fetch_sub(1, std::memory_order_acq_rel);
          }
          if (repeat.coalesced == 0 && repeat.window < now - 1) {
            r = source.repeats.erase(r);
          } else {
            ++r;
          }
        }
        if (source.queued.load(std::memory_order_relaxed) == 0 && source.dropped == 0 &&
            source.repeats.empty() && source.active < now - 1) {
          it = shard.sources.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  AuditRecord summary_record(Repeat& repeat) const {
    AuditRecord record = std::move(repeat.last);
    record.time = std::chrono::system_clock::now();
    record.repeats = repeat.coalesced;
    record.reason = fmt::format(
        "{} more denials of {} by {} since {}, counted here and not written one by one (more "
        "than {} a second); the last: {}",
        repeat.coalesced, record.permission, record.component, format_audit_time(repeat.first),
        repeat_limit_, record.reason);
    repeat.last = {};
    return record;
  }

  AuditRecord overflow_record(const std::string& component, uint64_t count,
                              std::string_view why) const {
    AuditRecord record;
    record.time = std::chrono::system_clock::now();
    record.component = component;
    record.resource = path_;
    record.permission = std::string(kAuditOverflowPermission);
    record.result = AuditResult::Denied;
    record.reason = fmt::format("{} audit records dropped: {}", count, why);
    record.layer = DecisionLayer::Audit;
    record.dropped = count;
    return record;
  }

  // Only memory exhaustion throws here; the records are then lost and counted.
  void write_or_count(const std::vector<AuditRecord>& batch) noexcept {
    try {
      follow_path();
      write(batch);
      if (rotate_bytes_ != 0 && regular_ && fd_ >= 0 && size_ >= rotate_at_) rotate();
    } catch (...) {
      write_failures_.fetch_add(batch.size(), std::memory_order_relaxed);
    }
  }

  std::string rotated_name(uint32_t n) const { return fmt::format("{}.{}", path_, n); }

  // The file this writer appends to must still be the one its path names: a
  // log removed (or replaced) under the host would otherwise take every
  // later record with it. One stat per batch; a file moved away by another
  // process's rotation is followed silently, as rotate() does.
  void follow_path() {
    if (!has_file_) return;
    if (fd_ < 0) return open_again(false);
    if (!regular_) return;
    struct stat mine {}, named {};
    if (::fstat(fd_, &mine) != 0) return;
    if (::stat(path_.c_str(), &named) == 0 && same_file(mine, named)) return;
    open_again(false);
  }

  // Opens the path again: on request (SIGHUP, reload), after the file was
  // removed or replaced, or after an earlier attempt failed. A new file
  // begins with an audit.reopen record that says why; a failure is counted
  // with the records it costs, and tried again at the next batch.
  void open_again(bool requested) {
    if (!has_file_) return;
    struct stat mine {}, named {};
    const bool had_file = fd_ >= 0 && ::fstat(fd_, &mine) == 0;
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      const int error = errno;
      report_failure(error, "cannot open it again");
      // Records for a file no name leads to are lost: stop writing there.
      const bool still_named = had_file && ::stat(path_.c_str(), &named) == 0 &&
                               same_file(mine, named);
      if (!still_named && fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
      }
      return;
    }
    if (::fstat(fd, &named) != 0) named = {};
    std::string why;
    if (!had_file) {
      why = "could not be opened before";
    } else if (!same_file(mine, named)) {
      bool rotated_away = false;
      for (uint32_t n = 1; n <= keep_ && rotate_bytes_ != 0; ++n) {
        struct stat old {};
        if (::stat(rotated_name(n).c_str(), &old) != 0) break;
        if (same_file(old, mine)) rotated_away = true;
      }
      if (!rotated_away) {
        why = mine.st_nlink == 0 ? "was removed" : "was moved away or replaced";
      }
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    regular_ = S_ISREG(named.st_mode);
    size_ = regular_ ? static_cast<uint64_t>(named.st_size) : 0;
    rotate_at_ = rotate_bytes_;
    torn_line_ = regular_ && ends_in_partial_line(fd_, path_);
    if (why.empty()) return;
    reopens_.fetch_add(1, std::memory_order_relaxed);
    AuditRecord record;
    record.time = std::chrono::system_clock::now();
    record.resource = path_;
    record.permission = std::string(kAuditReopenPermission);
    record.result = AuditResult::Granted;
    const uint64_t failures = write_failures_.load(std::memory_order_relaxed);
    record.reason = fmt::format(
        "the log {} {}; it continues in a new file{}{}", path_, why,
        requested ? ", opened again on request" : "",
        failures != 0 ? fmt::format(" ({} write failures so far)", failures) : std::string());
    record.layer = DecisionLayer::Audit;
    write({record});
  }

  // Moves the full file to <path>.1 and begins a new one. The lock on the
  // file's inode makes one process of those appending to it the one that
  // rotates; the others find the name taken by a new file and follow it.
  void rotate() {
    sync();
    if (::flock(fd_, LOCK_EX) != 0) return postpone_rotation(errno, "cannot lock it to rotate");
    struct stat mine {}, named {};
    const bool ours = ::fstat(fd_, &mine) == 0 && ::stat(path_.c_str(), &named) == 0 &&
                      same_file(mine, named);
    std::string note;
    if (ours) {
      const std::string oldest = rotated_name(keep_);
      if (::stat(oldest.c_str(), &named) == 0) {
        if (::unlink(oldest.c_str()) != 0) {
          ::flock(fd_, LOCK_UN);
          return postpone_rotation(errno, "cannot remove its oldest file to rotate");
        }
        note = fmt::format("; {} removed ({} bytes)", oldest, named.st_size);
      }
      for (uint32_t n = keep_ - 1; n >= 1; --n) {
        const std::string from = rotated_name(n);
        if (::rename(from.c_str(), rotated_name(n + 1).c_str()) != 0 && errno != ENOENT) {
          ::flock(fd_, LOCK_UN);
          return postpone_rotation(errno, "cannot rename a rotated file");
        }
      }
      if (::rename(path_.c_str(), rotated_name(1).c_str()) != 0) {
        ::flock(fd_, LOCK_UN);
        return postpone_rotation(errno, "cannot rename it to rotate");
      }
    }
    // Created here, or by whichever process rotated it.
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    ::flock(fd_, LOCK_UN);
    if (fd < 0) return postpone_rotation(errno, "cannot open a new file after rotating");
    ::close(fd_);
    fd_ = fd;
    size_ = ::fstat(fd_, &named) == 0 ? static_cast<uint64_t>(named.st_size) : 0;
    rotate_at_ = rotate_bytes_;
    torn_line_ = ends_in_partial_line(fd_, path_);
    if (!ours) return;
    rotations_.fetch_add(1, std::memory_order_relaxed);
    AuditRecord record;
    record.time = std::chrono::system_clock::now();
    record.resource = path_;
    record.permission = std::string(kAuditRotatePermission);
    record.result = AuditResult::Granted;
    record.reason = fmt::format("the log continues {} ({} bytes){}", rotated_name(1),
                                mine.st_size, note);
    record.layer = DecisionLayer::Audit;
    write({record});
  }

  // Keeps appending to the current file; the next attempt waits until it
  // has grown by another rotate_bytes.
  void postpone_rotation(int error, std::string_view what) {
    report_failure(error, what);
    write_failures_.fetch_add(1, std::memory_order_relaxed);
    rotate_at_ = size_ + rotate_bytes_;
  }

  // Appends the batch as one write where possible; a failed write counts every
  // record it did not complete. A partial line is ended by a newline before the
  // next line, so later records stay parseable.
  void write(const std::vector<AuditRecord>& batch) {
    buffer_.clear();
    line_ends_.clear();
    if (torn_line_) buffer_ += '\n';
    size_t prefix = buffer_.size();
    for (const auto& record : batch) {
      buffer_ += to_json_line(record);
      buffer_ += '\n';
      line_ends_.push_back(buffer_.size());
    }
    // Without a file (without_file) every record is delivered; with a file
    // that could not be opened again, none is written.
    size_t done = fd_ >= 0 ? append(buffer_) : has_file_ ? 0 : buffer_.size();
    size_ += done;
    // The file's own size: other processes may append to it, or have
    // rotated it away already (then it is past the limit and this writer
    // follows them to the new file at once).
    if (struct stat st {}; rotate_bytes_ != 0 && ::fstat(fd_, &st) == 0) {
      size_ = static_cast<uint64_t>(st.st_size);
    }
    if (fd_ >= 0 && done >= prefix) torn_line_ = false;
    size_t start = prefix;
    for (size_t i = 0; i < batch.size(); ++i) {
      const bool own = batch[i].layer == DecisionLayer::Audit;
      const bool overflow = own && batch[i].permission == kAuditOverflowPermission;
      const bool note = own && (batch[i].permission == kAuditRotatePermission ||
                                batch[i].permission == kAuditReopenPermission);
      if (line_ends_[i] <= done) {
        if (!note) {
          (overflow                  ? overflow_reports_
           : batch[i].repeats != 0 ? summaries_
                                     : written_)
              .fetch_add(1, std::memory_order_relaxed);
        }
      } else {
        write_failures_.fetch_add(1, std::memory_order_relaxed);
        if (done > start) torn_line_ = true;
      }
      if (subscriber_)
        deliver(batch[i], std::string_view(buffer_).substr(start, line_ends_[i] - start - 1));
      start = line_ends_[i];
    }
  }

  // Returns how many bytes of data reached the file.
  size_t append(std::string_view data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        report_failure(n < 0 ? errno : EIO, "write failed");
        break;
      }
      done += static_cast<size_t>(n);
    }
    return done;
  }

  void sync() {
    if (fd_ < 0) return;
    // EINVAL and EROFS: the file (a pipe, a device) cannot be synced.
    if (::fdatasync(fd_) != 0 && errno != EINVAL && errno != EROFS) {
      write_failures_.fetch_add(1, std::memory_order_relaxed);
      report_failure(errno, "sync failed");
    }
  }

  void deliver(const AuditRecord& record, std::string_view line) {
    try {
      subscriber_(record, line);
    } catch (...) {
      subscriber_failures_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void report_failure(int error, std::string_view what) {
    if (failure_reported_) return;
    failure_reported_ = true;
    fmt::print(stderr,
               "airssys-wasm: audit log {}: {}: {}; further failures are counted, not printed\n",
               path_, what, std::strerror(error));
  }

  int fd_;  // replaced by the writer thread when it rotates or opens the file again
  const bool has_file_;  // false: without_file()
  const std::string path_;
  std::unique_ptr<Slot[]> slots_;
  const uint64_t mask_;
  std::function<void(const AuditRecord&, std::string_view)> subscriber_;
  const uint32_t repeat_limit_;  // 0: every refusal is written
  std::array<Shard, kShards> shards_;

  alignas(64) std::atomic<uint64_t> enqueue_{0};
  alignas(64) std::atomic<uint64_t> dequeued_{0};  // published by the writer
  alignas(64) std::atomic<uint64_t> dropped_{0};   // refused by a full ring
  std::atomic<uint64_t> pending_{0};               // summaries and reports to write
  alignas(64) std::atomic<bool> sleeping_{false};
  std::atomic<uint32_t> wake_epoch_{0};
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reopen_requested_{false};
  std::atomic<uint64_t> flush_requested_{0};

  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> overflow_reports_{0};
  std::atomic<uint64_t> write_failures_{0};
  std::atomic<uint64_t> subscriber_failures_{0};
  std::atomic<uint64_t> rotations_{0};
  std::atomic<uint64_t> share_dropped_{0};
  std::atomic<uint64_t> coalesced_{0};
  std::atomic<uint64_t> summaries_{0};
  std::atomic<uint64_t> reopens_{0};

  std::mutex progress_mutex_;
  std::condition_variable progress_;
  uint64_t flush_done_ = 0;  // guarded by progress_mutex_

  // Writer thread only.
  uint64_t dequeue_ = 0;
  uint64_t dropped_reported_ = 0;
  uint64_t flush_done_local_ = 0;
  bool torn_line_ = false;
  int64_t swept_window_ = 0;
  bool regular_ = false;  // the current file is a regular file
  uint64_t size_ = 0;  // of the current file, as this writer knows it
  uint64_t rotate_bytes_;  // 0: no rotation (set once, before the writer thread starts)
  uint64_t rotate_at_ = 0;  // the size that rotates; moved on by a failed attempt
  const uint32_t keep_;
  bool failure_reported_ = false;
  std::string buffer_;
  std::vector<size_t> line_ends_;

  std::thread thread_;
};

namespace {

Result<size_t> slot_count(size_t capacity) {
  if (capacity == 0 || capacity > kMaxAuditCapacity) {
    return make_error(
        ErrorCode::InvalidArgument,
        fmt::format("audit queue capacity {} is outside 1-{}", capacity, kMaxAuditCapacity));
  }
  return std::bit_ceil(std::max<size_t>(capacity, 2));
}

}  // namespace

std::vector<std::filesystem::path> audit_log_files(const std::filesystem::path& file) {
  std::vector<std::pair<uint32_t, std::filesystem::path>> rotated;
  const std::string prefix = file.filename().string() + ".";
  std::error_code ec;
  const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    std::string_view digits = std::string_view(name).substr(prefix.size());
    uint32_t n = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (error != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
        digits[0] == '0' || n > kMaxAuditKeep) {
      continue;
    }
    rotated.emplace_back(n, file.has_parent_path() ? file.parent_path() / name
                                                   : std::filesystem::path(name));
  }
  std::sort(rotated.begin(), rotated.end(), [](const auto& a, const auto& b) {
    return a.first > b.first;
  });
  std::vector<std::filesystem::path> files;
  for (auto& [n, path] : rotated) files.push_back(std::move(path));
  if (std::filesystem::exists(file, ec)) files.push_back(file);
  return files;
}

Result<AuditReadReport> read_audit_log(const std::filesystem::path& file,
                                       const std::function<void(AuditRecord&&)>& each) {
  AuditReadReport report;
  for (const auto& path : audit_log_files(file)) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return make_error(ErrorCode::IoError,
                        fmt::format("cannot read the audit log {}: {}", path.string(),
                                    std::strerror(errno)));
    }
    size_t number = 0;
    for (std::string line; std::getline(in, line);) {
      ++number;
      // No newline before the end of the file: a line still being written
      // (or cut short); never damage, and never half a record.
      if (in.eof()) {
        if (!line.empty()) report.unfinished.push_back(path);
        break;
      }
      if (line.empty()) continue;
      auto record = parse_audit_line(line);
      if (!record) {
        if (report.damage.size() < 100) {
          report.damage.push_back({path, number, record.error().message});
        }
        ++report.damaged;
        continue;
      }
      ++report.records;
      each(std::move(*record));
    }
    if (in.bad()) {
      return make_error(ErrorCode::IoError,
                        fmt::format("cannot read the audit log {}", path.string()));
    }
  }
  return report;
}

Result<std::vector<AuditRecord>> read_audit_records(const std::filesystem::path& file) {
  std::vector<AuditRecord> records;
  AIRSSYS_TRY_ASSIGN(
      auto report, read_audit_log(file, [&](AuditRecord&& r) { records.push_back(std::move(r)); }));
  if (report.damaged != 0) {
    const auto& first = report.damage.front();
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("{}:{}: {} ({} damaged lines in all)", first.file.string(),
                                  first.line, first.error, report.damaged));
  }
  return records;
}

AuditLog::AuditLog(std::unique_ptr<Writer> writer) : writer_(std::move(writer)) {}
AuditLog::~AuditLog() = default;

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::filesystem::path& file,
                                                 AuditLogOptions options) {
  AIRSSYS_TRY_ASSIGN(auto slots, slot_count(options.capacity));
  if (options.rotate_bytes != 0 && options.rotate_bytes < kMinAuditRotateBytes) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("audit log rotation at {} bytes is under the minimum of {}",
                                  options.rotate_bytes, kMinAuditRotateBytes));
  }
  if (options.rotate_bytes != 0 && (options.keep < 1 || options.keep > kMaxAuditKeep)) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("audit log rotation keeps {} files; 1-{} are allowed",
                                  options.keep, kMaxAuditKeep));
  }
  int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(ErrorCode::IoError, fmt::format("cannot open audit log {}: {}", file.string(),
                                                      std::strerror(errno)));
  }
  std::unique_ptr<Writer> writer;
  try {
    writer = std::make_unique<Writer>(fd, file.string(), slots, std::move(options));
  } catch (const std::exception& e) {
    ::close(fd);  // a writer that was never constructed does not own it
    return make_error(ErrorCode::InternalError,
                      fmt::format("cannot start the audit writer: {}", e.what()));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(writer)));
}

Result<std::unique_ptr<AuditLog>> AuditLog::without_file(AuditLogOptions options) {
  AIRSSYS_TRY_ASSIGN(auto slots, slot_count(options.capacity));
  std::unique_ptr<Writer> writer;
  try {
    writer = std::make_unique<Writer>(-1, "(no file)", slots, std::move(options));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("cannot start the audit writer: {}", e.what()));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(writer)));
}

void AuditLog::record(AuditRecord record) noexcept {
  if (record.time == std::chrono::system_clock::time_point{}) {
    record.time = std::chrono::system_clock::now();
  }
  writer_->push(std::move(record));
}

void AuditLog::flush() {
  writer_->flush();
}

void AuditLog::reopen() {
  writer_->reopen();
}

AuditStats AuditLog::stats() const {
  return writer_->stats();
}

size_t AuditLog::capacity() const {
  return writer_->capacity();
}

}  // namespace airssys::wasm::security
