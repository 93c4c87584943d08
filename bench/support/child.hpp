#pragma once
// One child process, timed: what bench_coremark and bench_density run beside
// themselves (native C, node, the driver itself for one measurement). The
// child's stdout and stderr are drained from pipes and kept; its wall time
// runs from fork until wait4 returns, its CPU time is the user + system time
// wait4 reports for it and the children it waited for.

#include <chrono>
#include <expected>
#include <string>
#include <vector>

namespace airssys::wasm::bench {

struct ChildOutcome {
  double wall_ns = 0;
  double cpu_ns = 0;
  long max_rss_kib = 0;  // the child's peak resident set
  int wait_status = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv (argv[0] a path) with stdin from /dev/null, in a process group of
// its own that is killed past `timeout`. An error is the driver's own (no
// pipe, no fork), not the child's: the caller judges wait_status.
[[nodiscard]] std::expected<ChildOutcome, std::string> run_child(
    const std::vector<std::string>& argv, std::chrono::steady_clock::duration timeout);

// "" when the child exited with status 0 in time, else what happened (the
// first line of its stderr included).
[[nodiscard]] std::string child_failure(const ChildOutcome& outcome);

// This process's CPU time (user + system, every thread) in nanoseconds, and
// that of the children it has waited for.
[[nodiscard]] double self_cpu_ns();
[[nodiscard]] double children_cpu_ns();
// The peak resident set of the largest child (or grandchild) waited for, in KiB.
[[nodiscard]] long children_max_rss_kib();

}  // namespace airssys::wasm::bench
