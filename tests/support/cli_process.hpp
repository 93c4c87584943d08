#pragma once
// The airssys-wasm binary run by a test: its result, and a test failure when
// it hung or died of a signal.

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "subprocess.hpp"

namespace airssys::wasm::testing {

inline ProcessResult run_cli(const std::string& binary, std::vector<std::string> args,
                             const std::string& input_file = {}) {
  args.insert(args.begin(), binary);
  auto r = run_process(args, std::chrono::seconds(120), input_file);
  EXPECT_FALSE(r.timed_out) << "airssys-wasm did not finish";
  EXPECT_EQ(r.signal, 0) << "airssys-wasm died of signal " << r.signal << "\n" << r.err;
  return r;
}

}  // namespace airssys::wasm::testing
