// Command components run whole-process: each run is a process of its own, the
// real airssys-wasm binary (or jco on node), timed from fork until wait4
// returns, with the CPU time (user + system) wait4 reports for the child and
// the children it waited for. Two programs, each made into a command
// component by jco's preview 1 adapter (`jco new --wasi-command`):
//   hello      the example examples/hello: `airssys-wasm run` of the
//              component against `airssys-wasm run` of the core module it was
//              made from, on the interpreter and on the native tier
//              (target: the component at most 1.3x the core module)
//   write_mib  bench/components/write_mib.c, which writes 1 MiB to stdout:
//              the same four runs, and `jco run` of the component on node, the
//              reference (target: the component on the native tier faster);
//              plus node on the code `jco run` transpiled once, which is
//              `jco run` without its transpile on every run
// Every run is checked: exit status 0 and stdout exactly the program's output
// (drained from a pipe); a row whose run fails stops with the reason, the
// others go on. Rows whose input was not built (no jco, no node) are left out
// and said so.
//
// The rows interleave: repetition r runs every row once before r+1, so a
// change in the machine's load falls on all of them. Before the first
// repetition each row runs once untimed: the native tier compiles into the
// cache of a private AIRSSYS_HOME in the build tree
// (AIRSSYS_COMPONENT_RUN_HOME), so no compile is timed.
//
// Usage: bench_component_run [--reps N] [--program hello|write_mib] [--timeout SECONDS]
// Prints every row's median wall and CPU time, its ratio against its baseline
// of the same run, and whether each target is met.

#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "support/child.hpp"
#include "support/report.hpp"
#include "write_mib.h"

namespace airssys::wasm::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

template <class T>
using Expected = std::expected<T, std::string>;

constexpr int kDefaultReps = 11;
constexpr auto kDefaultTimeout = 120s;  // a timed run
constexpr auto kWarmupTimeout = 900s;   // the untimed first run: native compiles, jco's transpile
constexpr double kComponentTarget = 1.3;  // hello: component / core module

// ---- One process, timed: support/child.hpp ------------------------------

using Outcome = ChildOutcome;

std::string first_line(std::string_view text) {
  const auto nl = text.find('\n');
  return std::string(text.substr(0, std::min<size_t>(nl, 300)));
}

// Why a run failed, or nothing when it did what it should.
std::optional<std::string> check(const Outcome& o, const std::string& expected,
                                 std::chrono::steady_clock::duration timeout) {
  const std::string err = o.err.empty() ? "" : ": " + first_line(o.err);
  if (o.timed_out) {
    return fmt::format("no end after {} s, killed{}",
                       std::chrono::duration_cast<std::chrono::seconds>(timeout).count(), err);
  }
  if (WIFSIGNALED(o.wait_status)) {
    return fmt::format("killed by signal {}{}", WTERMSIG(o.wait_status), err);
  }
  if (!WIFEXITED(o.wait_status) || WEXITSTATUS(o.wait_status) != 0) {
    const int code = WIFEXITED(o.wait_status) ? WEXITSTATUS(o.wait_status) : -1;
    return fmt::format("exit status {}{}{}", code,
                       code == 127 ? " (the program could not be started)" : "", err);
  }
  if (o.out != expected) {
    size_t at = 0;
    while (at < o.out.size() && at < expected.size() && o.out[at] == expected[at]) ++at;
    return fmt::format("stdout is {} bytes, {} expected, first difference at byte {}{}",
                       o.out.size(), expected.size(), at, err);
  }
  return std::nullopt;
}

// ---- The rows ---------------------------------------------------------------

struct Row {
  std::string program;  // "hello", "write_mib"
  std::string label;
  std::vector<std::string> argv;
  const std::string* expected = nullptr;
  int baseline = -1;              // index of the row it is compared with
  std::vector<std::string> prep;  // run once before its warm-up, untimed (jco's transpile)
  std::string missing;            // why it is left out, when its input was not built
  std::optional<std::string> failure;
  std::vector<double> wall_ns;
  std::vector<double> cpu_ns;
};

