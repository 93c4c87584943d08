// Crash safety: a child process writes to the store in a loop and reports
// every acknowledged operation on a pipe; it is killed with SIGKILL at a
// random moment, several times over. The database must then pass
// PRAGMA integrity_check and hold every acknowledged write and delete.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "airssys/wasm/storage/kv.hpp"
#include "storage_test_support.hpp"

namespace airssys::wasm::storage {
namespace {

using test::Database;
using test::TempDir;

constexpr std::string_view kNamespace = "crash";

// Operation i deletes the key written two operations earlier when i % 5 == 4
// and writes key i otherwise. Values span several pages, so checkpoints of the
// WAL happen during the run and a kill can land in one.
bool is_delete(uint64_t op) {
  return op % 5 == 4;
}
uint64_t target_of(uint64_t op) {
  return is_delete(op) ? op - 2 : op;
}
std::string key_of(uint64_t index) {
  return "k:" + std::to_string(index);
}
std::string value_of(uint64_t index) {
  std::string value(100 + (index * 7919) % 40000, static_cast<char>('a' + index % 26));
  value.replace(0, std::min(value.size(), key_of(index).size()), key_of(index));
  return value;
}

// Runs in the child: never returns.
[[noreturn]] void write_until_killed(const std::filesystem::path& dir, uint64_t first, int out) {
  auto store = KeyValueStore::open({.data_dir = dir});
  if (!store) _exit(2);
  for (uint64_t op = first;; ++op) {
    const std::string key = key_of(target_of(op));
    bool ok = is_delete(op) ? (*store)->remove(kNamespace, key).has_value()
                            : (*store)->set(kNamespace, key, value_of(op)).has_value();
    if (!ok) _exit(3);
    const std::string ack = std::to_string(op) + "\n";
    if (::write(out, ack.data(), ack.size()) != static_cast<ssize_t>(ack.size())) _exit(4);
  }
}

// Kills and reaps the child when a failed assertion leaves the loop early.
struct Reaper {
  pid_t pid = -1;
  ~Reaper() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

TEST(KeyValueCrash, AKilledWriterLeavesEveryAcknowledgedWrite) {
  TempDir dir;
  const auto seed = static_cast<unsigned>(
      std::chrono::steady_clock::now().time_since_epoch().count() & 0xffffffff);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);

  constexpr int kRounds = 5;
  int64_t last_acked = -1;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    // Only the op after the last acknowledged one can have committed unseen;
    // the next child repeats it, and sets and deletes are idempotent.
    const auto first = static_cast<uint64_t>(last_acked + 1);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      write_until_killed(dir.path(), first, fds[1]);
    }
    Reaper reaper{child};
    ::close(fds[1]);
    FILE* acks = ::fdopen(fds[0], "r");
    ASSERT_NE(acks, nullptr);
    const int kill_after = std::uniform_int_distribution<int>(20, 120)(random);
    const auto delay =
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(random));
    int seen = 0;
    char line[64];
    while (std::fgets(line, sizeof line, acks)) {
      const int64_t op = std::stoll(line);
      ASSERT_EQ(op, last_acked + 1) << "acknowledgements arrive in order";
      last_acked = op;
      if (++seen == kill_after) {
        std::this_thread::sleep_for(delay);
        ASSERT_EQ(::kill(child, SIGKILL), 0);
      }
    }
    std::fclose(acks);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    reaper.pid = -1;
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer ended on its own with status " << status;
  }
  ASSERT_GT(last_acked, 100);

  // What the acknowledged operations leave; the key that the one possibly
  // committed but unacknowledged op touched may be either way.
  std::map<uint64_t, bool> present;
  for (uint64_t op = 0; op <= static_cast<uint64_t>(last_acked); ++op) {
    present[target_of(op)] = !is_delete(op);
  }
  const uint64_t unsure = target_of(static_cast<uint64_t>(last_acked) + 1);

  {
    Database db(dir.path() / kDatabaseFileName);
    EXPECT_EQ(db.text("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(db.text("SELECT bytes FROM kv_usage WHERE component = 'crash'"),
              db.text("SELECT sum(length(key) + length(value)) FROM kv WHERE component = 'crash'"));
  }
  auto store = KeyValueStore::open({.data_dir = dir.path()});
  ASSERT_TRUE(store.has_value()) << store.error().to_string();
  size_t checked = 0;
  for (const auto& [index, expected] : present) {
    if (index == unsure) continue;
    auto value = (*store)->get(kNamespace, key_of(index));
    ASSERT_TRUE(value.has_value()) << value.error().to_string();
    if (expected) {
      ASSERT_TRUE(value->has_value()) << "acknowledged write of " << key_of(index) << " is lost";
      EXPECT_EQ(std::string((*value)->begin(), (*value)->end()), value_of(index));
    } else {
      EXPECT_FALSE(value->has_value()) << "acknowledged delete of " << key_of(index) << " is lost";
    }
    ++checked;
  }
  EXPECT_GT(checked, 100u);
  // Nothing beyond what was attempted exists.
  auto keys = (*store)->list(kNamespace, "", "", 100000).value();
  for (const auto& k : keys) {
    const uint64_t index = std::stoull(k.substr(2));
    EXPECT_TRUE(present.contains(index) || index == unsure) << k;
  }
}

}  // namespace
}  // namespace airssys::wasm::storage
