#include "airssys/wasm/security/approval.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "airssys/wasm/security/admission.hpp"
#include "airssys/wasm/security/signing.hpp"
#include "trust_fixtures.hpp"

namespace airssys::wasm::security {
namespace {

using testing::TempDir;
using testing::write_file;

std::string module_hash(std::string_view seed) {
  return to_hex(sha256(seed));
}

ApprovalRequest make_request(std::string name = "order-validator",
                             std::string capabilities = "storage.read = [\"orders:*\"]\n") {
  return ApprovalRequest{name, "1.2.0", module_hash(name), std::move(capabilities)};
}

// Runs one statement on the file directly, as another program could.
void raw_sql(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  char* message = nullptr;
  int rc = sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, &message);
  EXPECT_EQ(rc, SQLITE_OK) << (message != nullptr ? message : "");
  sqlite3_free(message);
  sqlite3_close(handle);
}

class ApprovalTest : public ::testing::Test {
 protected:
  ApprovalStore open(ApprovalOptions options = {}) {
    auto store = ApprovalStore::open(db_, options);
    EXPECT_TRUE(store) << store.error().to_string();
    return std::move(store).value();
  }

  // A fresh entry in `state`, reached through valid transitions only.
  ApprovalEntry entry_in(ApprovalStore& store, ApprovalState state, std::string name) {
    auto request = make_request(std::move(name));
    switch (state) {
      case ApprovalState::Pending:
        return store.request(request, TrustLevel::Unknown, "unknown").value();
      case ApprovalState::AutoApproved:
        return store.request(request, TrustLevel::Trusted, "trusted key").value();
      case ApprovalState::Bypassed:
        return store.request(request, TrustLevel::DevMode, "dev mode").value();
      case ApprovalState::Approved: {
        auto e = store.request(request, TrustLevel::Unknown, "unknown").value();
        return store.approve(e.key, "ops", "looks fine").value();
      }
      case ApprovalState::Denied: {
        auto e = store.request(request, TrustLevel::Unknown, "unknown").value();
        return store.deny(e.key, "ops", "no").value();
      }
    }
    return {};
  }

