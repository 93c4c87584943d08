#pragma once
// Engines of both tiers for tests that must hold on each. The native tier's
// cache lives in a private temporary directory for the test process, removed
// when it ends.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "airssys/wasm/engine/engine.hpp"

#include "../support/temp_dir.hpp"

namespace airssys::wasm::engine::testing {


inline const std::filesystem::path& test_cache_dir() {
  static const airssys::wasm::test::TempDir cache("native");
  return cache.path();
}

inline std::unique_ptr<Engine> make_engine(Tier tier) {
  if (tier == Tier::Interp) return Engine::interpreter();
  NativeOptions options;
  options.cache_dir = test_cache_dir() / "native";
  auto engine = Engine::native(options);
  EXPECT_TRUE(engine.has_value()) << (engine ? "" : engine.error().to_string());
  return engine ? std::move(*engine) : nullptr;
}

inline std::string tier_test_name(const ::testing::TestParamInfo<Tier>& info) {
  return info.param == Tier::Native ? "Native" : "Interp";
}

}  // namespace airssys::wasm::engine::testing
