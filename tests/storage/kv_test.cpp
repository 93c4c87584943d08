// The key-value store on a real SQLite file in a fresh temporary directory.
#include "airssys/wasm/storage/kv.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "storage_test_support.hpp"

namespace airssys::wasm::storage {
namespace {

using test::Database;
using test::TempDir;

std::string text(const std::optional<std::vector<uint8_t>>& v) {
  return v ? std::string(v->begin(), v->end()) : std::string("<absent>");
}

class KeyValueTest : public ::testing::Test {
 protected:
  void SetUp() override { store = open(); }

  std::unique_ptr<KeyValueStore> open(Durability durability = Durability::Full) {
    auto s = KeyValueStore::open({.data_dir = dir.path() / "data", .durability = durability});
    EXPECT_TRUE(s.has_value()) << s.error().to_string();
    return s ? std::move(*s) : nullptr;
  }

  TempDir dir;
  std::unique_ptr<KeyValueStore> store;
};

TEST_F(KeyValueTest, SetThenGetReturnsTheValue) {
  ASSERT_TRUE(store->set("alpha", "greeting", "hello").has_value());
  EXPECT_EQ(text(store->get("alpha", "greeting").value()), "hello");
  ASSERT_TRUE(store->set("alpha", "greeting", "bonjour").has_value());
  EXPECT_EQ(text(store->get("alpha", "greeting").value()), "bonjour");
  EXPECT_FALSE(store->get("alpha", "missing").value().has_value());
}

TEST_F(KeyValueTest, EmptyAndBinaryValuesRoundTrip) {
  ASSERT_TRUE(store->set("alpha", "empty", "").has_value());
  auto empty = store->get("alpha", "empty").value();
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  std::vector<uint8_t> binary(300);
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(store->set("alpha", "bin", binary).has_value());
  EXPECT_EQ(store->get("alpha", "bin").value(), binary);
}

TEST_F(KeyValueTest, ReadCopiesOnlyIntoABufferThatFits) {
  ASSERT_TRUE(store->set("alpha", "k", "0123456789").has_value());
  std::vector<uint8_t> small(4, 'x');
  auto size = store->read("alpha", "k", small).value();
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(*size, 10u);
  EXPECT_EQ(std::string(small.begin(), small.end()), "xxxx");  // untouched
  std::vector<uint8_t> big(16, 'x');
  EXPECT_EQ(store->read("alpha", "k", big).value(), 10u);
  EXPECT_EQ(std::string(big.begin(), big.begin() + 10), "0123456789");
  EXPECT_FALSE(store->read("alpha", "nope", big).value().has_value());
}

TEST_F(KeyValueTest, ExistsAndRemove) {
  ASSERT_TRUE(store->set("alpha", "k", "v").has_value());
  EXPECT_TRUE(store->exists("alpha", "k").value());
  EXPECT_TRUE(store->remove("alpha", "k").value());
  EXPECT_FALSE(store->exists("alpha", "k").value());
  EXPECT_FALSE(store->remove("alpha", "k").value());
}

TEST_F(KeyValueTest, UsageCountsKeyAndValueBytes) {
  EXPECT_EQ(store->usage("alpha").value(), 0u);
  EXPECT_EQ(store->set("alpha", "ab", "12345").value(), 7u);
  EXPECT_EQ(store->set("alpha", "c", "1").value(), 9u);
  EXPECT_EQ(store->set("alpha", "ab", "1").value(), 5u);  // replaced: 2 + 1
  EXPECT_EQ(store->usage("alpha").value(), 5u);
  ASSERT_TRUE(store->remove("alpha", "ab").value());
  EXPECT_EQ(store->usage("alpha").value(), 2u);
  EXPECT_EQ(store->usage("beta").value(), 0u);
}

TEST_F(KeyValueTest, NamespacesAreSeparate) {
  ASSERT_TRUE(store->set("alpha", "counter", "1").has_value());
  ASSERT_TRUE(store->set("beta", "counter", "22").has_value());
  EXPECT_EQ(text(store->get("alpha", "counter").value()), "1");
  EXPECT_EQ(text(store->get("beta", "counter").value()), "22");
  EXPECT_FALSE(store->get("alpha", "beta:counter").value().has_value());
  EXPECT_FALSE(store->get("alphabeta", "counter").value().has_value());
  EXPECT_EQ(store->list("alpha", "", "", 100).value(), std::vector<std::string>{"counter"});
  ASSERT_TRUE(store->remove("alpha", "counter").value());
  EXPECT_EQ(text(store->get("beta", "counter").value()), "22");
  EXPECT_EQ(store->usage("alpha").value(), 0u);
  EXPECT_EQ(store->usage("beta").value(), 9u);
}

TEST_F(KeyValueTest, ListIsOrderedBoundedAndPaged) {
  for (const char* k : {"orders:2", "orders:10", "orders:1", "order", "ordersx", "users:1", "z"}) {
    ASSERT_TRUE(store->set("alpha", k, "v").has_value());
  }
  using Keys = std::vector<std::string>;
  EXPECT_EQ(store->list("alpha", "orders:", "", 100).value(),
            (Keys{"orders:1", "orders:10", "orders:2"}));
  EXPECT_EQ(store->list("alpha", "orders", "", 100).value(),
            (Keys{"orders:1", "orders:10", "orders:2", "ordersx"}));
  EXPECT_EQ(store->list("alpha", "", "", 3).value(), (Keys{"order", "orders:1", "orders:10"}));
  EXPECT_EQ(store->list("alpha", "", "orders:10", 3).value(),
            (Keys{"orders:2", "ordersx", "users:1"}));
  EXPECT_EQ(store->list("alpha", "orders:", "orders:1", 100).value(),
            (Keys{"orders:10", "orders:2"}));
  // A cursor before the prefix starts at the prefix; one past it ends the list.
  EXPECT_EQ(store->list("alpha", "users:", "a", 100).value(), (Keys{"users:1"}));
  EXPECT_TRUE(store->list("alpha", "orders:", "p", 100).value().empty());
  EXPECT_TRUE(store->list("alpha", "nothing", "", 100).value().empty());
  EXPECT_TRUE(store->list("alpha", "", "", 0).value().empty());
}

TEST_F(KeyValueTest, ListHandlesPrefixesEndingInHighBytes) {
  const std::string hi = "a\xff";
  for (const std::string& k : {std::string("a"), hi, hi + "\xff", hi + "b", std::string("b")}) {
    ASSERT_TRUE(store->set("alpha", k, "v").has_value());
  }
  using Keys = std::vector<std::string>;
  EXPECT_EQ(store->list("alpha", hi, "", 100).value(), (Keys{hi, hi + "b", hi + "\xff"}));
  EXPECT_EQ(store->list("alpha", "\xff", "", 100).value(), Keys{});
}

TEST_F(KeyValueTest, AWriteOverTheQuotaIsRefusedBeforeAnythingIsWritten) {
  ASSERT_EQ(store->set("alpha", "a", std::string(40, 'x'), 100).value(), 41u);
  ASSERT_EQ(store->set("alpha", "b", std::string(40, 'x'), 100).value(), 82u);
  auto refused = store->set("alpha", "c", std::string(40, 'x'), 100);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::QuotaExceeded);
  EXPECT_NE(refused.error().message.find("100"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(store->exists("alpha", "c").value());
  EXPECT_EQ(store->usage("alpha").value(), 82u);
  // Growing an existing value past the quota is refused too, and leaves it as it was.
  EXPECT_FALSE(store->set("alpha", "a", std::string(60, 'y'), 100).has_value());
  EXPECT_EQ(text(store->get("alpha", "a").value()), std::string(40, 'x'));
  // Exactly at the quota passes.
  EXPECT_EQ(store->set("alpha", "c", std::string(17, 'x'), 100).value(), 100u);
  // A delete releases its bytes.
  ASSERT_TRUE(store->remove("alpha", "b").value());
  EXPECT_EQ(store->set("alpha", "d", std::string(30, 'x'), 100).value(), 90u);
}

TEST_F(KeyValueTest, AWriteThatDoesNotGrowPassesEvenOverALoweredQuota) {
  ASSERT_TRUE(store->set("alpha", "a", std::string(100, 'x')).has_value());
  EXPECT_EQ(store->set("alpha", "a", std::string(50, 'y'), 10).value(), 51u);
  EXPECT_FALSE(store->set("alpha", "a", std::string(60, 'y'), 10).has_value());
}

TEST_F(KeyValueTest, ValuesAndUsageSurviveReopening) {
  ASSERT_TRUE(store->set("alpha", "counter", "41").has_value());
  ASSERT_TRUE(store->set("alpha", "name", "ada").has_value());
  ASSERT_TRUE(store->set("beta", "x", std::string(1000, 'z')).has_value());
  ASSERT_TRUE(store->remove("alpha", "name").value());
  const uint64_t alpha = store->usage("alpha").value();
  const uint64_t beta = store->usage("beta").value();
  store.reset();

  store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(text(store->get("alpha", "counter").value()), "41");
  EXPECT_FALSE(store->exists("alpha", "name").value());
  EXPECT_EQ(store->usage("alpha").value(), alpha);
  EXPECT_EQ(store->usage("beta").value(), beta);
  store.reset();

  Database db(dir.path() / "data" / kDatabaseFileName);
  EXPECT_EQ(db.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(db.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(db.text("SELECT bytes FROM kv_usage WHERE component = 'alpha'"),
            db.text("SELECT sum(length(key) + length(value)) FROM kv WHERE component = 'alpha'"));
  EXPECT_EQ(db.text("SELECT bytes FROM kv_usage WHERE component = 'beta'"), "1001");
}

TEST_F(KeyValueTest, NormalDurabilityIsAlsoWal) {
  store.reset();
  store = open(Durability::Normal);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->durability(), Durability::Normal);
  ASSERT_TRUE(store->set("alpha", "k", "v").has_value());
  EXPECT_EQ(text(store->get("alpha", "k").value()), "v");
}

TEST_F(KeyValueTest, MalformedArgumentsAreRefused) {
  auto code = [](const auto& r) { return r ? ErrorCode::InternalError : r.error().code; };
  EXPECT_EQ(code(store->set("", "k", "v")), ErrorCode::InvalidArgument);
  EXPECT_EQ(code(store->set("alpha", "", "v")), ErrorCode::InvalidArgument);
  EXPECT_EQ(code(store->set("alpha", std::string(kMaxKeyBytes + 1, 'k'), "v")),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(code(store->set("alpha", "k", std::string(kMaxValueBytes + 1, 'v'))),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(code(store->get(std::string(kMaxNamespaceBytes + 1, 'n'), "k")),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(code(store->list("alpha", std::string(kMaxKeyBytes + 1, 'p'), "", 1)),
            ErrorCode::InvalidArgument);
  EXPECT_TRUE(store->set("alpha", std::string(kMaxKeyBytes, 'k'), "v").has_value());
  EXPECT_TRUE(store->set("alpha", "k", std::string(kMaxValueBytes, 'v')).has_value());
}

TEST(KeyValueOpen, CreatesAPrivateDataDirectory) {
  TempDir dir;
  auto store = KeyValueStore::open({.data_dir = dir.path() / "a" / "b"});
  ASSERT_TRUE(store.has_value()) << store.error().to_string();
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "a" / "b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ((*store)->database_path(), dir.path() / "a" / "b" / "state.db");
}

TEST(KeyValueOpen, RefusesADataDirectoryOthersCanWrite) {
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0777), 0);
  auto store = KeyValueStore::open({.data_dir = dir.path()});
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::IoError);
  EXPECT_NE(store.error().message.find("chmod go-w"), std::string::npos) << store.error().message;
}

TEST(KeyValueOpen, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  std::ofstream(dir.path() / "state.db") << std::string(8192, 'g');
  auto store = KeyValueStore::open({.data_dir = dir.path()});
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::IoError);
  EXPECT_NE(store.error().message.find("state.db"), std::string::npos) << store.error().message;
}

TEST(KeyValueOpen, RefusesANewerSchema) {
  TempDir dir;
  ASSERT_TRUE(KeyValueStore::open({.data_dir = dir.path()}).has_value());
  Database(dir.path() / "state.db").exec("PRAGMA user_version = 99");
  auto store = KeyValueStore::open({.data_dir = dir.path()});
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message.find("schema version 99"), std::string::npos)
      << store.error().message;
}

// Bytes overwritten in the middle of the file (a bad disk, a stray write):
// the header and the schema still read, so without a check the store would
// open and then fail the calls that reach the damaged pages.
TEST(KeyValueOpen, RefusesADatabaseDamagedInTheMiddle) {
  TempDir dir;
  {
    auto store =
        KeyValueStore::open({.data_dir = dir.path(), .durability = Durability::Normal}).value();
    for (int i = 0; i < 2000; ++i) {
      ASSERT_TRUE(store->set("alpha", "k:" + std::to_string(i), std::string(100, 'v')));
    }
  }  // the last connection checkpoints the WAL into state.db
  const auto file = dir.path() / "state.db";
  const auto size = std::filesystem::file_size(file);
  ASSERT_GT(size, 40u * 4096u);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
    const std::string junk(4096, '\xa5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  // The damage is real: a full scan of the entries fails.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
    EXPECT_NE(sqlite3_exec(db, "SELECT sum(length(value)) FROM kv", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = KeyValueStore::open({.data_dir = dir.path()});
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::IoError);
  EXPECT_NE(store.error().message.find(file.string() + " is damaged"), std::string::npos)
      << store.error().message;
  EXPECT_NE(store.error().message.find("backup"), std::string::npos) << store.error().message;
}

TEST(KeyValueOpen, RefusesADatabaseFileThatIsASymlink) {
  TempDir dir;
  TempDir elsewhere;
  ASSERT_TRUE(KeyValueStore::open({.data_dir = elsewhere.path()}).has_value());
  std::filesystem::create_symlink(elsewhere.path() / "state.db", dir.path() / "state.db");
  auto store = KeyValueStore::open({.data_dir = dir.path()});
  EXPECT_FALSE(store.has_value());
}

TEST(KeyValueThreads, ConcurrentWritersAndReadersKeepTheCountExact) {
  TempDir dir;
  auto store = KeyValueStore::open({.data_dir = dir.path()}).value();
  constexpr int kThreads = 4;
  constexpr int kWrites = 60;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string own = "component-" + std::to_string(t);
      for (int i = 0; i < kWrites; ++i) {
        const std::string key = "k:" + std::to_string(i % 10);
        if (!store->set(own, key, std::string(static_cast<size_t>(i), 'v'))) ++failures;
        if (!store->set("shared", key + ":" + std::to_string(t), "x")) ++failures;
        auto got = store->get(own, key);
        if (!got || !*got || (*got)->size() != static_cast<size_t>(i)) ++failures;
        if (!store->list("shared", "k:", "", 100)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  store.reset();
  Database db(dir.path() / "state.db");
  EXPECT_EQ(db.text("SELECT count(*) FROM kv_usage WHERE bytes != (SELECT coalesce(sum(length(key) "
                    "+ length(value)), 0) FROM kv WHERE kv.component = kv_usage.component)"),
            "0");
  EXPECT_EQ(db.text("SELECT bytes FROM kv_usage WHERE component = 'shared'"),
            std::to_string(kThreads * 10 * 6));  // "k:N:T" and "x"
}

TEST(KeyValueThreads, TwoStoresOnOneDirectoryShareTheDatabase) {
  TempDir dir;
  auto first = KeyValueStore::open({.data_dir = dir.path()}).value();
  auto second = KeyValueStore::open({.data_dir = dir.path()}).value();
  std::atomic<int> failures{0};
  auto writer = [&](KeyValueStore& s, const char* ns) {
    for (int i = 0; i < 50; ++i) {
      if (!s.set(ns, "k:" + std::to_string(i), "value")) ++failures;
    }
  };
  std::thread a(writer, std::ref(*first), "alpha");
  std::thread b(writer, std::ref(*second), "beta");
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(first->list("beta", "", "", 100).value().size(), 50u);
  EXPECT_EQ(second->usage("alpha").value(), first->usage("alpha").value());
}

}  // namespace
}  // namespace airssys::wasm::storage
