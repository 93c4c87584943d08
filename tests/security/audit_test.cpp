// Longer than 900 lines: the writer's invariants (ring, shares, rotation,
// reopening) are tested together, as they are implemented together.
#include "airssys/wasm/security/audit.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <latch>
#include <mutex>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "../support/temp_dir.hpp"

namespace airssys::wasm::security {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

AuditRecord denial(std::string resource) {
  return AuditRecord{.component = "order-validator",
                     .resource = std::move(resource),
                     .permission = "filesystem.read",
                     .result = AuditResult::Denied,
                     .trust = TrustLevel::Trusted,
                     .reason = "no grant matches",
                     .layer = DecisionLayer::Component};
}

class AuditLogTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    path_ = dir_ / "audit.jsonl";
  }

  std::unique_ptr<AuditLog> open(AuditLogOptions options = {}) {
    auto log = AuditLog::open(path_, std::move(options));
    EXPECT_TRUE(log) << log.error().message;
    return log ? std::move(*log) : nullptr;
  }

  airssys::wasm::test::TempDir tmp_{"audit"};
  std::filesystem::path dir_;
  std::filesystem::path path_;
};

TEST(AuditFormat, TimeIsRfc3339UtcWithMilliseconds) {
  using namespace std::chrono;
  auto t = sys_days{year(2024) / 5 / 1} + 12h + 34min + 56s + 789ms + 999us;
  EXPECT_EQ(format_audit_time(t), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(format_audit_time(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_audit_time(sys_days{year(1969) / 12 / 31} + 23h + 59min + 59s + 5ms),
            "1969-12-31T23:59:59.005Z");
}

TEST(AuditFormat, LinesRoundTrip) {
  using namespace std::chrono;
  AuditRecord record = denial("/etc/passwd");
  record.time = sys_days{year(2024) / 5 / 1} + 1h + 2min + 3s + 4ms;
  std::string line = to_json_line(record);
  EXPECT_EQ(line, R"({"time":"2024-05-01T01:02:03.004Z","component":"order-validator",)"
                  R"("resource":"/etc/passwd","permission":"filesystem.read","result":"denied",)"
                  R"("trust":"trusted","reason":"no grant matches","layer":"component"})");
  auto parsed = parse_audit_line(line);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, record);

  AuditRecord approval{.component = "x",
                       .resource = "",
                       .permission = "approval.approve",
                       .result = AuditResult::Granted,
                       .trust = std::nullopt,
                       .reason = "approved by operator",
                       .layer = DecisionLayer::Approval};
  approval.time = record.time;
  line = to_json_line(approval);
  EXPECT_NE(line.find(R"("trust":null)"), std::string::npos);
  EXPECT_EQ(parse_audit_line(line).value(), approval);
}

TEST(AuditFormat, BadLinesAreRefused) {
  for (
      std::string_view line :
      {"", "[]", "{}", "not json",
       R"({"time":"2024-05-01 01:02:03","component":"a","resource":"","permission":"p","result":"denied","trust":null,"reason":"","layer":"component"})",
       R"({"time":"2024-05-01T01:02:03.004Z","component":"a","resource":"","permission":"p","result":"maybe","trust":null,"reason":"","layer":"component"})",
       R"({"time":"2024-05-01T01:02:03.004Z","component":"a","resource":"","permission":"p","result":"denied","trust":"root","reason":"","layer":"component"})",
       R"({"time":"2024-05-01T01:02:03.004Z","component":"a","resource":"","permission":"p","result":"denied","reason":"","layer":"component"})",
       R"({"time":"2024-05-01T01:02:03.004Z","component":"a","resource":"","permission":"p","result":"denied","trust":null,"reason":"","layer":"kernel"})",
       R"({"time":"2024-13-01T01:02:03.004Z","component":"a","resource":"","permission":"p","result":"denied","trust":null,"reason":"","layer":"component"})"}) {
    auto parsed = parse_audit_line(line);
    ASSERT_FALSE(parsed) << line;
    EXPECT_EQ(parsed.error().code, ErrorCode::InvalidArgument);
  }
}

TEST(AuditFormat, BytesThatAreNotUtf8AreReplacedNotThrown) {
  AuditRecord record = denial(std::string("/tmp/\xff\xfe-name\0x", 14));
  std::string line = to_json_line(record);
  auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["resource"].get<std::string>().substr(0, 5), "/tmp/");
  EXPECT_NE(json["resource"].get<std::string>().find("-name"), std::string::npos);
}

