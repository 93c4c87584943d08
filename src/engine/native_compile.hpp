#pragma once
// The native tier's child processes and the files its compiles and its cache
// read and write (native_compile.cpp). Private to the engine.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "native_codegen.hpp"

namespace airssys::wasm::engine::detail {

// Reads a whole file; an empty optional when it cannot be opened or read.
[[nodiscard]] std::optional<std::string> read_text(const std::filesystem::path& path);

// Creates `path` (refused when it exists) with `data`, synced to the disk.
[[nodiscard]] Result<void> write_file(const std::filesystem::path& path, std::string_view data,
                                      mode_t mode = 0600);

// How a child process ended: its wait status, whether the deadline or a
// cancel killed it, and the start of what it wrote.
struct ChildOutcome {
  int status = 0;
  bool timed_out = false;
  bool cancelled = false;
  bool started = false;
  bool abandoned = false;  // killed because another child of its compile failed
  std::string log;
};

// One child of a compile: its argv and the file its output goes to.
struct ChildJob {
  std::vector<std::string> argv;
  std::filesystem::path log;
};


// Runs argv[0] with exactly `argv`, a fixed environment and resource limits,
// in `dir`, its output going to `log`.
//
// The tool runs in a process group of its own, under a guard process that
// leads the group: the guard starts with a clean signal mask and default
// dispositions (a host that blocks signals in its threads passes neither
// on), lowers its priority below the components', sets the limits, starts
// the tool and waits for it. The group (the guard, the tool and whatever the
// tool started) is killed at the deadline, when `cancel` or `stopping`
// becomes true, and, through the guard, when the thread that started it (or
// the whole host) dies by any means.
[[nodiscard]] Result<ChildOutcome> run_child(const std::vector<std::string>& argv,
                                             const std::filesystem::path& dir,
                                             const std::filesystem::path& log,
                                             const CompilerConfig& config,
                                             std::chrono::steady_clock::time_point deadline,
                                             const std::atomic<bool>* cancel,
                                             const std::atomic<bool>* stopping);

// Runs the jobs in their order, at most `parallel` at once and, with
// `slots`, while a slot is free (a compile with nothing running starts one
// regardless, so it always makes progress), each as run_child runs one.
// `on_done(i)` follows each job that succeeded. When one fails the others
// are killed (abandoned) and none starts; at the deadline or a cancel every
// running one is killed and the rest marked alike.
[[nodiscard]] Result<std::vector<ChildOutcome>> run_children(
    const std::vector<ChildJob>& jobs, const std::filesystem::path& dir,
    const CompilerConfig& config, std::chrono::steady_clock::time_point deadline,
    const std::atomic<bool>* cancel, const std::atomic<bool>* stopping, size_t parallel,
    ProcessSlots* slots, const std::function<void(size_t)>& on_done);

// The outcome as an error, or nothing when the tool (`what`, compiling
// `name`) succeeded: CallCancelled when cancelled, CompileLimit at a bound
// (time, CPU, memory), CompileFailed with the tool's words otherwise.
[[nodiscard]] Result<void> check_child(const ChildOutcome& o, std::string_view what,
                                       std::string_view name, const CompilerConfig& config);

}  // namespace airssys::wasm::engine::detail
