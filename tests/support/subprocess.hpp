#pragma once
// Runs a program with arguments, captures stdout and stderr, and kills it
// when it outlives its deadline, so that no test can hang. The deadline only
// bounds a hang: a native compile on a loaded machine takes tens of seconds.

#include <chrono>
#include <string>
#include <vector>

namespace airssys::wasm::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Standard input is empty (/dev/null), or the file `input_file` when given.
ProcessResult run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds deadline = std::chrono::seconds(120),
                          const std::string& input_file = {});

}  // namespace airssys::wasm::testing