TEST(AuditFormat, LayerAndResultNamesRoundTrip) {
  for (auto layer : {DecisionLayer::Component, DecisionLayer::HostPolicy, DecisionLayer::Trust,
                     DecisionLayer::Approval, DecisionLayer::Quota, DecisionLayer::Messaging,
                     DecisionLayer::Audit}) {
    EXPECT_EQ(parse_decision_layer(decision_layer_name(layer)), layer);
  }
  EXPECT_EQ(decision_layer_name(DecisionLayer::HostPolicy), "host-policy");
  EXPECT_EQ(parse_audit_result("granted"), AuditResult::Granted);
  EXPECT_EQ(parse_audit_result("denied"), AuditResult::Denied);
  EXPECT_FALSE(parse_audit_result("Denied"));
}

TEST_F(AuditLogTest, RecordsLandAsJsonLinesWithEveryField) {
  auto log = open();
  ASSERT_TRUE(log);
  static_assert(std::is_nothrow_invocable_v<decltype(&AuditLog::record), AuditLog&, AuditRecord&&>);
  auto before = std::chrono::system_clock::now();
  log->record(denial("/etc/passwd"));
  log->record(AuditRecord{.component = "order-validator",
                          .resource = "api.example.com:443",
                          .permission = "network.connect",
                          .result = AuditResult::Granted,
                          .trust = TrustLevel::DevMode,
                          .reason = "dev mode bypasses checks",
                          .layer = DecisionLayer::Trust});
  log->flush();
  auto after = std::chrono::system_clock::now();

  auto lines = read_lines(path_);
  ASSERT_EQ(lines.size(), 2u);
  const std::regex time_format(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  std::set<std::string> expected_keys = {"time",   "component", "resource", "permission",
                                         "result", "trust",     "reason",   "layer"};
  for (const auto& line : lines) {
    auto json = nlohmann::json::parse(line);
    std::set<std::string> keys;
    for (auto& [key, value] : json.items()) keys.insert(key);
    EXPECT_EQ(keys, expected_keys) << line;
    EXPECT_TRUE(std::regex_match(json["time"].get<std::string>(), time_format)) << line;
    auto record = parse_audit_line(line);
    ASSERT_TRUE(record) << record.error().message;
    EXPECT_GE(record->time, std::chrono::floor<std::chrono::milliseconds>(before));
    EXPECT_LE(record->time, after);
  }
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["component"], "order-validator");
  EXPECT_EQ(first["resource"], "/etc/passwd");
  EXPECT_EQ(first["permission"], "filesystem.read");
  EXPECT_EQ(first["result"], "denied");
  EXPECT_EQ(first["trust"], "trusted");
  EXPECT_EQ(first["reason"], "no grant matches");
  EXPECT_EQ(first["layer"], "component");
  auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["result"], "granted");
  EXPECT_EQ(second["trust"], "dev-mode");
  EXPECT_EQ(second["layer"], "trust");

  auto stats = log->stats();
  EXPECT_EQ(stats.recorded, 2u);
  EXPECT_EQ(stats.written, 2u);
  EXPECT_EQ(stats.dropped, 0u);
  EXPECT_EQ(stats.write_failures, 0u);
}

