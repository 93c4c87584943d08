#pragma once
// The audit trail: one JSON line per security decision, written off the hot
// path. Recording only enqueues; a writer thread appends to the file. A full
// queue or a failing disk is counted and reported, and never changes the
// decision that was recorded.
//
// Example:
//   auto log = AuditLog::open("/var/lib/airssys/audit.jsonl");
//   (*log)->record({.component = "order-validator", .resource = "/etc/passwd",
//                   .permission = "filesystem.read", .result = AuditResult::Denied,
//                   .trust = TrustLevel::Trusted, .reason = "no grant matches",
//                   .layer = DecisionLayer::Component});

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::security {

enum class AuditResult : uint8_t { Granted, Denied };

// Which layer made the decision.
enum class DecisionLayer : uint8_t {
  Component,   // the component's own grants
  HostPolicy,  // the operator's host-wide policy
  Trust,       // trust level, signature, dev mode
  Approval,    // the approval queue
  Quota,       // a resource quota
  Messaging,   // message-passing rules (receiver acceptance, payload size)
  Audit,       // the audit log itself (overflow)
};

[[nodiscard]] std::string_view audit_result_name(AuditResult result);  // "granted", "denied"
[[nodiscard]] std::optional<AuditResult> parse_audit_result(std::string_view text);
[[nodiscard]] std::string_view decision_layer_name(DecisionLayer layer);  // "host-policy"
[[nodiscard]] std::optional<DecisionLayer> parse_decision_layer(std::string_view text);

// The permission of the records the log writes about its own overflow.
inline constexpr std::string_view kAuditOverflowPermission = "audit.overflow";
// What a record carries that begins a new file after the old one was removed,
// moved away or could not be written to.
inline constexpr std::string_view kAuditReopenPermission = "audit.reopen";

struct AuditRecord {
  std::chrono::system_clock::time_point time{};  // left at the epoch, record() stamps it
  std::string component;
  std::string resource;    // the path, host:port, key, target or topic that was asked for
  std::string permission;  // "filesystem.read", or an action such as "trust.dev-mode"
  AuditResult result = AuditResult::Denied;
  std::optional<TrustLevel> trust;  // absent when no component is involved
  std::string reason;
  DecisionLayer layer = DecisionLayer::Component;
  uint64_t dropped = 0;  // audit.overflow records only: records the full queue refused
  // A summary of refusals counted and not written one by one (over the
  // repeat limit): how many refusals it stands for; 0 for any other record.
  uint64_t repeats = 0;

  bool operator==(const AuditRecord&) const = default;
};

// RFC 3339 in UTC with milliseconds: "2024-05-01T12:34:56.789Z".
[[nodiscard]] std::string format_audit_time(std::chrono::system_clock::time_point time);
// The inverse of format_audit_time; nullopt for any other text, or a year
// outside 1970-2200.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> parse_audit_time(
    std::string_view text);

// One JSON object without the newline: time, component, resource, permission,
// result, trust (null when absent), reason, layer, dropped for overflow
// records and repeats for summaries of repeated refusals. Bytes that are not UTF-8 are replaced, so this never throws on them.
[[nodiscard]] std::string to_json_line(const AuditRecord& record);

// The inverse of to_json_line (time at millisecond precision); InvalidArgument
// when the line is not an audit record.
[[nodiscard]] Result<AuditRecord> parse_audit_line(std::string_view line);

// The files of a log, oldest first: the rotated ones (<file>.N, highest N
// first) and then the file itself, each only when it exists.
[[nodiscard]] std::vector<std::filesystem::path> audit_log_files(const std::filesystem::path& file);

// A live log, as a reader sees it: complete lines, and perhaps at the end of
// a file a line whose newline the writer has not appended yet.
struct AuditLogDamage {
  std::filesystem::path file;
  size_t line = 0;  // from 1
  std::string error;
};

struct AuditReadReport {
  uint64_t records = 0;                 // records read (each given to the callback)
  uint64_t damaged = 0;                 // complete lines that are not audit records
  std::vector<AuditLogDamage> damage;   // the first 100 of them
  // Files whose last line has no newline yet: a record being written, or
  // one cut short by a crash. It is left out and is not damage; once a
  // writer appends to the file again, a cut line is ended and becomes a
  // damaged line.
  std::vector<std::filesystem::path> unfinished;
};

// Reads every file of the log (audit_log_files order, oldest first), line by
// line, and gives each record to `each`; safe while a writer appends. IoError
// when a file cannot be read; a damaged line is counted, never skipped
// silently.
[[nodiscard]] Result<AuditReadReport> read_audit_log(
    const std::filesystem::path& file, const std::function<void(AuditRecord&&)>& each);

