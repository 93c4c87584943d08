#include "airssys/wasm/security/audit.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace airssys::wasm::security {

std::string_view audit_result_name(AuditResult result) {
  return result == AuditResult::Granted ? "granted" : "denied";
}

std::optional<AuditResult> parse_audit_result(std::string_view text) {
  for (auto r : {AuditResult::Granted, AuditResult::Denied}) {
    if (audit_result_name(r) == text) return r;
  }
  return std::nullopt;
}

std::string_view decision_layer_name(DecisionLayer layer) {
  switch (layer) {
    case DecisionLayer::Component:
      return "component";
    case DecisionLayer::HostPolicy:
      return "host-policy";
    case DecisionLayer::Trust:
      return "trust";
    case DecisionLayer::Approval:
      return "approval";
    case DecisionLayer::Quota:
      return "quota";
    case DecisionLayer::Messaging:
      return "messaging";
    case DecisionLayer::Audit:
      return "audit";
  }
  return "?";
}

std::optional<DecisionLayer> parse_decision_layer(std::string_view text) {
  for (auto l : {DecisionLayer::Component, DecisionLayer::HostPolicy, DecisionLayer::Trust,
                 DecisionLayer::Approval, DecisionLayer::Quota, DecisionLayer::Messaging,
                 DecisionLayer::Audit}) {
    if (decision_layer_name(l) == text) return l;
  }
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
  return record;
}

// A bounded multi-producer queue (Vyukov's sequence-numbered ring): producers
// claim a slot with one compare-and-swap and never wait; the writer thread is
// the only consumer. A slot whose sequence equals its position is free; one
// whose sequence is position + 1 holds a record.
struct AuditLog::Writer {
  struct Slot {
    std::atomic<uint64_t> sequence{0};
    AuditRecord record;
  };

  static constexpr size_t kBatch = 256;

  Writer(int fd, std::string path, size_t capacity, AuditLogOptions options)
      : fd_(fd),
        path_(std::move(path)),
        slots_(std::make_unique<Slot[]>(capacity)),
        mask_(capacity - 1),
        subscriber_(std::move(options.subscriber)),
        rotate_bytes_(options.rotate_bytes),
        keep_(options.keep) {
    // Only a regular file is rotated: never a device, a pipe or a terminal.
    struct stat st {};
    const bool regular = fd_ >= 0 && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
    if (regular) size_ = static_cast<uint64_t>(st.st_size);
    if (!regular) rotate_bytes_ = 0;
    rotate_at_ = rotate_bytes_;
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
    uint64_t position = enqueue_.load(std::memory_order_relaxed);
    while (true) {
      Slot& slot = slots_[position & mask_];
      uint64_t sequence = slot.sequence.load(std::memory_order_acquire);
      if (sequence == position) {
        // seq_cst: pairs with sleep() (see below); on x86 a locked
        // instruction costs the same either way.
        if (enqueue_.compare_exchange_weak(position, position + 1, std::memory_order_seq_cst,
                                           std::memory_order_relaxed)) {
          slot.record = std::move(record);
          slot.sequence.store(position + 1, std::memory_order_release);
          break;
        }
      } else if (sequence < position) {
        dropped_.fetch_add(1, std::memory_order_seq_cst);
        break;
      } else {
        position = enqueue_.load(std::memory_order_relaxed);
      }
    }
    // Pairs with sleep(): all four accesses are sequentially consistent, so
    // either the writer sees the new position (or drop) or this thread sees
    // that the writer sleeps. (No fences: ThreadSanitizer cannot model them.)
    if (sleeping_.load(std::memory_order_seq_cst)) wake();
  }

  void wake() noexcept {
    wake_epoch_.fetch_add(1, std::memory_order_release);
    wake_epoch_.notify_one();
  }

  void flush() {
    if (std::this_thread::get_id() == thread_.get_id()) return;
    uint64_t generation = flush_requested_.fetch_add(1, std::memory_order_acq_rel) + 1;
    wake();
    std::unique_lock lock(progress_mutex_);
    progress_.wait(lock, [&] { return flush_done_ >= generation; });
  }

  AuditStats stats() const {
    AuditStats s;
    s.recorded = enqueue_.load(std::memory_order_relaxed);
    s.written = written_.load(std::memory_order_relaxed);
    s.dropped = dropped_.load(std::memory_order_relaxed);
    s.overflow_reports = overflow_reports_.load(std::memory_order_relaxed);
    s.write_failures = write_failures_.load(std::memory_order_relaxed);
    s.subscriber_failures = subscriber_failures_.load(std::memory_order_relaxed);
    s.rotations = rotations_.load(std::memory_order_relaxed);
    return s;
  }

  size_t capacity() const { return mask_ + 1; }