TEST_F(AuditLogTest, TheFileIsCreated0600AndAppendedTo) {
  {
    auto log = open();
    log->record(denial("/a"));
  }
  struct stat info {};
  ASSERT_EQ(::stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  {
    auto log = open();
    log->record(denial("/b"));
  }
  auto lines = read_lines(path_);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(parse_audit_line(lines[0])->resource, "/a");
  EXPECT_EQ(parse_audit_line(lines[1])->resource, "/b");
}

TEST_F(AuditLogTest, ConcurrentWritersLoseNothingUnderCapacity) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5000;
  auto log = open({.capacity = kThreads * kPerThread, .repeat_limit = 0});
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        AuditRecord record = denial(std::to_string(t) + ":" + std::to_string(i));
        record.component = "writer-" + std::to_string(t);
        log->record(std::move(record));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  log->flush();
  auto stats = log->stats();
  EXPECT_EQ(stats.recorded, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(stats.written, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(stats.dropped, 0u);
  EXPECT_EQ(stats.overflow_reports, 0u);

  auto lines = read_lines(path_);
  ASSERT_EQ(lines.size(), size_t{kThreads * kPerThread});
  std::vector<int> next(kThreads, 0);
  const std::regex resource_field(R"re("resource":"(\d+):(\d+)")re");
  for (size_t n = 0; n < lines.size(); ++n) {
    // Full parsing is slow in debug builds; a sample shows the lines are records.
    if (n % 97 == 0) {
      ASSERT_TRUE(parse_audit_line(lines[n])) << lines[n];
    }
    std::smatch match;
    ASSERT_TRUE(std::regex_search(lines[n], match, resource_field)) << lines[n];
    int t = std::stoi(match[1]);
    int i = std::stoi(match[2]);
    // Each thread's records arrive complete and in the order it recorded them.
    ASSERT_EQ(i, next[t]) << lines[n];
    ++next[t];
  }
  EXPECT_EQ(next, std::vector<int>(kThreads, kPerThread));
}

TEST_F(AuditLogTest, OverflowIsCountedAndReportedByAnOverflowRecord) {
  std::latch writer_blocked(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<AuditRecord> seen;
  bool first = true;
  auto log = open({.capacity = 4, .subscriber = [&](const AuditRecord& r, std::string_view) {
                     seen.push_back(r);
                     if (first) {
                       first = false;
                       writer_blocked.count_down();
                       released.wait();
                     }
                   }});
  ASSERT_EQ(log->capacity(), 4u);
  log->record(denial("/first"));
  writer_blocked.wait();
  // The writer holds no slot now: four records fit, the rest are refused.
  // (Each from a component of its own: none of them holds more than its share.)
  for (int i = 0; i < 100; ++i) {
    AuditRecord record = denial("/burst/" + std::to_string(i));
    record.component = "burst-" + std::to_string(i);
    log->record(std::move(record));
  }
  auto during = log->stats();
  EXPECT_EQ(during.recorded, 5u);
  EXPECT_EQ(during.dropped, 96u);
  release.set_value();
  log->flush();

  auto stats = log->stats();
  EXPECT_EQ(stats.written, 5u);
  EXPECT_EQ(stats.dropped, 96u);
  EXPECT_EQ(stats.overflow_reports, 1u);
  // The overflow record is written as soon as the writer is free again, so it
  // may come before records that were queued before the drops.
  auto lines = read_lines(path_);
  ASSERT_EQ(lines.size(), 6u);
  auto overflow_line = std::find_if(lines.begin(), lines.end(), [](const std::string& line) {
    return line.find("audit.overflow") != std::string::npos;
  });
  ASSERT_NE(overflow_line, lines.end());
  auto overflow = nlohmann::json::parse(*overflow_line);
  EXPECT_EQ(overflow["permission"], "audit.overflow");
  EXPECT_EQ(overflow["dropped"], 96);
  EXPECT_EQ(overflow["result"], "denied");
  EXPECT_EQ(overflow["layer"], "audit");
  EXPECT_EQ(overflow["resource"], path_.string());
  EXPECT_NE(overflow["reason"].get<std::string>().find("96 audit records dropped"),
            std::string::npos);
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(std::count_if(seen.begin(), seen.end(),
                          [](const AuditRecord& r) {
                            return r.permission == kAuditOverflowPermission && r.dropped == 96;
                          }),
            1);
  EXPECT_EQ(std::count_if(seen.begin(), seen.end(),
                          [](const AuditRecord& r) {
                            return r.resource == "/first" || r.resource.starts_with("/burst/");
                          }),
            5);

  // Without new drops there is no new overflow record.
  log->record(denial("/after"));
  log->flush();
  EXPECT_EQ(log->stats().overflow_reports, 1u);
  EXPECT_EQ(read_lines(path_).size(), 7u);
}

TEST_F(AuditLogTest, FlushWaitsForEverythingRecordedBefore) {
  auto log = open();
  log->flush();  // nothing recorded: returns at once
  for (int i = 0; i < 50; ++i) {
    log->record(denial("/f/" + std::to_string(i)));
    log->flush();
    auto lines = read_lines(path_);
    ASSERT_EQ(lines.size(), size_t(i + 1));
    EXPECT_EQ(parse_audit_line(lines.back())->resource, "/f/" + std::to_string(i));
  }
}

TEST_F(AuditLogTest, FlushFromSeveralThreadsWhileRecording) {
  auto log = open({.repeat_limit = 0});
  std::atomic<bool> done{false};
  std::thread recorder([&] {
    for (int i = 0; i < 20000; ++i) log->record(denial("/r"));
    done = true;
  });
  std::vector<std::thread> flushers;
  for (int t = 0; t < 3; ++t) {
    flushers.emplace_back([&] {
      while (!done) {
        uint64_t before = log->stats().recorded;
        log->flush();
        EXPECT_GE(log->stats().written, before);
      }
    });
  }
  recorder.join();
  for (auto& f : flushers) f.join();
  log->flush();
  EXPECT_EQ(log->stats().written + log->stats().dropped, 20000u);
  EXPECT_EQ(read_lines(path_).size(), log->stats().written + log->stats().overflow_reports);
}

TEST_F(AuditLogTest, DestructionWritesWhatIsQueued) {
  {
    auto log = open({.repeat_limit = 0});
    for (int i = 0; i < 1000; ++i) log->record(denial("/d"));
  }
  EXPECT_EQ(read_lines(path_).size(), 1000u);
}

TEST_F(AuditLogTest, AFlushInsideTheSubscriberDoesNotDeadlock) {
  AuditLog* self = nullptr;
  int calls = 0;
  auto log = open({.subscriber = [&](const AuditRecord&, std::string_view) {
    ++calls;
    self->flush();
  }});
  self = log.get();
  log->record(denial("/x"));
  log->flush();
  EXPECT_EQ(calls, 1);
}

TEST_F(AuditLogTest, ASubscriberThatThrowsIsCountedAndWritingGoesOn) {
  std::vector<std::string> lines;
  auto log = open({.subscriber = [&](const AuditRecord& r, std::string_view line) {
    lines.emplace_back(line);
    if (r.resource == "/throw") throw std::runtime_error("subscriber bug");
  }});
  log->record(denial("/throw"));
  log->record(denial("/fine"));
  log->flush();
  auto stats = log->stats();
  EXPECT_EQ(stats.subscriber_failures, 1u);
  EXPECT_EQ(stats.written, 2u);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines, read_lines(path_));
}

TEST_F(AuditLogTest, AnUnwritablePathIsRefusedAtOpen) {
  auto directory = AuditLog::open(dir_);
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, ErrorCode::IoError);
  EXPECT_NE(directory.error().message.find(dir_.string()), std::string::npos);
  auto missing_parent = AuditLog::open(dir_ / "no" / "such" / "audit.jsonl");
  ASSERT_FALSE(missing_parent);
  EXPECT_EQ(missing_parent.error().code, ErrorCode::IoError);
}

TEST_F(AuditLogTest, WriteFailuresAreCountedAndReportedOnce) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no writable /dev/full";
  testing::internal::CaptureStderr();
  std::vector<std::string> delivered;
  {
    auto log =
        AuditLog::open("/dev/full", {.subscriber = [&](const AuditRecord&, std::string_view line) {
                         delivered.emplace_back(line);
                       }});
    ASSERT_TRUE(log) << log.error().message;
    for (int i = 0; i < 10; ++i) {
      (*log)->record(denial("/x"));
      (*log)->flush();
    }
    auto stats = (*log)->stats();
    EXPECT_EQ(stats.recorded, 10u);
    EXPECT_EQ(stats.written, 0u);
    EXPECT_EQ(stats.write_failures, 10u);
    EXPECT_EQ(stats.dropped, 0u);
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("audit log /dev/full: write failed: No space left on device"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("audit log", err.find("audit log") + 1), std::string::npos) << err;
  // The live stream still sees every record.
  EXPECT_EQ(delivered.size(), 10u);
}

// --- one source cannot push out another ------------------------------------------

// A refusal of `permission` by `component`.
AuditRecord refusal(std::string component, std::string permission, int n) {
  AuditRecord r = denial("/n/" + std::to_string(n));
  r.component = std::move(component);
  r.permission = std::move(permission);
  r.layer = DecisionLayer::Quota;
  return r;
}

TEST(AuditLogRepeats, RefusalsOverTheLimitAreCountedInSummaryRecords) {
  std::mutex mutex;
  std::vector<AuditRecord> seen;
  auto log = AuditLog::without_file(
      {.subscriber = [&](const AuditRecord& r, std::string_view line) {
         std::lock_guard lock(mutex);
         seen.push_back(r);
         EXPECT_EQ(parse_audit_line(line)->repeats, r.repeats);
       },
       .repeat_limit = 10});
  ASSERT_TRUE(log);
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < 5000; ++i) (*log)->record(refusal("hog", "memory.grow", i));
  for (int i = 0; i < 8; ++i) (*log)->record(refusal("hog", "storage.write", i));
  for (int i = 0; i < 8; ++i) (*log)->record(refusal("calm", "memory.grow", i));
  for (int i = 0; i < 300; ++i) {
    AuditRecord granted = refusal("hog", "storage.read", i);
    granted.result = AuditResult::Granted;
    (*log)->record(std::move(granted));
  }
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - began);
  (*log)->flush();  // writes the summaries of the current second too
  std::lock_guard lock(mutex);
  uint64_t one_by_one = 0, summarized = 0, summaries = 0;
  size_t others = 0, granted = 0;
  for (const auto& r : seen) {
    if (r.component == "hog" && r.permission == "memory.grow") {
      if (r.repeats != 0) {
        ++summaries;
        summarized += r.repeats;
        EXPECT_EQ(r.result, AuditResult::Denied);
        EXPECT_EQ(r.layer, DecisionLayer::Quota);
        EXPECT_EQ(r.trust, TrustLevel::Trusted);
        EXPECT_NE(r.reason.find("more denials of memory.grow by hog since "), std::string::npos)
            << r.reason;
        EXPECT_NE(r.reason.find("no grant matches"), std::string::npos) << r.reason;
      } else {
        ++one_by_one;
      }
    } else if (r.result == AuditResult::Granted) {
      ++granted;
    } else {
      EXPECT_EQ(r.repeats, 0u);
      ++others;
    }
  }
  // Every refusal is written or counted; at most 10 a second are written.
  EXPECT_EQ(one_by_one + summarized, 5000u);
  EXPECT_LE(one_by_one, 10u * static_cast<uint64_t>(seconds.count() + 2));
  EXPECT_GE(summaries, 1u);
  EXPECT_EQ(others, 16u);    // other permissions, other components: their own limits
  EXPECT_EQ(granted, 300u);  // grants are not refusals
  const auto stats = (*log)->stats();
  EXPECT_EQ(stats.coalesced, summarized);
  EXPECT_EQ(stats.summaries, summaries);
  EXPECT_EQ(stats.written, one_by_one + others + granted);
  EXPECT_EQ(stats.dropped, 0u);
}

