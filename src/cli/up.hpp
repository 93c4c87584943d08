#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"

namespace airssys::wasm::cli {

struct UpOptions {
  std::string dir;  // holds one folder per component
  std::vector<std::pair<std::string, std::string>> messages;  // first messages: target, text
  uint64_t duration_ms = 0;                                   // 0: until interrupted
  size_t workers = 0;                                         // 0: one per core
  bool approve = false;
  std::string tier;  // interp, native, auto; empty: each manifest's [runtime] tier, else interp
  HostPaths paths;
};

// Starts every component under DIR under one supervisor; returns the exit code.
[[nodiscard]] int up_components(const UpOptions& options);

}  // namespace airssys::wasm::cli