  TempDir dir_;
  std::filesystem::path db_ = dir_ / "data" / "approvals.db";
};

TEST(ApprovalKey, CoversNameModuleAndCapabilities) {
  std::string base = ApprovalStore::key_for("app", module_hash("m"), "caps");
  EXPECT_EQ(base.size(), 64u);
  EXPECT_TRUE(parse_sha256_hex(base).has_value());
  EXPECT_EQ(base, ApprovalStore::key_for("app", module_hash("m"), "caps"));
  EXPECT_NE(base, ApprovalStore::key_for("app2", module_hash("m"), "caps"));
  EXPECT_NE(base, ApprovalStore::key_for("app", module_hash("m2"), "caps"));
  EXPECT_NE(base, ApprovalStore::key_for("app", module_hash("m"), "caps "));
  // Field boundaries are part of the key.
  EXPECT_NE(ApprovalStore::key_for("ab", "c", ""), ApprovalStore::key_for("a", "bc", ""));
  EXPECT_NE(ApprovalStore::key_for("a", "", "b"), ApprovalStore::key_for("a", "b", ""));
}

// The approve command a refusal suggests names paths as single shell words.
TEST(ApproveOptions, PathsBecomeOneShellWord) {
  EXPECT_EQ(shell_word("/srv/airssys-1.0/data_dir"), "/srv/airssys-1.0/data_dir");
  EXPECT_EQ(shell_word("/srv/my data"), "\"/srv/my data\"");
  EXPECT_EQ(shell_word("a\"b\\c$d`e"), "\"a\\\"b\\\\c\\$d\\`e\"");
  EXPECT_EQ(shell_word(""), "\"\"");
}

TEST(ApprovalStates, NamesRoundTripAndOnlyDecidedStatesRun) {
  for (auto state : {ApprovalState::Pending, ApprovalState::Approved, ApprovalState::Denied,
                     ApprovalState::AutoApproved, ApprovalState::Bypassed}) {
    EXPECT_EQ(parse_approval_state(approval_state_name(state)), state);
  }
  EXPECT_EQ(approval_state_name(ApprovalState::AutoApproved), "auto-approved");
  EXPECT_FALSE(parse_approval_state("Approved"));
  ApprovalEntry entry;
  entry.name = "x";
  entry.state = ApprovalState::Pending;
  EXPECT_EQ(may_run(entry).error().code, ErrorCode::ApprovalRequired);
  entry.state = ApprovalState::Denied;
  EXPECT_EQ(may_run(entry).error().code, ErrorCode::TrustDenied);
  for (auto state :
       {ApprovalState::Approved, ApprovalState::AutoApproved, ApprovalState::Bypassed}) {
    entry.state = state;
    EXPECT_TRUE(may_run(entry));
  }
}

TEST_F(ApprovalTest, EntriesPersistAcrossReopening) {
  std::string key;
  {
    auto store = open();
    auto entry = store.request(make_request(), TrustLevel::Unknown, "not signed").value();
    key = entry.key;
    EXPECT_EQ(entry.state, ApprovalState::Pending);
    EXPECT_EQ(entry.key, ApprovalStore::key_for(entry.name, entry.module_hash, entry.capabilities));
    EXPECT_TRUE(entry.decided_by.empty());
    EXPECT_FALSE(entry.decided_at.has_value());
    EXPECT_EQ(entry.reason, "not signed");
  }
  {
    auto store = open();
    auto entry = store.get(key).value();
    EXPECT_EQ(entry.state, ApprovalState::Pending);
    EXPECT_EQ(entry.name, "order-validator");
    EXPECT_EQ(entry.version, "1.2.0");
    EXPECT_EQ(entry.module_hash, module_hash("order-validator"));
    EXPECT_EQ(entry.capabilities, "storage.read = [\"orders:*\"]\n");
    auto approved = store.approve(key, "alice", "reviewed the source").value();
    EXPECT_EQ(approved.state, ApprovalState::Approved);
  }
  {
    auto store = open();
    auto entry = store.get(key).value();
    EXPECT_EQ(entry.state, ApprovalState::Approved);
    EXPECT_EQ(entry.decided_by, "alice");
    EXPECT_EQ(entry.reason, "reviewed the source");
    ASSERT_TRUE(entry.decided_at.has_value());
    EXPECT_GE(*entry.decided_at, entry.requested_at);
    EXPECT_LE(*entry.decided_at, Clock::now());
    EXPECT_TRUE(may_run(entry));
  }
  struct stat st {};
  ASSERT_EQ(::stat(db_.c_str(), &st), 0);
}

TEST_F(ApprovalTest, ValidTransitions) {
  auto store = open();
  auto pending = entry_in(store, ApprovalState::Pending, "p");
  EXPECT_EQ(store.deny(pending.key, "ops", "no").value().state, ApprovalState::Denied);
  // An explicit re-decision after a denial.
  EXPECT_EQ(store.approve(pending.key, "ops", "changed my mind").value().state,
            ApprovalState::Approved);
  // Revocations.
  EXPECT_EQ(store.deny(pending.key, "ops", "revoked").value().state, ApprovalState::Denied);
  auto trusted = entry_in(store, ApprovalState::AutoApproved, "t");
  EXPECT_EQ(trusted.decided_by, "trust");
  EXPECT_EQ(store.deny(trusted.key, "ops", "not here").value().state, ApprovalState::Denied);
  auto bypassed = entry_in(store, ApprovalState::Bypassed, "b");
  EXPECT_EQ(bypassed.decided_by, "dev-mode");
  EXPECT_EQ(store.deny(bypassed.key, "ops", "no").value().state, ApprovalState::Denied);
}

TEST_F(ApprovalTest, EveryInvalidTransitionIsRefusedAndChangesNothing) {
  auto store = open();
  struct Case {
    ApprovalState from;
    bool approve;
  };
  const Case cases[] = {
      {ApprovalState::Approved, true},
      {ApprovalState::AutoApproved, true},
      {ApprovalState::Bypassed, true},
      {ApprovalState::Denied, false},
  };
  int n = 0;
  for (const auto& c : cases) {
    auto entry = entry_in(store, c.from, "component-" + std::to_string(n++));
    ASSERT_EQ(entry.state, c.from);
    auto result = c.approve ? store.approve(entry.key, "mallory", "again")
                            : store.deny(entry.key, "mallory", "again");
    ASSERT_FALSE(result) << approval_state_name(c.from);
    EXPECT_EQ(result.error().code, ErrorCode::InvalidTransition);
    EXPECT_EQ(result.error().category(), ErrorCategory::Usage);
    EXPECT_NE(result.error().message.find(approval_state_name(c.from)), std::string::npos)
        << result.error().message;
    auto after = store.get(entry.key).value();
    EXPECT_EQ(after.state, entry.state);
    EXPECT_EQ(after.decided_by, entry.decided_by);
    EXPECT_EQ(after.reason, entry.reason);
  }
}

TEST_F(ApprovalTest, UnknownKeysAndBadInputsAreRefused) {
  auto store = open();
  std::string nowhere(64, 'a');
  EXPECT_EQ(store.get(nowhere).error().code, ErrorCode::NotFound);
  EXPECT_EQ(store.approve(nowhere, "ops", "").error().code, ErrorCode::NotFound);
  EXPECT_EQ(store.deny(nowhere, "ops", "").error().code, ErrorCode::NotFound);
  auto entry = entry_in(store, ApprovalState::Pending, "x");
  EXPECT_EQ(store.approve(entry.key, "", "anonymous").error().code, ErrorCode::InvalidArgument);
  auto bad_hash = make_request();
  bad_hash.module_hash = "sha256:abc";
  EXPECT_EQ(store.request(bad_hash, TrustLevel::Unknown, "").error().code,
            ErrorCode::InvalidArgument);
  bad_hash.module_hash = module_hash("x");
  for (auto& c : bad_hash.module_hash) c = static_cast<char>(std::toupper(c));
  EXPECT_FALSE(store.request(bad_hash, TrustLevel::Unknown, ""));
  auto no_name = make_request("");
  EXPECT_FALSE(store.request(no_name, TrustLevel::Unknown, ""));
  EXPECT_EQ(store.get(entry.key).value().state, ApprovalState::Pending);
}

TEST_F(ApprovalTest, ADuplicateRequestReturnsTheExistingEntry) {
  auto store = open();
  auto first = store.request(make_request(), TrustLevel::Unknown, "first").value();
  auto again = make_request();
  again.version = "1.2.1";  // same module and capabilities: same key
  auto second = store.request(again, TrustLevel::Unknown, "second").value();
  EXPECT_EQ(second.key, first.key);
  EXPECT_EQ(second.version, "1.2.0");
  EXPECT_EQ(second.reason, "first");
  EXPECT_EQ(second.requested_at, first.requested_at);
  EXPECT_EQ(store.list().value().size(), 1u);
  EXPECT_EQ(store.pending_count().value(), 1u);
}

TEST_F(ApprovalTest, MoreCapabilitiesOrAnotherModuleNeedANewApproval) {
  auto store = open();
  auto base = store.request(make_request(), TrustLevel::Unknown, "").value();
  ASSERT_TRUE(store.approve(base.key, "ops", "ok"));
  auto wider = make_request("order-validator",
                            "storage.read = [\"orders:*\"]\nstorage.write = [\"orders:*\"]\n");
  auto entry = store.request(wider, TrustLevel::Unknown, "").value();
  EXPECT_NE(entry.key, base.key);
  EXPECT_EQ(entry.state, ApprovalState::Pending);
  auto rebuilt = make_request();
  rebuilt.module_hash = module_hash("rebuilt");
  auto other = store.request(rebuilt, TrustLevel::Unknown, "").value();
  EXPECT_NE(other.key, base.key);
  EXPECT_EQ(other.state, ApprovalState::Pending);
  EXPECT_EQ(store.get(base.key).value().state, ApprovalState::Approved);
}

TEST_F(ApprovalTest, TrustDecidedEntriesFollowTheCurrentTrustLevel) {
  auto store = open();
  auto request = make_request();
  auto auto_approved = store.request(request, TrustLevel::Trusted, "key 'release'").value();
  EXPECT_EQ(auto_approved.state, ApprovalState::AutoApproved);
  EXPECT_TRUE(auto_approved.decided_at.has_value());
  // The key is no longer trusted: back to the queue, not silently approved.
  auto withdrawn = store.request(request, TrustLevel::Unknown, "not trusted").value();
  EXPECT_EQ(withdrawn.state, ApprovalState::Pending);
  EXPECT_TRUE(withdrawn.decided_by.empty());
  EXPECT_FALSE(withdrawn.decided_at.has_value());
  EXPECT_EQ(store.request(request, TrustLevel::DevMode, "dev").value().state,
            ApprovalState::Bypassed);
  // Dev mode switched off: the bypass does not outlive it.
  EXPECT_EQ(store.request(request, TrustLevel::Unknown, "").value().state, ApprovalState::Pending);
  EXPECT_EQ(store.request(request, TrustLevel::Trusted, "").value().state,
            ApprovalState::AutoApproved);

  // An operator's decision stands whatever trust says later.
  auto approved = entry_in(store, ApprovalState::Approved, "approved-one");
  auto approved_request = make_request("approved-one");
  for (auto level : {TrustLevel::Unknown, TrustLevel::Trusted, TrustLevel::DevMode}) {
    EXPECT_EQ(store.request(approved_request, level, "").value().state, ApprovalState::Approved);
  }
  entry_in(store, ApprovalState::Denied, "denied-one");
  for (auto level : {TrustLevel::Unknown, TrustLevel::Trusted, TrustLevel::DevMode}) {
    auto entry = store.request(make_request("denied-one"), level, "").value();
    EXPECT_EQ(entry.state, ApprovalState::Denied);
    EXPECT_FALSE(may_run(entry));
  }
}

TEST_F(ApprovalTest, ThePendingQueueIsBounded) {
  EXPECT_EQ(ApprovalOptions{}.max_pending, 1000u);
  auto store = open({.max_pending = 3});
  std::vector<ApprovalEntry> entries;
  for (int i = 0; i < 3; ++i) {
    entries.push_back(
        store.request(make_request("c" + std::to_string(i)), TrustLevel::Unknown, "").value());
  }
  auto refused = store.request(make_request("c3"), TrustLevel::Unknown, "");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::ApprovalQueueFull);
  EXPECT_NE(refused.error().message.find("c3"), std::string::npos);
  // A request for an entry already queued is still answered.
  EXPECT_TRUE(store.request(make_request("c0"), TrustLevel::Unknown, ""));
  // Trusted and dev-mode requests do not queue.
  EXPECT_TRUE(store.request(make_request("t"), TrustLevel::Trusted, ""));
  EXPECT_TRUE(store.request(make_request("d"), TrustLevel::DevMode, ""));
  // Neither may trust withdrawn push the queue past its bound.
  auto back = store.request(make_request("t"), TrustLevel::Unknown, "");
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, ErrorCode::ApprovalQueueFull);
  EXPECT_EQ(store.get(ApprovalStore::key_for("t", module_hash("t"), make_request().capabilities))
                .value()
                .state,
            ApprovalState::AutoApproved);
  ASSERT_TRUE(store.deny(entries[0].key, "ops", "no"));
  EXPECT_TRUE(store.request(make_request("c3"), TrustLevel::Unknown, ""));
  EXPECT_EQ(store.pending_count().value(), 3u);
  // The bound holds across handles: it is counted in the database.
  auto other = open({.max_pending = 3});
  EXPECT_EQ(other.request(make_request("c4"), TrustLevel::Unknown, "").error().code,
            ErrorCode::ApprovalQueueFull);
}