// The summary of a second comes when the second has ended, without a flush.
TEST(AuditLogRepeats, ASummaryFollowsTheEndOfItsSecondUnasked) {
  std::mutex mutex;
  std::condition_variable changed;
  uint64_t summarized = 0;
  auto log = AuditLog::without_file({.subscriber =
                                         [&](const AuditRecord& r, std::string_view) {
                                           std::lock_guard lock(mutex);
                                           summarized += r.repeats;
                                           changed.notify_all();
                                         },
                                     .repeat_limit = 1});
  ASSERT_TRUE(log);
  for (int i = 0; i < 50; ++i) (*log)->record(refusal("hog", "memory.grow", i));
  std::unique_lock lock(mutex);
  // 49 or 48 (the loop may cross into a second second): all but those written.
  EXPECT_TRUE(changed.wait_for(lock, 30s, [&] { return summarized >= 48; })) << summarized;
}

// A source floods while the writer is held up: it gets at most the free
// slots' worth of the queue, and a component that records now and then finds
// room for every record.
TEST(AuditLogShare, AFloodingSourceCannotPushOutAnothersRecords) {
  std::latch writer_blocked(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::mutex mutex;
  std::vector<AuditRecord> seen;
  bool first = true;
  auto log = AuditLog::without_file(
      {.capacity = 64, .subscriber = [&](const AuditRecord& r, std::string_view) {
         {
           std::lock_guard lock(mutex);
           seen.push_back(r);
         }
         if (first) {
           first = false;
           writer_blocked.count_down();
           released.wait();
         }
       }});
  ASSERT_TRUE(log);
  auto granted = [](std::string component, int n) {
    AuditRecord r = refusal(std::move(component), "storage.read", n);
    r.result = AuditResult::Granted;
    return r;
  };
  (*log)->record(granted("flood", -1));
  writer_blocked.wait();
  for (int i = 0; i < 1000; ++i) (*log)->record(granted("flood", i));
  for (int i = 0; i < 10; ++i) (*log)->record(granted("calm", i));
  const auto during = (*log)->stats();
  // The flood stops at 52 queued: 52 >= 4 * (64 - 52) free slots.
  EXPECT_EQ(during.recorded, 1u + 52u + 10u);
  EXPECT_EQ(during.dropped, 1000u - 52u);
  release.set_value();
  (*log)->flush();
  std::lock_guard lock(mutex);
  size_t calm = 0, flood = 0;
  uint64_t reported = 0;
  for (const auto& r : seen) {
    if (r.permission == kAuditOverflowPermission) {
      EXPECT_EQ(r.component, "flood");
      EXPECT_EQ(r.layer, DecisionLayer::Audit);
      EXPECT_NE(r.reason.find("flood held its share of the queue of 64 records"),
                std::string::npos)
          << r.reason;
      reported += r.dropped;
    } else if (r.component == "calm") {
      ++calm;
    } else {
      ++flood;
    }
  }
  EXPECT_EQ(calm, 10u);
  EXPECT_EQ(flood, 53u);
  EXPECT_EQ(reported, 1000u - 52u);
  EXPECT_EQ((*log)->stats().overflow_reports, 1u);
}

// --- the file under the log ----------------------------------------------------------

TEST_F(AuditLogTest, ARemovedLogIsCreatedAgainAndSaysSo) {
  auto log = open();
  log->record(denial("/before"));
  log->flush();
  std::filesystem::remove(path_);
  log->record(denial("/after"));
  log->flush();
  ASSERT_TRUE(std::filesystem::exists(path_));
  auto records = read_audit_records(path_);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].permission, kAuditReopenPermission);
  EXPECT_EQ((*records)[0].layer, DecisionLayer::Audit);
  EXPECT_NE((*records)[0].reason.find("was removed"), std::string::npos) << (*records)[0].reason;
  EXPECT_EQ((*records)[1].resource, "/after");
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto stats = log->stats();
  EXPECT_EQ(stats.reopens, 1u);
  EXPECT_EQ(stats.written, 2u);
  EXPECT_EQ(stats.write_failures, 0u);
}