bool ran(const Row& row) { return row.missing.empty() && !row.failure && !row.wall_ns.empty(); }

double median(std::vector<double> v) { return percentile(std::move(v), 50); }

std::string format_time(double ns) {
  if (ns >= 1e9) return fmt::format("{:.3f} s", ns / 1e9);
  if (ns >= 1e8) return fmt::format("{:.0f} ms", ns / 1e6);
  if (ns >= 1e7) return fmt::format("{:.1f} ms", ns / 1e6);
  return fmt::format("{:.2f} ms", ns / 1e6);
}

std::string missing_input(const std::vector<std::string>& files) {
  for (const auto& f : files) {
    if (f.empty()) return "jco or node is not installed (scripts/setup.sh installs jco)";
    if (!fs::exists(f)) return f + " was not built (jco is not installed?)";
  }
  return {};
}

std::vector<Row> make_rows(const std::string& hello_out, const std::string& mib_out) {
  const std::string cli = AIRSSYS_CLI;
  const std::string jco = AIRSSYS_JCO_PROGRAM;
  const std::string node = AIRSSYS_NODE_PROGRAM;
  const fs::path jco_dir = fs::path(AIRSSYS_COMPONENT_RUN_JCO_DIR) / "write_mib";
  std::vector<Row> rows;
  auto add = [&](std::string program, std::string label, std::vector<std::string> argv,
                 const std::string* expected, int baseline,
                 std::vector<std::string> inputs) -> int {
    Row row;
    row.program = std::move(program);
    row.label = std::move(label);
    row.argv = std::move(argv);
    row.expected = expected;
    row.baseline = baseline;
    row.missing = missing_input(inputs);
    rows.push_back(std::move(row));
    return static_cast<int>(rows.size()) - 1;
  };
  for (const char* tier : {"interp", "native"}) {
    const int core = add("hello", fmt::format("core module, {}", tier),
                         {cli, "run", "--tier", tier, AIRSSYS_HELLO_CORE_WASM}, &hello_out, -1,
                         {AIRSSYS_HELLO_CORE_WASM});
    add("hello", fmt::format("component, {}", tier),
        {cli, "run", "--tier", tier, AIRSSYS_HELLO_COMPONENT_WASM}, &hello_out, core,
        {AIRSSYS_HELLO_COMPONENT_WASM});
  }
  const int jco_run = add("write_mib", "jco run (node)",
                          {jco, "run", AIRSSYS_WRITE_MIB_COMPONENT_WASM}, &mib_out, -1,
                          {jco, node, AIRSSYS_WRITE_MIB_COMPONENT_WASM});
  const int node_row = add("write_mib", "node, transpiled once",
                           {node, (jco_dir / "_run.js").string()}, &mib_out, jco_run,
                           {jco, node, AIRSSYS_WRITE_MIB_COMPONENT_WASM});
  rows[static_cast<size_t>(node_row)].prep = {jco, "run", "--jco-dir", jco_dir.string(),
                                              AIRSSYS_WRITE_MIB_COMPONENT_WASM};
  for (const char* tier : {"interp", "native"}) {
    const int core = add("write_mib", fmt::format("core module, {}", tier),
                         {cli, "run", "--tier", tier, AIRSSYS_WRITE_MIB_CORE_WASM}, &mib_out,
                         rows[static_cast<size_t>(jco_run)].missing.empty() ? jco_run : -1,
                         {AIRSSYS_WRITE_MIB_CORE_WASM});
    add("write_mib", fmt::format("component, {}", tier),
        {cli, "run", "--tier", tier, AIRSSYS_WRITE_MIB_COMPONENT_WASM}, &mib_out, core,
        {AIRSSYS_WRITE_MIB_COMPONENT_WASM});
  }
  return rows;
}

const Row* find(const std::vector<Row>& rows, std::string_view program, std::string_view label) {
  for (const auto& row : rows) {
    if (row.program == program && row.label == label) return &row;
  }
  return nullptr;
}

