#pragma once
// AIRSSYS_HOME for the tests that run the real binary: no run ever touches the
// real ~/.airssys.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <optional>
#include <string>

#include "temp_dir.hpp"

namespace airssys::wasm::test {

// AIRSSYS_HOME set to `home` for as long as the object lives; the previous
// value (or its absence) comes back after.
class ScopedHome {
 public:
  explicit ScopedHome(const std::filesystem::path& home) {
    if (const char* old = std::getenv("AIRSSYS_HOME")) saved_ = old;
    ::setenv("AIRSSYS_HOME", home.c_str(), 1);
  }
  ~ScopedHome() {
    if (saved_) {
      ::setenv("AIRSSYS_HOME", saved_->c_str(), 1);
    } else {
      ::unsetenv("AIRSSYS_HOME");
    }
  }
  ScopedHome(const ScopedHome&) = delete;
  ScopedHome& operator=(const ScopedHome&) = delete;

 private:
  std::optional<std::string> saved_;
};

// A test program's environment: a private AIRSSYS_HOME for the whole program,
// which fixtures may narrow to a home of their own. Register it with
//   ::testing::AddGlobalTestEnvironment(new airssys::wasm::test::PrivateHome);
class PrivateHome : public ::testing::Environment {
 public:
  void SetUp() override {
    dir_.emplace("home");
    home_.emplace(dir_->path());
  }
  void TearDown() override {
    home_.reset();
    dir_.reset();
  }

 private:
  std::optional<TempDir> dir_;
  std::optional<ScopedHome> home_;
};

}  // namespace airssys::wasm::test