TEST_F(AuditLogTest, ALogThatCannotBeCreatedAgainCountsWhatItLoses) {
  path_ = dir_ / "logs" / "audit.jsonl";
  std::filesystem::create_directories(path_.parent_path());
  testing::internal::CaptureStderr();
  auto log = open();
  log->record(denial("/kept"));
  log->flush();
  std::filesystem::remove_all(path_.parent_path());
  for (int i = 0; i < 3; ++i) log->record(denial("/lost/" + std::to_string(i)));
  log->flush();
  EXPECT_EQ(log->stats().write_failures, 3u);
  EXPECT_EQ(log->stats().written, 1u);
  // Back once the directory is.
  std::filesystem::create_directories(path_.parent_path());
  log->record(denial("/back"));
  log->flush();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("cannot open it again"), std::string::npos) << err;
  auto records = read_audit_records(path_);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].permission, kAuditReopenPermission);
  EXPECT_NE((*records)[0].reason.find("3 write failures so far"), std::string::npos)
      << (*records)[0].reason;
  EXPECT_EQ((*records)[1].resource, "/back");
  EXPECT_EQ(log->stats().write_failures, 3u);
  EXPECT_EQ(log->stats().reopens, 1u);
}

// A log rotation tool moves the file away, then asks for a reopen (SIGHUP).
TEST_F(AuditLogTest, ReopenContinuesInANewFileAfterTheOldOneWasMovedAway) {
  auto log = open();
  log->record(denial("/old"));
  log->flush();
  std::filesystem::rename(path_, dir_ / "audit.jsonl-20261207");
  log->reopen();
  log->record(denial("/new"));
  log->flush();
  auto old = read_lines(dir_ / "audit.jsonl-20261207");
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(parse_audit_line(old[0])->resource, "/old");
  auto records = read_audit_records(path_);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].permission, kAuditReopenPermission);
  EXPECT_NE((*records)[0].reason.find("moved away"), std::string::npos) << (*records)[0].reason;
  EXPECT_EQ((*records)[1].resource, "/new");
  // A reopen of the same file changes nothing and writes nothing.
  log->reopen();
  log->record(denial("/same"));
  log->flush();
  EXPECT_EQ(read_lines(path_).size(), 3u);
  EXPECT_EQ(log->stats().reopens, 1u);
}

