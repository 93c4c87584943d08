// The registry on a real SQLite file: versions, switches, removal, reopening.

#include "airssys/wasm/system/registry.hpp"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include "system_test_support.hpp"

namespace airssys::wasm::system {
namespace {

using namespace test;

ComponentVersion version_of(std::string name, std::string version, char hash) {
  ComponentVersion v;
  v.name = std::move(name);
  v.version = std::move(version);
  v.module_hash = std::string(64, hash);
  v.manifest = "[component]\n";
  v.trust = security::TrustLevel::Trusted;
  v.trust_reason = "signed by release";
  v.approval_key = std::string(64, 'k');
  v.source_dir = "/src/" + v.name;
  v.store_dir = "/data/components/" + v.name + "/" + v.version;
  v.installed_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'000));
  return v;
}

TEST(RegistryTest, VersionsSwitchAndSurviveReopening) {
  TempDir dir;
  auto file = dir.path() / "registry.db";
  int64_t v1 = 0, v2 = 0, v3 = 0;
  {
    auto registry = Registry::open(file);
    ASSERT_TRUE(registry) << registry.error().to_string();
    auto& r = **registry;
    v1 = *r.add_version(version_of("counter", "1.0.0", 'a'));
    ASSERT_TRUE(r.install("counter", v1));
    auto twice = r.install("counter", v1);
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error().code, ErrorCode::InvalidTransition);
    v2 = *r.add_version(version_of("counter", "2.0.0", 'b'));
    auto dropped = r.switch_versions("counter", v2, v1);
    ASSERT_TRUE(dropped);
    EXPECT_TRUE(dropped->empty());
    v3 = *r.add_version(version_of("counter", "3.0.0", 'c'));
    dropped = r.switch_versions("counter", v3, v2);
    ASSERT_TRUE(dropped);
    ASSERT_EQ(dropped->size(), 1u);  // 1.0.0 is no longer reachable
    EXPECT_EQ((*dropped)[0].version, "1.0.0");
    ASSERT_TRUE(r.set_desired("counter", DesiredState::Running));
    ASSERT_TRUE(r.set_status("counter", "running", ""));
    EXPECT_EQ(r.set_status("nobody", "running").error().code, ErrorCode::NotFound);
  }
  auto registry = Registry::open(file);
  ASSERT_TRUE(registry);
  auto c = (*registry)->get("counter");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->current.version, "3.0.0");
  EXPECT_EQ(c->current.module_hash, std::string(64, 'c'));
  EXPECT_EQ(c->current.trust, security::TrustLevel::Trusted);
  EXPECT_EQ(c->current.approval_key, std::string(64, 'k'));
  EXPECT_EQ(c->current.installed_at.time_since_epoch(), std::chrono::milliseconds(1'700'000'000'000));
  ASSERT_TRUE(c->previous);
  EXPECT_EQ(c->previous->version, "2.0.0");
  EXPECT_EQ(c->desired, DesiredState::Running);
  EXPECT_EQ(c->status, "running");
  auto removed = (*registry)->remove("counter");
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->size(), 2u);
  EXPECT_EQ((*registry)->get("counter").error().code, ErrorCode::NotFound);
  EXPECT_TRUE((*registry)->list()->empty());
  EXPECT_EQ((*registry)->remove("counter").error().code, ErrorCode::NotFound);
}

TEST(RegistryTest, RefusesAnotherSchemaVersionAndForeignFiles) {
  TempDir dir;
  auto file = dir.path() / "registry.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 7", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto refused = Registry::open(file);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::IoError);
  EXPECT_NE(refused.error().message.find("schema version 7"), std::string::npos);

  auto garbage = dir.path() / "garbage.db";
  write_file(garbage, std::string(4096, 'x'));
  EXPECT_FALSE(Registry::open(garbage));
}

}  // namespace
}  // namespace airssys::wasm::system
