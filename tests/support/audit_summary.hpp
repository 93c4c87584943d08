#pragma once
// `airssys-wasm audit --summary --json` of a data directory, through the real
// binary: the count of each (component, permission, result, layer), keyed
// "component permission result layer", e.g. "hostile cpu.time denied quota".

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>

#include "subprocess.hpp"

namespace airssys::wasm::testing {

inline std::map<std::string, uint64_t> audit_summary(const std::string& cli,
                                                     const std::filesystem::path& data_dir) {
  auto r = run_process({cli, "audit", "--data-dir", data_dir.string(), "--summary", "--json"},
                       std::chrono::seconds(60));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, uint64_t> out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    out[j["component"].get<std::string>() + " " + j["permission"].get<std::string>() + " " +
        j["result"].get<std::string>() + " " + j["layer"].get<std::string>()] =
        j["count"].get<uint64_t>();
  }
  return out;
}

}  // namespace airssys::wasm::testing