TEST_F(ApprovalTest, ListFiltersByStateOldestFirst) {
  auto store = open();
  auto a = entry_in(store, ApprovalState::Pending, "a");
  auto b = entry_in(store, ApprovalState::Approved, "b");
  auto c = entry_in(store, ApprovalState::Pending, "c");
  auto d = entry_in(store, ApprovalState::AutoApproved, "d");
  auto all = store.list().value();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].name, "a");
  EXPECT_EQ(all[3].name, "d");
  auto pending = store.list(ApprovalState::Pending).value();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].key, a.key);
  EXPECT_EQ(pending[1].key, c.key);
  EXPECT_EQ(store.list(ApprovalState::Approved).value().at(0).key, b.key);
  EXPECT_EQ(store.list(ApprovalState::AutoApproved).value().at(0).key, d.key);
  EXPECT_TRUE(store.list(ApprovalState::Bypassed).value().empty());
}

TEST_F(ApprovalTest, TwoHandlesShareOneDatabaseConcurrently) {
  auto first = open();
  auto second = open();
  constexpr int kPerThread = 40;
  std::atomic<int> failures{0};
  auto worker = [&](ApprovalStore& store, std::string prefix) {
    for (int i = 0; i < kPerThread; ++i) {
      auto entry = store.request(make_request(prefix + std::to_string(i)), TrustLevel::Unknown, "");
      if (!entry) {
        ++failures;
        continue;
      }
      auto decided = i % 2 == 0 ? store.approve(entry->key, prefix, "ok")
                                : store.deny(entry->key, prefix, "no");
      if (!decided) ++failures;
    }
  };
  std::thread t1(worker, std::ref(first), "one-");
  std::thread t2(worker, std::ref(second), "two-");
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
  for (auto* store : {&first, &second}) {
    EXPECT_EQ(store->list().value().size(), 2u * kPerThread);
    EXPECT_EQ(store->list(ApprovalState::Approved).value().size(), size_t{kPerThread});
    EXPECT_EQ(store->list(ApprovalState::Denied).value().size(), size_t{kPerThread});
  }

  // Both handles race to approve the same entries: exactly one approval wins each,
  // the other sees an approved entry and is refused.
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) {
    keys.push_back(first.request(make_request("race-" + std::to_string(i)), TrustLevel::Unknown, "")
                       .value()
                       .key);
  }
  std::atomic<int> wins{0};
  std::atomic<int> refused{0};
  std::atomic<int> other_errors{0};
  auto approver = [&](ApprovalStore& store, std::string who) {
    for (const auto& key : keys) {
      auto r = store.approve(key, who, "");
      if (r) {
        ++wins;
      } else if (r.error().code == ErrorCode::InvalidTransition) {
        ++refused;
      } else {
        ++other_errors;
      }
    }
  };
  std::thread a1(approver, std::ref(first), "first");
  std::thread a2(approver, std::ref(second), "second");
  a1.join();
  a2.join();
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_EQ(wins.load(), 30);
  EXPECT_EQ(refused.load(), 30);
  for (const auto& key : keys) {
    EXPECT_EQ(second.get(key).value().state, ApprovalState::Approved);
  }
}