// "met" / "missed" for what / base (wall) against `limit` (below it when
// `strict`), or why it could not be decided; a `limit` of 0 only shows the
// ratio.
void target_line(const std::vector<Row>& rows, std::string_view program, std::string_view what,
                 std::string_view base, double limit, bool strict, std::string_view text) {
  const Row* a = find(rows, program, what);
  const Row* b = find(rows, program, base);
  if (!a || !b || !ran(*a) || !ran(*b)) {
    std::printf("%s %s: not measured (%s)\n", limit > 0 ? "target" : "for comparison,",
                std::string(text).c_str(),
                !a || !b ? "no such row"
                         : (!ran(*a) ? a->label : b->label).c_str());
    return;
  }
  const double ratio = median(a->wall_ns) / median(b->wall_ns);
  const double cpu_ratio = median(a->cpu_ns) / median(b->cpu_ns);
  if (limit <= 0) {
    std::printf("for comparison, %s: %.2fx wall (%.2fx CPU)\n", std::string(text).c_str(), ratio,
                cpu_ratio);
    return;
  }
  const bool met = strict ? ratio < limit : ratio <= limit;
  std::printf("target %s: %.2fx wall (%.2fx CPU): %s\n", std::string(text).c_str(), ratio,
              cpu_ratio, met ? "met" : "missed");
}

void print(const std::vector<Row>& rows, int reps) {
  std::printf("\nwhole-process runs, medians of %d interleaved repetitions; CPU = user + system "
              "of the child and its waited-for children; x = this row / its baseline\n\n",
              reps);
  std::printf("%-9s  %-22s %11s %11s  %-22s %7s %7s\n", "program", "row", "wall", "CPU",
              "baseline", "x wall", "x CPU");
  for (const auto& row : rows) {
    if (!row.missing.empty()) {
      std::printf("%-9s  %-22s left out: %s\n", row.program.c_str(), row.label.c_str(),
                  row.missing.c_str());
      continue;
    }
    if (row.failure) {
      std::printf("%-9s  %-22s FAILED: %s\n", row.program.c_str(), row.label.c_str(),
                  row.failure->c_str());
      continue;
    }
    const double wall = median(row.wall_ns);
    const double cpu = median(row.cpu_ns);
    std::string base = "-", x_wall = "-", x_cpu = "-";
    if (row.baseline >= 0) {
      const Row& b = rows[static_cast<size_t>(row.baseline)];
      base = b.label;
      if (ran(b)) {
        x_wall = fmt::format("{:.2f}", wall / median(b.wall_ns));
        x_cpu = fmt::format("{:.2f}", cpu / median(b.cpu_ns));
        headline("components", fmt::format("run {}, {}", row.program, row.label), wall, "ns",
                 b.label, median(b.wall_ns));
      }
    }
    std::printf("%-9s  %-22s %11s %11s  %-22s %7s %7s\n", row.program.c_str(),
                row.label.c_str(), format_time(wall).c_str(), format_time(cpu).c_str(),
                base.c_str(), x_wall.c_str(), x_cpu.c_str());
  }
  std::printf("\n");
  target_line(rows, "hello", "component, interp", "core module, interp", kComponentTarget, false,
              "hello, component / core module, interp, at most 1.3x");
  target_line(rows, "hello", "component, native", "core module, native", kComponentTarget, false,
              "hello, component / core module, native, at most 1.3x");
  target_line(rows, "write_mib", "component, native", "jco run (node)", 1.0, true,
              "write_mib, component on the native tier / jco run, below 1x");
  target_line(rows, "write_mib", "component, native", "node, transpiled once", 0, false,
              "write_mib, component on the native tier / node without the transpile");
}

std::string load_average() {
  std::array<double, 3> load{};
  if (::getloadavg(load.data(), 3) != 3) return "unknown";
  return fmt::format("{:.2f} {:.2f} {:.2f}", load[0], load[1], load[2]);
}

