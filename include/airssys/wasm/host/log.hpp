#pragma once
// A component's log: what it writes with airssys.log and, when the host
// routes them here, its stdout and stderr, line by line, tagged with the
// component's name. Rate-limited per component so that none can flood the
// host: lines over the limit are dropped, counted, and reported once per
// window.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "airssys/wasm/core/units.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::host {

enum class LogLevel : int32_t { Trace = 0, Debug = 1, Info = 2, Warn = 3, Error = 4 };
[[nodiscard]] const char* log_level_name(LogLevel level);

struct LogLine {
  std::string_view component;
  LogLevel level;
  std::string_view source;  // "log", "stdout" or "stderr"
  std::string_view text;    // one line, without its newline
};
using LogSink = std::function<void(const LogLine&)>;

struct LogOptions {
  uint32_t lines_per_second = 200;
  uint64_t bytes_per_second = 64 * KiB;
  uint32_t max_line_bytes = 4096;  // longer lines are cut, and say so
};

class ComponentLog {
 public:
  // `on_drop` is called once per window in which lines were dropped.
  ComponentLog(std::string component, LogSink sink, LogOptions options = {},
               std::function<void(uint64_t dropped_so_far)> on_drop = {});
  ~ComponentLog();

  // False when the rate limit dropped the line.
  bool write(LogLevel level, std::string_view source, std::string_view text);
  // Bytes from stdout or stderr: complete lines are logged, a partial one waits.
  void output(std::string_view source, std::span<const uint8_t> bytes);
  // Logs what is left of partial lines.
  void flush();
  [[nodiscard]] uint64_t dropped() const { return dropped_; }

 private:
  bool admit(size_t bytes);

  std::string component_;
  LogSink sink_;
  LogOptions options_;
  std::function<void(uint64_t)> on_drop_;
  int64_t window_ = -1;
  uint32_t lines_ = 0;
  uint64_t bytes_ = 0;
  uint64_t dropped_ = 0;
  uint64_t dropped_reported_ = 0;
  bool reported_this_window_ = false;
  std::string partial_stdout_;
  std::string partial_stderr_;
};

// Defines airssys.log(level, ptr, len) -> i32: 0, E_QUOTA when the line was
// dropped by the rate limit, E_INVALID for a bad level or range. Without a
// component log the line goes to the component's stderr.
void add_log(engine::Linker& linker);

}  // namespace airssys::wasm::host