TEST_F(ApprovalTest, OneHandleIsSafeAcrossThreads) {
  auto store = open();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        auto name = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto entry = store.request(make_request(name), TrustLevel::Unknown, "");
        if (!entry || !store.approve(entry->key, "ops", "") || !store.get(entry->key)) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store.list(ApprovalState::Approved).value().size(), 60u);
}

TEST_F(ApprovalTest, UsesWalMode) {
  { auto store = open(); }
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &handle), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(handle, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(handle);
}

TEST_F(ApprovalTest, AnEditedRowIsNotTrusted) {
  std::string key;
  {
    auto store = open();
    key = store.request(make_request(), TrustLevel::Unknown, "").value().key;
    ASSERT_TRUE(store.approve(key, "ops", "ok"));
  }
  // Widen the approved capabilities behind the store's back.
  raw_sql(db_, "UPDATE approvals SET capabilities = 'filesystem.write = [\"/**\"]'");
  auto store = open();
  auto entry = store.get(key);
  ASSERT_FALSE(entry);
  EXPECT_EQ(entry.error().code, ErrorCode::InternalError);
  EXPECT_NE(entry.error().message.find("altered"), std::string::npos);
  EXPECT_FALSE(store.list());
}

TEST_F(ApprovalTest, RefusesUnsafeOrForeignDatabases) {
  { auto store = open(); }
  ASSERT_EQ(::chmod(db_.c_str(), 0666), 0);
  auto writable = ApprovalStore::open(db_);
  ASSERT_FALSE(writable);
  EXPECT_NE(writable.error().message.find("chmod go-w"), std::string::npos);
  ASSERT_EQ(::chmod(db_.c_str(), 0644), 0);

  raw_sql(db_, "PRAGMA user_version = 7");
  auto newer = ApprovalStore::open(db_);
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().message.find("schema version 7"), std::string::npos);

  write_file(dir_ / "garbage.db", std::string(4096, 'x'));
  auto garbage = ApprovalStore::open(dir_ / "garbage.db");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, ErrorCode::IoError);
  EXPECT_NE(garbage.error().message.find("garbage.db"), std::string::npos)
      << garbage.error().message;

  EXPECT_EQ(ApprovalStore::open(dir_ / "x.db", {.max_pending = 0}).error().code,
            ErrorCode::InvalidArgument);
}

