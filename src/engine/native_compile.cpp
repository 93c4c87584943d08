// The native tier's compiler child processes (native_compile.hpp): wasm2c
// and the C compiler run under a guard in a process group of their own, with
// resource limits, a deadline and cancellation; the bounds on what reaches
// them; the check of the compiled frames' sizes.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wabt/binary-reader-nop.h>
#include <wabt/binary-reader.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "backend_support.hpp"
#include "exceptions.hpp"
#include "native_codegen.hpp"
#include "native_compile.hpp"
#include "native_runtime_sources.hpp"

namespace airssys::wasm::engine::detail {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxLog = 4096;

// The guard's answer to the host's death (PR_SET_PDEATHSIG): the whole
// process group goes, the guard with it.
void kill_own_group(int) { ::kill(0, SIGKILL); }

// Reads the code section's shape without building anything from it: one
// event per function body and per br_table, no recursion.
class BoundsReader final : public wabt::BinaryReaderNop {
 public:
  explicit BoundsReader(const CompilerConfig& config) : config_(config) {}

  wabt::Result BeginFunctionBody(wabt::Index index, wabt::Offset size) override {
    function_ = index;
    if (config_.max_function_bytes != 0 && size > config_.max_function_bytes) {
      refusal_ = fmt::format("function {} has a body of {} bytes, over the native compile "
                             "bound of {} bytes (max_function_size)",
                             index, size, config_.max_function_bytes);
      return wabt::Result::Error;
    }
    return wabt::Result::Ok;
  }
  wabt::Result OnBrTableExpr(wabt::Index num_targets, wabt::Index*, wabt::Index) override {
    if (config_.max_br_table_targets != 0 && num_targets > config_.max_br_table_targets) {
      refusal_ = fmt::format("function {} has a br_table of {} targets, over the native compile "
                             "bound of {} (max_br_table_targets)",
                             function_, num_targets, config_.max_br_table_targets);
      return wabt::Result::Error;
    }
    return wabt::Result::Ok;
  }
  [[nodiscard]] const std::string& refusal() const { return refusal_; }

 private:
  const CompilerConfig& config_;
  wabt::Index function_ = 0;
  std::string refusal_;
};

// Removes a build directory and everything in it.
struct TempDir {
  fs::path path;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

}  // namespace

std::optional<std::string> read_text(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  struct stat st{};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    out.resize_and_overwrite(static_cast<size_t>(st.st_size), [](char*, size_t n) { return n; });
  }
  size_t done = 0;
  for (;;) {
    if (done == out.size()) out.resize(std::max<size_t>(out.size() * 2, 4096));
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

Result<void> write_file(const fs::path& path, std::string_view data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return make_error(ErrorCode::IoError,
                      fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return make_error(ErrorCode::IoError,
                        fmt::format("cannot write {}: {}", path.string(), std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return make_error(ErrorCode::IoError, fmt::format("cannot write {}", path.string()));
  }
  return {};
}

namespace {

// Starts argv under its guard (run_child); the guard's pid, which is also
// its process group's.
Result<pid_t> start_child(const std::vector<std::string>& argv, const fs::path& dir,
                          const fs::path& log, const CompilerConfig& config,
                          std::chrono::steady_clock::time_point deadline) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string tmp = "TMPDIR=" + dir.string();
  std::array<const char*, 4> env{"PATH=/usr/bin:/bin", "LC_ALL=C", tmp.c_str(), nullptr};
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out < 0 || in < 0) {
    if (out >= 0) ::close(out);
    if (in >= 0) ::close(in);
    return make_error(ErrorCode::IoError, fmt::format("cannot create {}", log.string()));
  }
  const auto left = std::chrono::ceil<std::chrono::seconds>(
      std::max(deadline - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration{}));
  const rlim_t memory = config.memory_bytes;
  const rlim_t cpu = static_cast<rlim_t>(left.count()) + 1;
  const pid_t host = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out);
    ::close(in);
    return make_error(ErrorCode::IoError, fmt::format("cannot start {}: {}", argv[0],
                                                      std::strerror(errno)));
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::setpgid(0, 0);
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    ::sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    }
    struct sigaction on_host_death{};
    on_host_death.sa_handler = kill_own_group;
    ::sigfillset(&on_host_death.sa_mask);
    ::sigaction(SIGTERM, &on_host_death, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != host) kill_own_group(0);  // the host went before the line above
    ::setpriority(PRIO_PROCESS, 0, 5);
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    struct rlimit as{memory, memory};
    struct rlimit cpu_limit{cpu, cpu};
    struct rlimit core{0, 0};
    struct rlimit fsize{1ull << 30, 1ull << 30};
    ::setrlimit(RLIMIT_AS, &as);
    ::setrlimit(RLIMIT_CPU, &cpu_limit);
    ::setrlimit(RLIMIT_CORE, &core);
    ::setrlimit(RLIMIT_FSIZE, &fsize);
    pid_t tool = ::fork();
    if (tool < 0) ::_exit(126);
    if (tool == 0) {
      ::signal(SIGTERM, SIG_DFL);
      ::execve(args[0], args.data(), const_cast<char* const*>(env.data()));
      ::_exit(127);
    }
    int status = 0;
    while (::waitpid(tool, &status, 0) < 0) {
      if (errno != EINTR) ::_exit(126);
    }
    if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
    // The tool's signal, passed on as the guard's own.
    ::signal(WTERMSIG(status), SIG_DFL);
    ::kill(::getpid(), WTERMSIG(status));
    ::_exit(128 + WTERMSIG(status));
  }
  ::close(out);
  ::close(in);
  return pid;
}