 private:
  void run() {
    std::vector<AuditRecord> batch;
    batch.reserve(kBatch + 1);
    while (true) {
      uint64_t generation = flush_requested_.load(std::memory_order_acquire);
      bool stopping = stop_.load(std::memory_order_acquire);
      // Everything claimed before the flush request (or the stop) is below end.
      uint64_t end = enqueue_.load(std::memory_order_acquire);
      while (dequeue_ < end) {
        batch.clear();
        while (dequeue_ < end && batch.size() < kBatch) batch.push_back(pop());
        write_or_count(batch);
      }
      uint64_t dropped = dropped_.load(std::memory_order_relaxed);
      if (dropped != dropped_reported_) {
        batch.clear();
        batch.push_back(overflow_record(dropped - dropped_reported_));
        dropped_reported_ = dropped;
        write_or_count(batch);
      }
      if (generation != flush_done_local_ || stopping) sync();
      flush_done_local_ = generation;
      {
        std::lock_guard lock(progress_mutex_);
        flush_done_ = generation;
      }
      progress_.notify_all();
      if (stopping) {
        if (enqueue_.load(std::memory_order_acquire) == dequeue_ &&
            dropped_.load(std::memory_order_relaxed) == dropped_reported_) {
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
    slot.sequence.store(dequeue_ + mask_ + 1, std::memory_order_release);
    ++dequeue_;
    return record;
  }

  void sleep(uint64_t generation) {
    uint32_t epoch = wake_epoch_.load(std::memory_order_acquire);
    sleeping_.store(true, std::memory_order_seq_cst);
    bool work = enqueue_.load(std::memory_order_seq_cst) != dequeue_ ||
                dropped_.load(std::memory_order_seq_cst) != dropped_reported_ ||
                flush_requested_.load(std::memory_order_acquire) != generation ||
                stop_.load(std::memory_order_acquire);
    if (!work) wake_epoch_.wait(epoch, std::memory_order_acquire);
    sleeping_.store(false, std::memory_order_relaxed);
  }

  AuditRecord overflow_record(uint64_t count) const {
    AuditRecord record;
    record.time = std::chrono::system_clock::now();
    record.resource = path_;
    record.permission = std::string(kAuditOverflowPermission);
    record.result = AuditResult::Denied;
    record.reason = fmt::format("{} audit records dropped: the queue of {} records was full", count,
                                capacity());
    record.layer = DecisionLayer::Audit;
    record.dropped = count;
    return record;
  }

  // Only memory exhaustion throws here; the records are then lost and counted.
  void write_or_count(const std::vector<AuditRecord>& batch) noexcept {
    try {
      write(batch);
      if (rotate_bytes_ != 0 && size_ >= rotate_at_) rotate();
    } catch (...) {
      write_failures_.fetch_add(batch.size(), std::memory_order_relaxed);
    }
  }

  std::string rotated_name(uint32_t n) const { return fmt::format("{}.{}", path_, n); }

  // Moves the full file to <path>.1 and begins a new one. The lock on the
  // file's inode makes one process of those appending to it the one that
  // rotates; the others find the name taken by a new file and follow it.
  void rotate() {
    sync();
    if (::flock(fd_, LOCK_EX) != 0) return postpone_rotation(errno, "cannot lock it to rotate");
    struct stat mine {}, named {};
    const bool ours = ::fstat(fd_, &mine) == 0 && ::stat(path_.c_str(), &named) == 0 &&
                      mine.st_ino == named.st_ino && mine.st_dev == named.st_dev;
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
    size_t done = fd_ >= 0 ? append(buffer_) : buffer_.size();
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
      const bool rotation = own && batch[i].permission == kAuditRotatePermission;
      if (line_ends_[i] <= done) {
        if (!rotation) (overflow ? overflow_reports_ : written_).fetch_add(1, std::memory_order_relaxed);
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

  int fd_;  // replaced by the writer thread when it rotates
  const std::string path_;
  std::unique_ptr<Slot[]> slots_;
  const uint64_t mask_;
  std::function<void(const AuditRecord&, std::string_view)> subscriber_;

  alignas(64) std::atomic<uint64_t> enqueue_{0};
  alignas(64) std::atomic<uint64_t> dropped_{0};
  alignas(64) std::atomic<bool> sleeping_{false};
  std::atomic<uint32_t> wake_epoch_{0};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> flush_requested_{0};

  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> overflow_reports_{0};
  std::atomic<uint64_t> write_failures_{0};
  std::atomic<uint64_t> subscriber_failures_{0};
  std::atomic<uint64_t> rotations_{0};

  std::mutex progress_mutex_;
  std::condition_variable progress_;
  uint64_t flush_done_ = 0;  // guarded by progress_mutex_

  // Writer thread only.
  uint64_t dequeue_ = 0;
  uint64_t dropped_reported_ = 0;
  uint64_t flush_done_local_ = 0;
  bool torn_line_ = false;
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

AuditLog::AuditLog(std::unique_ptr<Writer> writer) : writer_(std::move(writer)) {}
AuditLog::~AuditLog() = default;

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::filesystem::path& file,
                                                 AuditLogOptions options) {
  auto slots = slot_count(options.capacity);
  if (!slots) return std::unexpected(slots.error());
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
    writer = std::make_unique<Writer>(fd, file.string(), *slots, std::move(options));
  } catch (const std::exception& e) {
    ::close(fd);  // a writer that was never constructed does not own it
    return make_error(ErrorCode::InternalError,
                      fmt::format("cannot start the audit writer: {}", e.what()));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(writer)));
}

Result<std::unique_ptr<AuditLog>> AuditLog::without_file(AuditLogOptions options) {
  auto slots = slot_count(options.capacity);
  if (!slots) return std::unexpected(slots.error());
  std::unique_ptr<Writer> writer;
  try {
    writer = std::make_unique<Writer>(-1, "(no file)", *slots, std::move(options));
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

AuditStats AuditLog::stats() const {
  return writer_->stats();
}

size_t AuditLog::capacity() const {
  return writer_->capacity();
}

}  // namespace airssys::wasm::security
