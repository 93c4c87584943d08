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

Result<ChildOutcome> run_child(const std::vector<std::string>& argv, const fs::path& dir,
                               const fs::path& log, const CompilerConfig& config,
                               std::chrono::steady_clock::time_point deadline,
                               const std::atomic<bool>* cancel,
                               const std::atomic<bool>* stopping) {
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
  ChildOutcome outcome;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      outcome.status = status;
      break;
    }
    if (r < 0 && errno != EINTR) {
      ::kill(-pid, SIGKILL);
      return make_error(ErrorCode::InternalError,
                        fmt::format("waiting for {}: {}", argv[0], std::strerror(errno)));
    }
    const bool stop = (cancel && cancel->load(std::memory_order_acquire)) ||
                      (stopping && stopping->load(std::memory_order_acquire));
    if (stop || std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      outcome.status = status;
      outcome.cancelled = stop;
      outcome.timed_out = !stop;
      break;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
  // What the tool started may still run in the group: it goes too.
  ::kill(-pid, SIGKILL);
  auto text = read_text(log).value_or("");
  if (text.size() > kMaxLog) text = text.substr(0, kMaxLog) + "...";
  outcome.log = std::move(text);
  return outcome;
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
  // The inliner's size limit for functions not declared inline is raised from
  // -O2's 15 to 40: wasm2c's C of a small function carries the metering and
  // the stack check besides, which kept it from the inlining (fib: of its own
  // recursion) that the same function gets as C source (docs/design.md).
  static const std::vector<std::string> flags{
      "-std=gnu11", "-O2", "--param=max-inline-insns-auto=40", "-fPIC", "-shared",
      "-fvisibility=hidden", "-ffp-contract=off", "-fsignaling-nans",
      "-fno-strict-aliasing", "-fno-optimize-sibling-calls", "-fstack-usage", "-DNDEBUG",
      "-w", "-I."};
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
                                                     const std::atomic<bool>* cancel) {
  // One deadline for the whole compile, whatever tools it takes.
  const auto deadline = std::chrono::steady_clock::now() + config_.timeout;
  if (stopping_.load(std::memory_order_acquire)) {
    return make_error(ErrorCode::CallCancelled,
                      fmt::format("{}: the native compile was stopped (the host stops)", name));
  }
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
  auto c = finish_c(std::move(*generated), plan);
  if (!c) return std::unexpected(c.error());
  std::error_code ec;
  fs::remove(d / "module.c", ec);
  AIRSSYS_TRY(write_file(d / "module.c", *c));
  AIRSSYS_TRY(write_file(d / "wasm-rt.h", kNativeWasmRtH));
  AIRSSYS_TRY(write_file(d / "airssys-native.h", kNativeAbiH));
  AIRSSYS_TRY(write_file(d / "airssys-rt.c", kNativeRuntimeC));

  std::vector<std::string> argv{config_.cc.string()};
  for (const auto& f : native_cc_flags()) argv.push_back(f);
  if (config_.guard_pages) {
    for (const auto& f : native_guard_cc_flags()) argv.push_back(f);
  }
  for (const char* a : {"-o", "module.so", "module.c", "airssys-rt.c", "-Wl,-z,defs", "-lm"}) {
    argv.emplace_back(a);
  }
  auto cc = run_child(argv, d, d / "cc.log", config_, deadline, cancel, &stopping_);
  if (!cc) return std::unexpected(cc.error());
  AIRSSYS_TRY(check_child(*cc, "the C compiler", name, config_));
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
  return std::vector<uint8_t>(object->begin(), object->end());
}

}  // namespace airssys::wasm::engine::detail