// The start of what a child wrote.
std::string read_log(const fs::path& log) {
  auto text = read_text(log).value_or("");
  if (text.size() > kMaxLog) text = text.substr(0, kMaxLog) + "...";
  return text;
}

}  // namespace

bool ProcessSlots::try_take() {
  size_t free = free_.load(std::memory_order_relaxed);
  while (free > 0) {
    if (free_.compare_exchange_weak(free, free - 1, std::memory_order_acquire)) return true;
  }
  return false;
}

void ProcessSlots::give() { free_.fetch_add(1, std::memory_order_release); }

Result<std::vector<ChildOutcome>> run_children(const std::vector<ChildJob>& jobs,
                                               const fs::path& dir, const CompilerConfig& config,
                                               std::chrono::steady_clock::time_point deadline,
                                               const std::atomic<bool>* cancel,
                                               const std::atomic<bool>* stopping,
                                               size_t parallel, ProcessSlots* slots,
                                               const std::function<void(size_t)>& on_done) {
  struct Running {
    size_t job;
    pid_t pid;
    bool slot;
  };
  std::vector<ChildOutcome> outcomes(jobs.size());
  std::vector<Running> running;
  size_t next = 0;
  bool failed = false;
  parallel = std::max<size_t>(parallel, 1);
  // Ends every child still running (its whole group), recording why.
  auto kill_all = [&](bool cancelled, bool timed_out, bool abandoned) {
    for (const auto& r : running) {
      ::kill(-r.pid, SIGKILL);
      int status = 0;
      ::waitpid(r.pid, &status, 0);
      auto& o = outcomes[r.job];
      o.status = status;
      o.cancelled = cancelled;
      o.timed_out = timed_out;
      o.abandoned = abandoned;
      o.log = read_log(jobs[r.job].log);
      if (r.slot && slots) slots->give();
    }
    running.clear();
  };
  auto pause = std::chrono::microseconds(200);
  while (next < jobs.size() || !running.empty()) {
    bool progressed = false;
    // Start what the caps allow; with nothing running, one starts whatever
    // the engine-wide cap says, so a compile always makes progress.
    while (!failed && next < jobs.size() && running.size() < parallel) {
      const bool slot = slots && slots->try_take();
      if (slots && !slot && !running.empty()) break;
      auto pid = start_child(jobs[next].argv, dir, jobs[next].log, config, deadline);
      if (!pid) {
        if (slot) slots->give();
        kill_all(false, false, true);
        return std::unexpected(pid.error());
      }
      outcomes[next].started = true;
      running.push_back({next++, *pid, slot});
      progressed = true;
    }
    for (size_t i = 0; i < running.size();) {
      int status = 0;
      pid_t r = ::waitpid(running[i].pid, &status, WNOHANG);
      if (r < 0 && errno != EINTR) {
        const int err = errno;
        kill_all(false, false, true);
        return make_error(ErrorCode::InternalError,
                          fmt::format("waiting for {}: {}", jobs[running[i].job].argv[0],
                                      std::strerror(err)));
      }
      if (r != running[i].pid) {
        ++i;
        continue;
      }
      // What the tool started may still run in the group: it goes too.
      ::kill(-running[i].pid, SIGKILL);
      auto& o = outcomes[running[i].job];
      o.status = status;
      o.log = read_log(jobs[running[i].job].log);
      if (running[i].slot && slots) slots->give();
      const size_t job = running[i].job;
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      progressed = true;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (on_done) on_done(job);
      } else {
        failed = true;
      }
    }
    if (failed) {
      // One unit failed: the compile has failed, the others go at once.
      kill_all(false, false, true);
      break;
    }
    const bool stop = (cancel && cancel->load(std::memory_order_acquire)) ||
                      (stopping && stopping->load(std::memory_order_acquire));
    if (stop || std::chrono::steady_clock::now() >= deadline) {
      kill_all(stop, !stop, false);
      for (size_t j = next; j < jobs.size(); ++j) {
        outcomes[j].cancelled = stop;
        outcomes[j].timed_out = !stop;
      }
      break;
    }
    if (progressed) {
      pause = std::chrono::microseconds(200);
      continue;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
  return outcomes;
}

Result<ChildOutcome> run_child(const std::vector<std::string>& argv, const fs::path& dir,
                               const fs::path& log, const CompilerConfig& config,
                               std::chrono::steady_clock::time_point deadline,
                               const std::atomic<bool>* cancel,
                               const std::atomic<bool>* stopping) {
  auto outcomes = run_children({ChildJob{argv, log}}, dir, config, deadline, cancel, stopping, 1,
                               nullptr, {});
  if (!outcomes) return std::unexpected(outcomes.error());
  return std::move(outcomes->front());
}

Result<void> check_child(const ChildOutcome& o, std::string_view what, std::string_view name,
                         const CompilerConfig& config) {
  if (o.cancelled) {
    return make_error(ErrorCode::CallCancelled,
                      fmt::format("{}: the native compile was stopped ({} killed)", name, what));
  }
  if (o.timed_out) {
    return make_error(ErrorCode::CompileLimit,
                      fmt::format("{}: {} did not finish within the native compile time bound "
                                  "of {} ms",
                                  name, what, config.timeout.count()));
  }
  if (WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0) return {};
  if (WIFSIGNALED(o.status) && (WTERMSIG(o.status) == SIGXCPU || WTERMSIG(o.status) == SIGKILL)) {
    return make_error(ErrorCode::CompileLimit,
                      fmt::format("{}: {} was killed by signal {} at the native compile CPU "
                                  "bound",
                                  name, what, WTERMSIG(o.status)));
  }
  for (std::string_view full : {"out of memory", "memory exhausted", "Cannot allocate memory"}) {
    if (o.log.find(full) != std::string::npos) {
      return make_error(ErrorCode::CompileLimit,
                        fmt::format("{}: {} ran out of the native compile memory bound of {} "
                                    "bytes",
                                    name, what, config.memory_bytes));
    }
  }
  std::string how = WIFSIGNALED(o.status) ? fmt::format("was killed by signal {}", WTERMSIG(o.status))
                                          : fmt::format("failed with status {}",
                                                        WEXITSTATUS(o.status));
  return make_error(ErrorCode::CompileFailed,
                    fmt::format("{}: {} {}{}{}", name, what, how, o.log.empty() ? "" : ": ",
                                o.log));
}

const std::vector<std::string>& native_cc_flags() {
  static const std::vector<std::string> flags{
      "-std=gnu11", "-fPIC", "-fvisibility=hidden", "-ffp-contract=off", "-fsignaling-nans",
      "-fno-strict-aliasing", "-fno-optimize-sibling-calls", "-fstack-usage", "-DNDEBUG", "-w",
      "-I."};
  return flags;
}

const std::vector<std::string>& native_opt_flags() {
  // The inliner's size limit for functions not declared inline is raised from
  // -O2's 15 to 40: wasm2c's C of a small function carries the metering and
  // the stack check besides, which kept it from the inlining (fib: of its own
  // recursion) that the same function gets as C source (docs/design.md).
  static const std::vector<std::string> flags{"-O2", "--param=max-inline-insns-auto=40"};
  return flags;
}

const std::vector<std::string>& native_cheap_flags() {
  // A huge function's compile at -O2 takes about twice as long as at -O1.
  static const std::vector<std::string> flags{"-O1"};
  return flags;
}

const std::vector<std::string>& native_guard_cc_flags() {
  // Loads and stores go unchecked (the MMU checks them). The stores made
  // before one that faults stay made, in order, as with explicit checks: under
  // -fno-strict-aliasing every store of linear memory may change the
  // memory's own data pointer, which is loaded again for the next access, so
  // the C compiler neither joins neighbouring stores into one wider store nor
  // moves a store past a later access (guard_pages_test.cpp checks both).
  static const std::vector<std::string> flags{"-DAIRSSYS_GUARD_PAGES=1"};
  return flags;
}

Result<void> NativeCompiler::check_bounds(std::span<const uint8_t> bytes,
                                          std::string_view name) const {
  if (config_.max_module_bytes != 0 && bytes.size() > config_.max_module_bytes) {
    return make_error(ErrorCode::CompileLimit,
                      fmt::format("{}: the module has {} bytes, over the native compile bound "
                                  "of {} bytes (max_module_size)",
                                  name, bytes.size(), config_.max_module_bytes));
  }
  BoundsReader reader(config_);
  wabt::ReadBinaryOptions options(engine_features(), nullptr, false, true, false);
  // The toolkit reads exception handling in its legacy form only.
  auto translated = translate_exceptions(bytes);
  if (translated && *translated) bytes = **translated;
  if (wabt::Failed(wabt::ReadBinary(bytes.data(), bytes.size(), &reader, options))) {
    if (!reader.refusal().empty()) {
      return make_error(ErrorCode::CompileLimit, fmt::format("{}: {}", name, reader.refusal()));
    }
    return make_error(ErrorCode::MalformedModule,
                      fmt::format("{}: the module could not be read", name));
  }
  return {};
}

void NativeCompiler::cancel_all() { stopping_.store(true, std::memory_order_release); }

Result<void> check_stack_frames(const fs::path& dir, std::string_view name) {
  bool reported = false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".su") continue;
    reported = true;
    auto text = read_text(entry.path());
    if (!text) continue;  // an empty report: no function of that source
    size_t at = 0;
    while (at < text->size()) {
      size_t end = text->find('\n', at);
      if (end == std::string::npos) end = text->size();
      std::string_view line(text->data() + at, end - at);
      at = end + 1;
      if (line.empty()) continue;
      // "file:line:column:function<TAB>bytes<TAB>static|dynamic[,bounded]"
      size_t tab = line.find('\t');
      size_t tab2 = tab == std::string_view::npos ? tab : line.find('\t', tab + 1);
      if (tab2 == std::string_view::npos) {
        return make_error(ErrorCode::CompileFailed,
                          fmt::format("{}: the C compiler's stack report cannot be read", name));
      }
      uint64_t bytes = 0;
      auto digits = line.substr(tab + 1, tab2 - tab - 1);
      auto [ptr, parsed] = std::from_chars(digits.data(), digits.data() + digits.size(), bytes);
      std::string_view kind = line.substr(tab2 + 1);
      // "dynamic,bounded": at most the bytes given; "dynamic" alone: unknown.
      if (parsed != std::errc() || ptr != digits.data() + digits.size() ||
          bytes > kMaxNativeFrameBytes || kind == "dynamic") {
        std::string_view function = line.substr(0, tab);
        function = function.substr(function.rfind(':') + 1);
        return make_error(
            ErrorCode::CompileFailed,
            fmt::format("{}: native tier: function {} needs a stack frame of {} bytes ({}); the "
                        "native tier allows {} (the interpreter runs it)",
                        name, function, digits, kind, kMaxNativeFrameBytes));
      }
    }
  }
  if (!reported) {
    return make_error(ErrorCode::CompileFailed,
                      fmt::format("{}: the C compiler wrote no stack report", name));
  }
  return {};
}