// A crash (or a full disk) left half a line: the next record starts a line
// of its own, and the cut line stays, named as damage.
TEST_F(AuditLogTest, APartialLastLineIsEndedBeforeTheNextRecord) {
  const std::string whole = to_json_line(denial("/whole"));
  const std::string cut = to_json_line(denial("/cut")).substr(0, 40);
  {
    std::ofstream out(path_, std::ios::binary);
    out << whole << "\n" << cut;
  }
  {
    auto log = open();
    log->record(denial("/next"));
    log->flush();
  }
  auto lines = read_lines(path_);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], cut);
  EXPECT_EQ(parse_audit_line(lines[2]).value().resource, "/next");
  std::vector<std::string> resources;
  auto read = read_audit_log(path_, [&](AuditRecord&& r) { resources.push_back(r.resource); });
  ASSERT_TRUE(read);
  EXPECT_EQ(resources, (std::vector<std::string>{"/whole", "/next"}));
  EXPECT_EQ(read->damaged, 1u);
  ASSERT_EQ(read->damage.size(), 1u);
  EXPECT_EQ(read->damage[0].line, 2u);
}

// A reader of a live log may find the writer's last line half written: that
// line is left out, and is not damage.
TEST_F(AuditLogTest, AReaderLeavesOutTheLineStillBeingWritten) {
  const std::string first = to_json_line(denial("/1"));
  const std::string second = to_json_line(denial("/2"));
  {
    std::ofstream out(path_, std::ios::binary);
    out << first << "\n" << second.substr(0, second.size() / 2);
  }
  auto records = read_audit_records(path_);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].resource, "/1");
  auto read = read_audit_log(path_, [](AuditRecord&&) {});
  ASSERT_TRUE(read);
  EXPECT_EQ(read->damaged, 0u);
  EXPECT_EQ(read->unfinished, std::vector<std::filesystem::path>{path_});
  // The rest of the line arrives: now it is a record.
  {
    std::ofstream out(path_, std::ios::binary | std::ios::app);
    out << second.substr(second.size() / 2) << "\n";
  }
  records = read_audit_records(path_);
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[1].resource, "/2");
  // A damaged line in the middle is an error for read_audit_records.
  {
    std::ofstream out(path_, std::ios::binary | std::ios::app);
    out << "not a record\n" << first << "\n";
  }
  records = read_audit_records(path_);
  ASSERT_FALSE(records);
  EXPECT_NE(records.error().message.find(path_.string() + ":3: not an audit record"),
            std::string::npos)
      << records.error().message;
}

// --- rotation ----------------------------------------------------------------

// Every line of a log, oldest file first.
std::vector<std::string> read_all_files(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  for (const auto& file : audit_log_files(path)) {
    for (auto& line : read_lines(file)) lines.push_back(std::move(line));
  }
  return lines;
}

