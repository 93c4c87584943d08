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

namespace airssys::wasm::engine::testing {

class TempCache {
 public:
  TempCache() {
    std::string pattern = (std::filesystem::temp_directory_path() / "airssys-native-XXXXXX").string();
    if (::mkdtemp(pattern.data())) path_ = pattern;
  }
  ~TempCache() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline const std::filesystem::path& test_cache_dir() {
  static TempCache cache;
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
