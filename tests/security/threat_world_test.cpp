// The threat suite's cases for components of the airssys world
// (docs/security-audit.md): the hostile world component
// (tests/components/world/hostile.c) driven by a core-ABI component through
// requests, on a real ComponentRuntime, on both tiers. Every attack gets the
// answer a core-ABI component gets for it, and every refusal by a grant or a
// quota is on record.
#include <gtest/gtest.h>

#include <string>

#include "../component/world_runtime.hpp"

namespace airssys::wasm::component {
namespace {

using testing::Grants;

class ThreatWorld : public testing::WorldRuntimeTest {
 protected:
  void SetUp() override {
    testing::WorldRuntimeTest::SetUp();
    if (IsSkipped()) return;
    start_scripted("alpha", {.send = {"hostile"}, .receive = {"hostile"}});
  }

  void start_hostile(security::QuotaLimits quotas = {}) {
    auto ok = start_world("hostile", "hostile",
                          {.send = {"alpha"}, .receive = {"alpha"}, .read = {"flood:*"},
                           .write = {"flood:*"}},
                          "{}", quotas);
    ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
    auto st = settle("hostile");
    ASSERT_EQ(st.state, ComponentState::Ready)
        << (st.last_error ? st.last_error->to_string() : "");
  }

  // alpha (core ABI) asks the hostile world component; its answer, "" after
  // the deadline.
  std::string ask(const std::string& text) {
    const std::string prefix = "alpha reply status=0: ";
    const size_t before = transcript.count_prefix(prefix);
    command("alpha", "request hostile 60000 " + text);
    if (!transcript.wait_count(prefix, before + 1)) return "";
    auto lines = transcript.with_prefix(prefix);
    return lines.size() > before ? lines[before].substr(prefix.size()) : "";
  }
};

TEST_P(ThreatWorld, W1_AMessageFloodStopsAtTheMessageRateOnRecord) {
  security::QuotaLimits quotas;
  quotas.messages_per_second = 50;
  start_hostile(quotas);
  const std::string answer = ask("flood-send 500 alpha");
  EXPECT_NE(answer.find("quota="), std::string::npos) << answer << "\n" << transcript.dump();
  auto r = audit_record("hostile", "messaging.send", security::AuditResult::Denied);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->layer, security::DecisionLayer::Quota);
}

TEST_P(ThreatWorld, W2_AnOversizedPayloadIsTooLargeAndNotDelivered) {
  start_hostile();
  // send: too large; publish: no grant to publish, checked first; reply:
  // too large (the size is checked before the correlation id).
  EXPECT_EQ(ask("oversize alpha 2000000"), "too-large denied too-large");
  EXPECT_EQ(transcript.count_prefix("alpha got "), 0u) << transcript.dump();
}

TEST_P(ThreatWorld, W3_MalformedKeysAndNamesAreInvalidAnswersNotTraps) {
  start_hostile();
  const std::string keys = ask("bad-keys");
  ASSERT_FALSE(keys.empty());
  for (size_t at = 0; at < keys.size();) {
    size_t end = keys.find(' ', at);
    if (end == std::string::npos) end = keys.size();
    const std::string word = keys.substr(at, end - at);
    EXPECT_TRUE(word == "invalid" || word == "denied") << word << " in " << keys;
    at = end + 1;
  }
  const std::string names = ask("bad-names");
  EXPECT_NE(names.find("invalid"), std::string::npos) << names;
  EXPECT_EQ(names.find("none"), std::string::npos) << names;  // nothing went through
  EXPECT_EQ(system->status("hostile")->restarts, 0u);  // it was answered, not trapped
}

TEST_P(ThreatWorld, W4_StateGrowsOnlyToTheStorageQuotaOnRecord) {
  security::QuotaLimits quotas;
  quotas.storage_bytes = 4096;
  start_hostile(quotas);
  const std::string answer = ask("flood-kv 100 200");
  EXPECT_NE(answer.find("quota="), std::string::npos) << answer;
  auto usage = store->usage("hostile");
  ASSERT_TRUE(usage.has_value());
  EXPECT_LE(*usage, 4096u);
  auto r = audit_record("hostile", "storage.write", security::AuditResult::Denied);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->layer, security::DecisionLayer::Quota);
}

TEST_P(ThreatWorld, W5_AnUngrantedHostIsDeniedBeforeAnythingConnects) {
  start_hostile();
  EXPECT_EQ(ask("fetch http://127.0.0.1:9/"), "denied");
  auto r = audit_record("hostile", "network.connect", security::AuditResult::Denied);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->resource, "127.0.0.1:9");
}

TEST_P(ThreatWorld, W6_ALogFloodIsCutAtTheRateLimitOnRecord) {
  start_hostile();
  const std::string answer = ask("flood-log 2000");
  EXPECT_NE(answer.find("quota="), std::string::npos) << answer;
  EXPECT_TRUE(audited("hostile", "log.write", security::AuditResult::Denied));
}

INSTANTIATE_TEST_SUITE_P(Tiers, ThreatWorld,
                         ::testing::Values(engine::Tier::Interp, engine::Tier::Native),
                         engine::testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::component