// A record of about 300 bytes whose resource is its number.
AuditRecord numbered(int writer, int n) {
  AuditRecord r = denial(fmt::format("/w{}/{:06}", writer, n));
  r.reason = std::string(160, 'r');
  return r;
}

TEST_F(AuditLogTest, AFullFileIsRotatedAndTheOldestBeyondKeepIsRemoved) {
  std::vector<std::string> rotations;
  {
    auto log = open({.subscriber = [&](const AuditRecord& r, std::string_view) {
                       if (r.permission == kAuditRotatePermission) rotations.push_back(r.reason);
                     },
                     .rotate_bytes = kMinAuditRotateBytes,
                     .keep = 2,
                     .repeat_limit = 0});
    ASSERT_TRUE(log);
    for (int i = 0; i < 2000; ++i) {
      log->record(numbered(0, i));
      if (i % 100 == 99) log->flush();
    }
    log->flush();
    auto stats = log->stats();
    EXPECT_EQ(stats.written, 2000u);
    EXPECT_EQ(stats.write_failures, 0u);
    EXPECT_GE(stats.rotations, 5u);  // about 600 KB through files of 64 KiB
    EXPECT_EQ(stats.rotations, rotations.size());
  }
  // The file, .1 and .2; nothing older.
  auto files = audit_log_files(path_);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], dir_ / "audit.jsonl.2");
  EXPECT_EQ(files[1], dir_ / "audit.jsonl.1");
  EXPECT_EQ(files[2], path_);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "audit.jsonl.3"));
  for (const auto& file : files) {
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << file;
    // A batch may end past the limit; one batch is at most 256 records.
    EXPECT_LT(static_cast<uint64_t>(st.st_size), kMinAuditRotateBytes + 256 * 400) << file;
  }
  // What is kept is the newest records, in order, none missing, each file
  // after the first beginning with the record of its rotation.
  std::vector<int> numbers;
  for (const auto& file : files) {
    auto lines = read_lines(file);
    ASSERT_FALSE(lines.empty()) << file;
    auto first = parse_audit_line(lines.front());
    ASSERT_TRUE(first) << lines.front();
    EXPECT_EQ(first->permission, kAuditRotatePermission) << file;
    EXPECT_EQ(first->layer, DecisionLayer::Audit);
    for (size_t i = 1; i < lines.size(); ++i) {
      auto r = parse_audit_line(lines[i]);
      ASSERT_TRUE(r) << lines[i];
      ASSERT_EQ(r->permission, "filesystem.read") << lines[i];
      numbers.push_back(std::stoi(r->resource.substr(4)));
    }
  }
  ASSERT_FALSE(numbers.empty());
  EXPECT_EQ(numbers.back(), 1999);
  for (size_t i = 1; i < numbers.size(); ++i) ASSERT_EQ(numbers[i], numbers[i - 1] + 1) << i;
  // The last rotation says which file it continues and which one it removed.
  ASSERT_FALSE(rotations.empty());
  EXPECT_NE(rotations.back().find("the log continues " + (dir_ / "audit.jsonl.1").string()),
            std::string::npos)
      << rotations.back();
  EXPECT_NE(rotations.back().find((dir_ / "audit.jsonl.2").string() + " removed ("),
            std::string::npos)
      << rotations.back();
}

// Two logs on one file stand for two processes (a host and a command): one
// rotates, the other follows it to the new file, and no record is lost.
TEST_F(AuditLogTest, TwoWritersOfOneFileRotateItOnceAndLoseNothing) {
  const AuditLogOptions options{
      .rotate_bytes = kMinAuditRotateBytes, .keep = kMaxAuditKeep, .repeat_limit = 0};
  auto a = open(options);
  auto b = open(options);
  ASSERT_TRUE(a && b);
  std::thread ta([&] {
    for (int i = 0; i < 1500; ++i) {
      a->record(numbered(1, i));
      if (i % 50 == 49) a->flush();
    }
  });
  std::thread tb([&] {
    for (int i = 0; i < 1500; ++i) {
      b->record(numbered(2, i));
      if (i % 50 == 49) b->flush();
    }
  });
  ta.join();
  tb.join();
  a->flush();
  b->flush();
  const uint64_t rotations = a->stats().rotations + b->stats().rotations;
  a.reset();
  b.reset();
  std::set<std::string> seen;
  size_t rotation_records = 0;
  for (const auto& line : read_all_files(path_)) {
    auto r = parse_audit_line(line);
    ASSERT_TRUE(r) << line;
    if (r->permission == kAuditRotatePermission) {
      ++rotation_records;
      continue;
    }
    EXPECT_TRUE(seen.insert(r->resource).second) << "twice: " << r->resource;
  }
  EXPECT_EQ(seen.size(), 3000u);
  EXPECT_EQ(rotation_records, rotations);
  EXPECT_GE(rotations, 5u);
  EXPECT_EQ(audit_log_files(path_).size(), rotations + 1);
}

