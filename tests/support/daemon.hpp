#pragma once
// `airssys-wasm serve` (or another long-running command, such as `up`) in the
// background, for the tests that drive the daemon through the real binary:
// started, waited on until it serves, signalled, and killed when the test ends.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace airssys::wasm::testing {

class Daemon {
 public:
  // `cli serve --config config`, its stdout and stderr appended to `log`.
  Daemon(const std::filesystem::path& cli, const std::filesystem::path& config,
         const std::filesystem::path& log);
  // Any command line of the binary (argv[0] the program), its stdout and
  // stderr appended to `log`: a long-running `up`, watched through log().
  Daemon(const std::vector<std::string>& argv, const std::filesystem::path& log);
  // SIGKILL, if it still runs.
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Until the log says it serves and `socket` exists; false once the process
  // has ended, or after `deadline` (which only bounds a hang).
  [[nodiscard]] bool wait_serving(const std::filesystem::path& socket,
                                  std::chrono::milliseconds deadline = std::chrono::seconds(30));
  // Until every one of `lines` is in what it has written; false once the
  // process has ended without writing them, or after `deadline` (which only
  // bounds a hang).
  [[nodiscard]] bool wait_logged(const std::vector<std::string>& lines,
                                 std::chrono::milliseconds deadline = std::chrono::seconds(60));
  // SIGTERM, then the exit status (-1 when it did not exit within `deadline`
  // or ended by a signal).
  int terminate(std::chrono::milliseconds deadline = std::chrono::seconds(30));
  // SIGKILL: the host ends at once, without any of its shutdown steps.
  void kill();
  // SIGHUP: the host reloads its configuration.
  void hangup();
  // What it has written so far.
  [[nodiscard]] std::string log() const;
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::filesystem::path log_;
};

}  // namespace airssys::wasm::testing