int run(int argc, char** argv) {
  int reps = kDefaultReps;
  std::string only;
  std::chrono::steady_clock::duration timeout = kDefaultTimeout;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--program" && i + 1 < argc) {
      only = argv[++i];
    } else if (arg == "--timeout" && i + 1 < argc) {
      timeout = std::chrono::seconds(std::max(1, std::atoi(argv[++i])));
    } else {
      std::fprintf(stderr, "usage: bench_component_run [--reps N] [--program hello|write_mib] "
                           "[--timeout SECONDS]\n");
      return 2;
    }
  }

  // The runs' trust configuration, approvals, audit log and native cache.
  std::error_code ec;
  fs::create_directories(AIRSSYS_COMPONENT_RUN_HOME, ec);
  ::setenv("AIRSSYS_HOME", AIRSSYS_COMPONENT_RUN_HOME, 1);

  const std::string hello_out = "Hello from a WebAssembly component!\n";
  std::string mib_out(WRITE_MIB_LINES * WRITE_MIB_LINE_SIZE, '\0');
  for (unsigned i = 0; i < WRITE_MIB_LINES; ++i) {
    write_mib_line(i, mib_out.data() + size_t{i} * WRITE_MIB_LINE_SIZE);
  }
  std::vector<Row> rows = make_rows(hello_out, mib_out);
  if (!only.empty()) {
    for (auto& row : rows) {
      if (row.program != only && row.missing.empty()) row.missing = "not asked for (--program)";
    }
  }

  std::printf("bench_component_run: %s, load average %s at the start\n", AIRSSYS_CLI,
              load_average().c_str());
  std::fflush(stdout);
  auto record_failure = [](Row& row, std::string why) {
    row.failure = std::move(why);
    std::fprintf(stderr, "%s, %s: %s\n", row.program.c_str(), row.label.c_str(),
                 row.failure->c_str());
  };

  // Warm-up, untimed: native compiles into the cache, jco's transpile for the
  // node row, the page cache; every row proves it runs before it is timed.
  for (auto& row : rows) {
    if (!row.missing.empty()) continue;
    if (!row.prep.empty()) {
      fs::remove_all(row.prep[3], ec);  // --jco-dir: transpiled afresh by this run
      auto prep = run_child(row.prep, kWarmupTimeout);
      if (!prep) {
        record_failure(row, "preparation: " + prep.error());
        continue;
      }
      if (auto why = check(*prep, *row.expected, kWarmupTimeout)) {
        record_failure(row, "preparation (" + row.prep[0] + " run --jco-dir): " + *why);
        continue;
      }
    }
    auto warm = run_child(row.argv, kWarmupTimeout);
    if (!warm) {
      record_failure(row, warm.error());
    } else if (auto why = check(*warm, *row.expected, kWarmupTimeout)) {
      record_failure(row, "first run: " + *why);
    }
  }

  for (int r = 0; r < reps; ++r) {
    for (size_t k = 0; k < rows.size(); ++k) {
      // Each repetition starts with another row.
      auto& row = rows[(k + static_cast<size_t>(r)) % rows.size()];
      if (!row.missing.empty() || row.failure) continue;
      auto outcome = run_child(row.argv, timeout);
      if (!outcome) {
        record_failure(row, outcome.error());
        continue;
      }
      if (auto why = check(*outcome, *row.expected, timeout)) {
        record_failure(row, fmt::format("repetition {}: {}", r + 1, *why));
        continue;
      }
      row.wall_ns.push_back(outcome->wall_ns);
      row.cpu_ns.push_back(outcome->cpu_ns);
    }
    std::fprintf(stderr, "repetition %d of %d done\n", r + 1, reps);
  }

  print(rows, reps);
  std::printf("load average %s at the end\n", load_average().c_str());
  const bool failed = std::any_of(rows.begin(), rows.end(), [](const Row& row) {
    return static_cast<bool>(row.failure);
  });
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace airssys::wasm::bench

int main(int argc, char** argv) { return airssys::wasm::bench::run(argc, argv); }