TEST_F(AuditLogTest, RotationSettingsAreChecked) {
  auto small = AuditLog::open(path_, {.rotate_bytes = 1000});
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(small.error().message.find("under the minimum"), std::string::npos);
  auto none = AuditLog::open(path_, {.rotate_bytes = kMinAuditRotateBytes, .keep = 0});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("1-999"), std::string::npos) << none.error().message;
  auto unbounded = AuditLog::open(path_, {.rotate_bytes = 0, .keep = 0});
  EXPECT_TRUE(unbounded) << unbounded.error().message;
}

TEST_F(AuditLogTest, TheFilesOfALogAreListedOldestFirst) {
  EXPECT_TRUE(audit_log_files(path_).empty());
  for (const char* name : {"audit.jsonl", "audit.jsonl.1", "audit.jsonl.10", "audit.jsonl.2",
                           "audit.jsonl.bak", "audit.jsonl.01", "audit.jsonl.1000", "other.1"}) {
    std::ofstream(dir_ / name) << "x";
  }
  auto files = audit_log_files(path_);
  std::vector<std::filesystem::path> expected = {dir_ / "audit.jsonl.10", dir_ / "audit.jsonl.2",
                                                 dir_ / "audit.jsonl.1", path_};
  EXPECT_EQ(files, expected);
}

// A device is never renamed, however much is written to it.
TEST(AuditLogRotation, ADeviceIsNeverRotated) {
  if (::access("/dev/null", W_OK) != 0) GTEST_SKIP() << "no writable /dev/null";
  auto log = AuditLog::open("/dev/null",
                            {.rotate_bytes = kMinAuditRotateBytes, .keep = 1, .repeat_limit = 0});
  ASSERT_TRUE(log) << log.error().message;
  for (int i = 0; i < 1000; ++i) (*log)->record(numbered(0, i));
  (*log)->flush();
  EXPECT_EQ((*log)->stats().rotations, 0u);
  EXPECT_EQ((*log)->stats().written, 1000u);
  EXPECT_TRUE(std::filesystem::is_character_file("/dev/null"));
  EXPECT_FALSE(std::filesystem::exists("/dev/null.1"));
}

TEST(AuditLogWithoutFile, DeliversToTheSubscriber) {
  std::vector<AuditRecord> seen;
  auto log = AuditLog::without_file(
      {.capacity = 8, .subscriber = [&](const AuditRecord& r, std::string_view line) {
         seen.push_back(r);
         AuditRecord at_millisecond = r;
         at_millisecond.time = std::chrono::floor<std::chrono::milliseconds>(r.time);
         EXPECT_EQ(parse_audit_line(line).value(), at_millisecond);
       }});
  ASSERT_TRUE(log);
  for (int i = 0; i < 5; ++i) (*log)->record(denial("/m/" + std::to_string(i)));
  (*log)->flush();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[4].resource, "/m/4");
  EXPECT_EQ((*log)->stats().written, 5u);
  // A record's own time is kept; an unset one is stamped.
  EXPECT_NE(seen[0].time, std::chrono::system_clock::time_point{});
}

TEST(AuditLogWithoutFile, CapacityIsCheckedAndRoundedUp) {
  auto zero = AuditLog::without_file({.capacity = 0});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, ErrorCode::InvalidArgument);
  EXPECT_FALSE(AuditLog::without_file({.capacity = kMaxAuditCapacity + 1}));
  EXPECT_EQ(AuditLog::without_file({.capacity = 5}).value()->capacity(), 8u);
  EXPECT_EQ(AuditLog::without_file({.capacity = 1}).value()->capacity(), 2u);
  EXPECT_EQ(AuditLog::without_file({}).value()->capacity(), 16384u);
}

}  // namespace
}  // namespace airssys::wasm::security

namespace airssys::wasm::security {
namespace {

// Found by fuzz_records: a year before 1970 overflowed the clock conversion.
TEST(AuditFuzzRegression, TimesOutsideTheClocksRangeAreRefused) {
  constexpr std::string_view kLine =
      R"({"time":"1013-11-25T14:00:00.000Z","component":"a-b","resource":"/etc/passwd",)"
      R"("permission":"filesystem.read","result":"denied","trust":"unknown","reason":"no grant",)"
      R"("layer":"component"})";
  EXPECT_FALSE(parse_audit_line(kLine).has_value());
  std::string ok(kLine);
  ok.replace(ok.find("1013"), 4, "2026");
  auto record = parse_audit_line(ok);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(parse_audit_line(to_json_line(*record)).value(), *record);
}

}  // namespace
}  // namespace airssys::wasm::security