Result<std::vector<uint8_t>> NativeCompiler::compile(const NativePlan& plan, std::string_view name,
                                                     std::string_view reason,
                                                     const std::atomic<bool>* cancel) {
  // One deadline for the whole compile, whatever tools it takes.
  const auto began = std::chrono::steady_clock::now();
  const auto deadline = began + config_.timeout;
  if (stopping_.load(std::memory_order_acquire)) {
    return make_error(ErrorCode::CallCancelled,
                      fmt::format("{}: the native compile was stopped (the host stops)", name));
  }
  NativeCompileEvent event;
  event.module = name;
  event.reason = reason;
  event.cache_dir = config_.cache_dir;
  event.jobs = config_.jobs;
  auto report = [&](NativeCompileEvent::Kind kind) {
    if (!config_.on_compile) return;
    event.kind = kind;
    event.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - began);
    config_.on_compile(event);
  };
  report(NativeCompileEvent::Kind::Started);
  // Whatever ends the compile early, the one who watches hears of it.
  struct FailedUnlessDone {
    decltype(report)& report_;
    bool done = false;
    ~FailedUnlessDone() {
      if (!done) report_(NativeCompileEvent::Kind::Failed);
    }
  } failed_unless_done{report};
  std::string pattern = (config_.cache_dir / "build-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    return make_error(ErrorCode::IoError,
                      fmt::format("cannot create a build directory in {}: {}",
                                  config_.cache_dir.string(), std::strerror(errno)));
  }
  TempDir dir{pattern};
  const fs::path& d = dir.path;
  std::string_view bytes(reinterpret_cast<const char*>(plan.bytes.data()), plan.bytes.size());
  AIRSSYS_TRY(write_file(d / "module.wasm", bytes));

  auto w2c = run_child({config_.wasm2c.string(), "module.wasm", "-n", "m",
                        "--enable-multi-memory", "--enable-exceptions", "-o", "module.c"},
                       d,
                       d / "wasm2c.log", config_, deadline, cancel, &stopping_);
  if (!w2c) return std::unexpected(w2c.error());
  AIRSSYS_TRY(check_child(*w2c, "wasm2c", name, config_));
  auto generated = read_text(d / "module.c");
  if (!generated) {
    return make_error(ErrorCode::CompileFailed, fmt::format("{}: wasm2c wrote no C", name));
  }
  auto sources = finish_c(std::move(*generated), plan);
  if (!sources) return std::unexpected(sources.error());
  std::error_code ec;
  fs::remove(d / "module.c", ec);
  AIRSSYS_TRY(write_file(d / kNativeHeaderName, sources->header));
  AIRSSYS_TRY(write_file(d / "wasm-rt.h", kNativeWasmRtH));
  AIRSSYS_TRY(write_file(d / "airssys-native.h", kNativeAbiH));
  AIRSSYS_TRY(write_file(d / "airssys-rt.c", kNativeRuntimeC));

  // Each unit to an object, at most `jobs` at once, the largest first (the
  // wall time is about the largest unit's, or the total over the jobs);
  // then one link.
  struct Unit {
    std::string file;
    size_t bytes;
    bool cheap;
  };
  std::vector<Unit> units;
  for (auto& u : sources->units) {
    AIRSSYS_TRY(write_file(d / u.file, u.text));
    // A huge function's unit compiles about twice as fast per byte.
    units.push_back({u.file, u.cheap ? u.text.size() / 2 : u.text.size(), u.cheap});
  }
  units.push_back({"airssys-rt.c", kNativeRuntimeC.size(), false});
  std::stable_sort(units.begin(), units.end(),
                   [](const Unit& a, const Unit& b) { return a.bytes > b.bytes; });
  std::vector<ChildJob> jobs;
  std::vector<std::string> objects;
  for (const auto& u : units) {
    ChildJob job;
    job.argv.push_back(config_.cc.string());
    for (const auto& f : native_cc_flags()) job.argv.push_back(f);
    if (config_.guard_pages) {
      for (const auto& f : native_guard_cc_flags()) job.argv.push_back(f);
    }
    for (const auto& f : u.cheap ? native_cheap_flags() : native_opt_flags()) {
      job.argv.push_back(f);
    }
    const std::string object = u.file.substr(0, u.file.rfind('.')) + ".o";
    for (const std::string& a : {std::string("-c"), u.file, std::string("-o"), object}) {
      job.argv.push_back(a);
    }
    job.log = d / (object + ".log");
    jobs.push_back(std::move(job));
    objects.push_back(object);
  }
  event.units = jobs.size();
  report(NativeCompileEvent::Kind::Compiling);
  auto compiled = run_children(jobs, d, config_, deadline, cancel, &stopping_, config_.jobs,
                               &slots_, [&](size_t) {
                                 ++event.units_done;
                                 report(NativeCompileEvent::Kind::UnitDone);
                               });
  if (!compiled) return std::unexpected(compiled.error());
  // A cancel or the deadline first; else the unit that failed (the others
  // were killed for it).
  for (const auto& o : *compiled) {
    if (o.cancelled || o.timed_out) AIRSSYS_TRY(check_child(o, "the C compiler", name, config_));
  }
  for (const auto& o : *compiled) {
    if (o.started && !o.abandoned) AIRSSYS_TRY(check_child(o, "the C compiler", name, config_));
  }
  std::vector<std::string> argv{config_.cc.string(), "-shared", "-fPIC", "-o", "module.so"};
  for (auto& o : objects) argv.push_back(std::move(o));
  for (const char* a : {"-Wl,-z,defs", "-lm"}) argv.emplace_back(a);
  auto link = run_child(argv, d, d / "link.log", config_, deadline, cancel, &stopping_);
  if (!link) return std::unexpected(link.error());
  AIRSSYS_TRY(check_child(*link, "the linker", name, config_));
  AIRSSYS_TRY(check_stack_frames(d, name));
  auto object = read_text(d / "module.so");
  if (!object || object->empty()) {
    return make_error(ErrorCode::CompileFailed,
                      fmt::format("{}: the C compiler wrote no shared object", name));
  }
  {
    std::lock_guard lock(mutex_);
    ++stats_.compiles;
  }
  failed_unless_done.done = true;
  report(NativeCompileEvent::Kind::Finished);
  return std::vector<uint8_t>(object->begin(), object->end());
}

}  // namespace airssys::wasm::engine::detail