// Every record of the log, for tests and small logs; InvalidArgument naming
// the first damaged line when one is not an audit record. A last line still
// being written is left out. Tests that read a live log use this.
[[nodiscard]] Result<std::vector<AuditRecord>> read_audit_records(
    const std::filesystem::path& file);

struct AuditStats {
  uint64_t recorded = 0;             // accepted into the queue
  uint64_t written = 0;              // accepted records written (delivered, without a file)
  uint64_t dropped = 0;              // refused: the queue was full, or the source held its share
  uint64_t overflow_reports = 0;     // audit.overflow records written
  uint64_t write_failures = 0;       // records that could not be appended, plus failed syncs
  uint64_t subscriber_failures = 0;  // subscriber calls that threw
  uint64_t rotations = 0;            // files rotated by this log (each begins with audit.rotate)
  uint64_t coalesced = 0;            // refusals over the repeat limit, counted in summaries
  uint64_t summaries = 0;            // summary records written (each with its repeats)
  uint64_t reopens = 0;              // new files begun after the file was removed or moved away
};

// What a rotation's first record carries as its permission.
inline constexpr std::string_view kAuditRotatePermission = "audit.rotate";

inline constexpr uint64_t kDefaultAuditRotateBytes = uint64_t{64} << 20;  // 64 MiB
inline constexpr uint64_t kMinAuditRotateBytes = uint64_t{64} << 10;      // 64 KiB
inline constexpr uint32_t kDefaultAuditKeep = 8;
inline constexpr uint32_t kMaxAuditKeep = 999;
inline constexpr uint32_t kDefaultAuditRepeatLimit = 100;

struct AuditLogOptions {
  // Queue slots, rounded up to a power of two; each holds one record.
  size_t capacity = 16384;
  // Called on the writer thread for every record and its JSON line, after the
  // attempt to append it; for tests and live audit streams. It must not call
  // flush() (that returns at once on the writer thread) and should be quick.
  std::function<void(const AuditRecord& record, std::string_view line)> subscriber = {};
  // Rotation, so that the log cannot fill the disk: once the file holds
  // rotate_bytes or more, it becomes <file>.1 (older ones move up to
  // <file>.<keep>, and the one past keep is removed), and a new file begins
  // with an audit.rotate record that says so. 0: the file only grows.
  // Several processes may append to one log; one of them rotates it, the
  // others follow to the new file.
  uint64_t rotate_bytes = kDefaultAuditRotateBytes;
  uint32_t keep = kDefaultAuditKeep;
  // Refusals of one permission by one component written one by one in each
  // second of the monotonic clock; the rest of that second are counted and
  // written as one summary record (`repeats` = how many), at the latest when
  // the second has ended (or at flush()). 0: every refusal is written.
  uint32_t repeat_limit = kDefaultAuditRepeatLimit;
};

inline constexpr size_t kMaxAuditCapacity = size_t{1} << 24;

class AuditLog {
 public:
  // Appends to file (opened O_APPEND, created with mode 0600). IoError when the
  // file cannot be opened for writing; InvalidArgument for a capacity of 0 or
  // above kMaxAuditCapacity, a rotate_bytes under kMinAuditRotateBytes (other
  // than 0), or a keep outside 1-kMaxAuditKeep when rotating.
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> open(const std::filesystem::path& file,
                                                              AuditLogOptions options = {});
  // No file: records go to the subscriber only.
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> without_file(AuditLogOptions options);

  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  // Writes everything still queued, then stops the writer.
  ~AuditLog();

  // Enqueues and returns; never blocks on I/O, never throws. A refusal over
  // the repeat limit is counted for its summary record. No source (the
  // record's component, or the host for records without one) may hold more
  // than four times as many queued records as there are free slots (alone,
  // four fifths of the queue), so a flood of one never pushes out the
  // records of another: a record refused for its source's share, or
  // by a full queue, is counted as dropped and an audit.overflow record (that
  // names the source) follows.
  void record(AuditRecord record) noexcept;

  // Returns once every record accepted before the call, the overflow report
  // for every drop and the summary of every refusal counted before it, is
  // written and the file synced.
  void flush();

  // Opens the file again at its path, then flushes (SIGHUP and reload call
  // it, for log rotation by other tools). The writer also checks before each
  // batch that the path still names its file, and opens it again when it
  // was removed or moved away; the new file begins with an audit.reopen
  // record. A file that cannot be opened costs the records meant for it,
  // counted as write failures, and is tried again at the next batch.
  void reopen();

  [[nodiscard]] AuditStats stats() const;
  [[nodiscard]] size_t capacity() const;

 private:
  struct Writer;
  explicit AuditLog(std::unique_ptr<Writer> writer);
  std::unique_ptr<Writer> writer_;
};

}  // namespace airssys::wasm::security
