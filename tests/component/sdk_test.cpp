// The SDK test: a component built from C against sdk/c/airssys.h that calls
// every function of the ABI, linked and run by the real host.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "../support/temp_dir.hpp"
#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/storage/kv.hpp"

namespace airssys::wasm::component {
namespace {

using namespace std::chrono_literals;
using security::Permission;

TEST(Sdk, AComponentUsingEveryFunctionLinksAndEachCallBehaves) {
  auto engine = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
  auto module =
      engine->load_file(std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / "sdk_all.wasm").value();
  std::set<std::string> imported;
  for (const auto& i : module->imports()) {
    if (i.module == "airssys") imported.insert(i.name);
  }
  const std::set<std::string> every = {"self_id", "send",      "request",   "reply",
                                       "publish", "subscribe", "unsubscribe", "kv_get",
                                       "kv_set",  "kv_delete", "kv_exists", "kv_list",
                                       "kv_usage", "http_request", "log"};
  EXPECT_EQ(imported, every);

  const airssys::wasm::test::TempDir tmp("sdk");
  const std::filesystem::path dir = tmp.path();
  auto store = storage::KeyValueStore::open({.data_dir = dir / "data"});
  ASSERT_TRUE(store.has_value()) << store.error().to_string();

  security::PatternLists grants;
  grants[static_cast<size_t>(Permission::MsgSend)] = {"sdk-all"};
  grants[static_cast<size_t>(Permission::MsgReceive)] = {"sdk-all"};
  grants[static_cast<size_t>(Permission::MsgPublish)] = {"sdk.*"};
  grants[static_cast<size_t>(Permission::MsgSubscribe)] = {"sdk.*"};
  grants[static_cast<size_t>(Permission::StorageRead)] = {"sdk:*"};
  grants[static_cast<size_t>(Permission::StorageWrite)] = {"sdk:*"};
  grants[static_cast<size_t>(Permission::StorageDelete)] = {"sdk:*"};
  auto context = security::WasmSecurityContext::create(
                     "sdk-all", security::CapabilitySet::build(grants).value(),
                     security::TrustLevel::Trusted)
                     .value();

  std::mutex mutex;
  std::condition_variable changed;
  std::string pending;
  std::vector<std::string> lines;
  actor::ThreadPoolScheduler scheduler(actor::ThreadPoolOptions{2});
  {
    ComponentRuntimeOptions options;
    options.engine = engine;
    options.kv = store->get();
    ComponentRuntime system(scheduler, options);
    ComponentSpec spec;
    spec.name = "sdk-all";
    spec.module = module;
    spec.security = context;
    spec.stdout_sink = [&](std::span<const uint8_t> b) {
      std::lock_guard lock(mutex);
      pending.append(b.begin(), b.end());
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        lines.push_back(pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
      changed.notify_all();
    };
    ASSERT_TRUE(system.start(std::move(spec)).has_value());
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 20s, [&] {
      return std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
               return l.starts_with("message ") || l.starts_with("reply ");
             }) >= 4;
    })) << ::testing::PrintToString(lines);
    lock.unlock();
    system.stop();
  }
  scheduler.shutdown();

  // "airssys_xxx(...) = value" by function name.
  std::map<std::string, std::string> results;
  std::set<std::string> seen(lines.begin(), lines.end());
  for (const auto& l : lines) {
    auto paren = l.find('(');
    auto eq = l.rfind(" = ");
    if (l.starts_with("airssys_") && paren != std::string::npos && eq != std::string::npos) {
      results[l.substr(8, paren - 8)] = l.substr(eq + 3);
    }
  }
  EXPECT_TRUE(seen.contains("self_id = sdk-all"));
  EXPECT_EQ(results["send"], "0");
  EXPECT_EQ(results["request"], "1");  // a correlation id > 0
  EXPECT_EQ(results["subscribe"], "0");
  EXPECT_EQ(results["publish"], "1");  // reached itself
  EXPECT_EQ(results["unsubscribe"], "0");
  EXPECT_EQ(results["kv_set"], "0");
  EXPECT_EQ(results["kv_get"], "5");
  EXPECT_EQ(results["kv_exists"], "1");
  EXPECT_EQ(results["kv_list"], "1");
  EXPECT_EQ(results["kv_usage"], "10");
  EXPECT_EQ(results["kv_delete"], "1");
  EXPECT_EQ(results["http_request"], "-1");  // no network.connect grant
  EXPECT_EQ(results["log"], "0");
  EXPECT_TRUE(seen.contains("fopen(/etc/passwd) = refused errno=EACCES"))
      << ::testing::PrintToString(lines);
  EXPECT_TRUE(seen.contains("message kind=0 topic= payload=hi"));
  EXPECT_TRUE(seen.contains("message kind=1 topic= payload=q"));
  EXPECT_TRUE(seen.contains("message kind=2 topic=sdk.event payload=e"));
  EXPECT_TRUE(seen.contains("reply status=0 payload=answer")) << ::testing::PrintToString(lines);
  // reply() twice: once to an unknown id (refused), once to the real request.
  size_t replies = 0;
  for (const auto& l : lines) replies += l.starts_with("airssys_reply(") ? 1 : 0;
  EXPECT_EQ(replies, 2u);
  EXPECT_TRUE(seen.contains("airssys_reply(999999, \"x\", 1) = -10"));
  EXPECT_TRUE(seen.contains("airssys_reply(correlation, \"answer\", 6) = 0"));
}

}  // namespace
}  // namespace airssys::wasm::component