// Whoever may replace the database in its folder, or owns it, can approve.
TEST_F(ApprovalTest, RefusesADatabaseAnotherUserOwnsOrMayReplace) {
  { auto store = open(); }
  ASSERT_EQ(::chmod(db_.parent_path().c_str(), 0777), 0);
  auto open_folder = ApprovalStore::open(db_);
  ASSERT_FALSE(open_folder);
  EXPECT_EQ(open_folder.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(open_folder.error().message.find("writable by group or others (mode 0777)"),
            std::string::npos)
      << open_folder.error().message;
  ASSERT_EQ(::chmod(db_.parent_path().c_str(), 01777), 0);  // sticky, like /tmp: others cannot replace it
  EXPECT_TRUE(ApprovalStore::open(db_)) << "a sticky folder";
  ASSERT_EQ(::chmod(db_.parent_path().c_str(), 0700), 0);

  if (::geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
  ASSERT_EQ(::chown(db_.c_str(), 65534, 65534), 0);
  auto foreign = ApprovalStore::open(db_);
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().message.find("belongs to another user (uid 65534)"),
            std::string::npos)
      << foreign.error().message;
  ASSERT_EQ(::chown(db_.c_str(), 0, 0), 0);
  EXPECT_TRUE(ApprovalStore::open(db_));
}

}  // namespace
}  // namespace airssys::wasm::security
