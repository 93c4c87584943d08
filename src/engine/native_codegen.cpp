#include "native_codegen.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader-nop.h>
#include <wabt/binary-reader.h>
#include <wabt/binary-writer.h>
#include <wabt/cast.h>
#include <wabt/config.h>
#include <wabt/ir.h>
#include <wabt/stream.h>

#include <algorithm>
#include <map>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "backend_support.hpp"
#include "metering.hpp"
#include "native_runtime_sources.hpp"

namespace airssys::wasm::engine::detail {
namespace {

namespace fs = std::filesystem;

// Changes whenever the generated glue or the patches change: part of the key.
constexpr std::string_view kGeneratorVersion = "airssys-native-glue-10";
constexpr std::string_view kEntryMagic = "AIRSSYS-NATIVE4\n";  // 16 bytes
constexpr size_t kDigestBytes = crypto_hash_sha256_BYTES;
constexpr size_t kMaxLog = 4096;

FuncSig func_sig(const wabt::FuncSignature& sig) {
  return sig_from_wabt(sig.param_types, sig.result_types);
}

NativeLimits limits_of(const wabt::Limits& l) { return {l.initial, l.max, l.has_max}; }

bool numbers_only(const FuncSig& sig) {
  auto number = [](ValType t) {
    return t == ValType::I32 || t == ValType::I64 || t == ValType::F32 || t == ValType::F64;
  };
  return std::all_of(sig.params.begin(), sig.params.end(), number) &&
         std::all_of(sig.results.begin(), sig.results.end(), number);
}

bool uses_v128(const FuncSig& sig) {
  for (auto t : sig.params) if (t == ValType::V128) return true;
  for (auto t : sig.results) if (t == ValType::V128) return true;
  return false;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[kDigestBytes];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string out;
  for (auto b : digest) out += fmt::format("{:02x}", b);
  return out;
}

// C spelling of a value type, the slot field holding it, and its letter in
// wasm2c's multi-value struct names.
const char* c_type(ValType t) {
  switch (t) {
    case ValType::I32: return "u32";
    case ValType::I64: return "u64";
    case ValType::F32: return "f32";
    case ValType::F64: return "f64";
    case ValType::FuncRef: return "wasm_rt_funcref_t";
    case ValType::ExternRef: return "wasm_rt_externref_t";
    case ValType::V128: break;
  }
  return "void";
}
const char* slot_field(ValType t) {
  switch (t) {
    case ValType::I32: return "i32";
    case ValType::I64: return "i64";
    case ValType::F32: return "f32";
    case ValType::F64: return "f64";
    case ValType::FuncRef: return "funcref";
    case ValType::ExternRef: return "externref";
    case ValType::V128: break;
  }
  return "i32";
}
char multi_letter(ValType t) {
  switch (t) {
    case ValType::I32: return 'i';
    case ValType::I64: return 'j';
    case ValType::F32: return 'f';
    case ValType::F64: return 'd';
    case ValType::FuncRef: return 'r';
    case ValType::ExternRef: return 'e';
    case ValType::V128: break;
  }
  return '?';
}

std::string return_type(const FuncSig& sig) {
  if (sig.results.empty()) return "void";
  if (sig.results.size() == 1) return c_type(sig.results[0]);
  std::string name = "struct wasm_multi_";
  for (auto t : sig.results) name += multi_letter(t);
  return name;
}

// "T0 a0, T1 a1" (with a leading ", " when `leading`).
std::string param_list(const FuncSig& sig, bool leading) {
  std::string out;
  for (size_t i = 0; i < sig.params.size(); ++i) {
    if (leading || i) out += ", ";
    out += fmt::format("{} a{}", c_type(sig.params[i]), i);
  }
  return out;
}

std::string arg_list(const FuncSig& sig, std::string_view prefix) {
  std::string out;
  for (size_t i = 0; i < sig.params.size(); ++i) out += fmt::format(", {}{}", prefix, i);
  return out;
}

std::string result_field(const FuncSig& sig, size_t i) {
  return fmt::format("{}{}", multi_letter(sig.results[i]), i);
}

// Replaces exactly one occurrence, or fails: the generated text is fixed by
// the wabt version, so a miss means a wasm2c this code was not written for.
Result<void> replace_once(std::string& text, std::string_view from, std::string_view to) {
  auto at = text.find(from);
  if (at == std::string::npos || text.find(from, at + 1) != std::string::npos) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("native tier: wasm2c output differs from the expected form "
                                  "(looking for '{}')",
                                  from.substr(0, 40)));
  }
  text.replace(at, from.size(), to);
  return {};
}

constexpr std::string_view kCallIndirectFrom = R"(#define CALL_INDIRECT(table, t, ft, x, ...)             \
  (LIKELY((x) < table.size && table.data[x].func &&     \
          table.data[x].func_type == func_types[ft]) || \
       TRAP(CALL_INDIRECT),                             \
   ((t)table.data[x].func)(__VA_ARGS__)))";

constexpr std::string_view kCallIndirectTo = R"(#define CALL_INDIRECT(table, t, ft, x, ...)                          \
  ((UNLIKELY((x) >= table.size) ? TRAP(TABLE_OOB) : 0),                \
   (UNLIKELY(!table.data[x].func) ? TRAP(UNINIT_ELEM) : 0),            \
   (UNLIKELY(table.data[x].func_type != func_types[ft]) ? TRAP(SIG_MISMATCH) : 0), \
   ((t)table.data[x].func)(__VA_ARGS__)))";

constexpr std::string_view kPrologueFrom = "#else\n#define FUNC_PROLOGUE\n";
constexpr std::string_view kPrologueTo =
    "#else\n#define FUNC_PROLOGUE                                                  \\\n"
    "  if (UNLIKELY((airssys_stack_pointer() & (AIRSSYS_STACK_SIZE - 1)) <         \\\n"
    "               AIRSSYS_STACK_RESERVE))                                        \\\n"
    "    TRAP(EXHAUSTION)\n";

constexpr std::string_view kTableHelpersStart = "typedef struct {\n  uint32_t func_type_index;";
constexpr std::string_view kTableHelpersEnd = "static bool s_module_initialized";

std::string import_glue(const NativePlan& plan) {
  std::string out;
  for (size_t k = 0; k < plan.imports.size(); ++k) {
    const auto& imp = plan.imports[k];
    const std::string fn = fmt::format("Z_aZ_i{}", k);
    const std::string items = fmt::format("((airssys_imports*)p_)->self->items[{}]", k);
    switch (imp.kind) {
      case ExternKind::Func: {
        const auto& sig = imp.sig;
        std::string ret = return_type(sig);
        const bool direct = imp.module != kReservedModule && numbers_only(sig);
        // A typed host function (host_function<F>()) is called straight
        // from the import's function, its arguments in registers; everything
        // else that import may be is out of line, so the C compiler may
        // inline the import's function where the guest calls it.
        const bool typed = direct && sig.results.size() <= 1;
        std::string typed_fn;
        if (typed) {
          typed_fn += fmt::format("{} {}(struct Z_a_instance_t* p_{}) {{\n", ret, fn,
                                  param_list(sig, true));
          typed_fn += "  airssys_imports* im_ = ((airssys_imports*)p_)->self;\n";
          std::string types, args;
          for (size_t i = 0; i < sig.params.size(); ++i) {
            types += fmt::format(", {}", c_type(sig.params[i]));
            args += fmt::format(", a{}", i);
          }
          typed_fn += fmt::format("  if (im_->items[{}].typed != NULL) {{\n", k);
          typed_fn += "    void* err_ = NULL;\n";
          std::string call = fmt::format(
              "(({} (*)(void*, void**{}))im_->items[{}].typed)(im_->items[{}].call, &err_{})", ret,
              types, k, k, args);
          if (sig.results.empty()) {
            typed_fn += fmt::format("    {};\n", call);
          } else {
            typed_fn += fmt::format("    {} r_ = {};\n", ret, call);
          }
          typed_fn += "    if (UNLIKELY(err_ != NULL)) {\n"
                      "      airssys_host->raise_error(im_->host_instance, err_);\n"
                      "      wasm_rt_trap(WASM_RT_TRAP_HOST);\n    }\n";
          typed_fn += sig.results.empty() ? "    return;\n  }\n" : "    return r_;\n  }\n";
          typed_fn += fmt::format("  {}{}_other(p_{});\n}}\n",
                                  sig.results.empty() ? "" : "return ", fn, arg_list(sig, "a"));
        }
        out += fmt::format("{}{} {}{}(struct Z_a_instance_t* p_{}) {{\n",
                           typed ? "static __attribute__((noinline)) " : "", ret, fn,
                           typed ? "_other" : "", param_list(sig, true));
        out += "  airssys_imports* im_ = ((airssys_imports*)p_)->self;\n";
        out += fmt::format("  if (im_->items[{}].instance) {{\n", k);
        std::string fptr = fmt::format("(({} (*)(void*{}))im_->items[{}].pointer)", ret,
                                       [&] {
                                         std::string s;
                                         for (auto t : sig.params) s += fmt::format(", {}", c_type(t));
                                         return s;
                                       }(),
                                       k);
        if (sig.results.empty()) {
          out += fmt::format("    {}(im_->items[{}].instance{});\n    return;\n  }}\n", fptr, k,
                             arg_list(sig, "a"));
        } else {
          out += fmt::format("    return {}(im_->items[{}].instance{});\n  }}\n", fptr, k,
                             arg_list(sig, "a"));
        }
        const bool fuel_function = imp.module == kReservedModule && imp.name == kFuelExhaustedName;
        if (direct) {
          // Any other host function: raw 64-bit slots, no dispatch.
          out += fmt::format("  uint64_t args_[{}];\n  uint64_t res_[{}] = {{0}};\n",
                             std::max<size_t>(1, sig.params.size()),
                             std::max<size_t>(1, sig.results.size()));
          for (size_t i = 0; i < sig.params.size(); ++i) {
            switch (sig.params[i]) {
              case ValType::F32:
                out += fmt::format("  {{ uint32_t b_; memcpy(&b_, &a{0}, 4); args_[{0}] = b_; }}\n", i);
                break;
              case ValType::F64:
                out += fmt::format("  memcpy(&args_[{0}], &a{0}, 8);\n", i);
                break;
              default:
                out += fmt::format("  args_[{0}] = (uint64_t)a{0};\n", i);
                break;
            }
          }
          out += fmt::format(
              "  if (UNLIKELY(((airssys_host_fn)im_->items[{0}].pointer)(im_->items[{0}].host, "
              "args_, res_))) wasm_rt_trap(WASM_RT_TRAP_HOST);\n",
              k);
          auto result = [&](size_t i) -> std::string {
            switch (sig.results[i]) {
              case ValType::F32:
                return fmt::format("({{ uint32_t b_ = (uint32_t)res_[{0}]; f32 v_; memcpy(&v_, &b_, 4); v_; }})", i);
              case ValType::F64:
                return fmt::format("({{ f64 v_; memcpy(&v_, &res_[{0}], 8); v_; }})", i);
              case ValType::I32: return fmt::format("(u32)res_[{}]", i);
              default: return fmt::format("res_[{}]", i);
            }
          };
          if (sig.results.size() == 1) {
            out += fmt::format("  return {};\n", result(0));
          } else if (sig.results.size() > 1) {
            out += fmt::format("  {} r_;\n", ret);
            for (size_t i = 0; i < sig.results.size(); ++i) {
              out += fmt::format("  r_.{} = {};\n", result_field(sig, i), result(i));
            }
            out += "  return r_;\n";
          }
          out += "}\n";
          out += typed_fn;
          break;
        }
        size_t slots = std::max<size_t>({1, sig.params.size(), sig.results.size()});
        out += fmt::format("  airssys_slot io_[{}];\n", slots);
        for (size_t i = 0; i < sig.params.size(); ++i) {
          out += fmt::format("  io_[{}].{} = a{};\n", i, slot_field(sig.params[i]), i);
        }
        if (fuel_function) {
          out += "  airssys_call_ctx* ctx_ = airssys_ctx_of(airssys_stack_pointer());\n";
          out += "  AIRSSYS_FUEL_SAVE(ctx_);\n";
        }
        out += fmt::format(
            "  if (airssys_host->call_import(im_->host_instance, {}, io_)) "
            "wasm_rt_trap(WASM_RT_TRAP_HOST);\n",
            k);
        if (fuel_function) out += "  AIRSSYS_FUEL_LOAD(ctx_);\n";
        if (sig.results.size() == 1) {
          out += fmt::format("  return io_[0].{};\n", slot_field(sig.results[0]));
        } else if (sig.results.size() > 1) {
          out += fmt::format("  {} r_;\n", ret);
          for (size_t i = 0; i < sig.results.size(); ++i) {
            out += fmt::format("  r_.{} = io_[{}].{};\n", result_field(sig, i), i,
                               slot_field(sig.results[i]));
          }
          out += "  return r_;\n";
        }
        out += "}\n";
        break;
      }
      case ExternKind::Global:
        out += fmt::format("{0}* {1}(struct Z_a_instance_t* p_) {{ return ({0}*){2}.pointer; }}\n",
                           c_type(imp.type), fn, items);
        break;
      case ExternKind::Memory:
        out += fmt::format(
            "wasm_rt_memory_t* {}(struct Z_a_instance_t* p_) {{ return (wasm_rt_memory_t*){}.pointer; "
            "}}\n",
            fn, items);
        break;
      case ExternKind::Table: {
        const char* t = imp.type == ValType::FuncRef ? "wasm_rt_funcref_table_t"
                                                     : "wasm_rt_externref_table_t";
        out += fmt::format("{0}* {1}(struct Z_a_instance_t* p_) {{ return ({0}*){2}.pointer; }}\n", t,
                           fn, items);
        break;
      }
      case ExternKind::Tag:
        break;
    }
  }
  return out;
}

std::string export_glue(const NativePlan& plan) {
  std::string out;
  std::string calls, entries, pointers;
  for (size_t k = 0; k < plan.exports.size(); ++k) {
    const auto& exp = plan.exports[k];
    const std::string fn = fmt::format("Z_mZ_e{}", k);
    if (exp.kind == ExternKind::Func) {
      const auto& sig = exp.sig;
      out += fmt::format("static void airssys_x{}(void* inst_, void* io_v) {{\n", k);
      out += "  airssys_slot* io_ = (airssys_slot*)io_v;\n  (void)io_;\n";
      std::string args;
      for (size_t i = 0; i < sig.params.size(); ++i) {
        args += fmt::format(", io_[{}].{}", i, slot_field(sig.params[i]));
      }
      std::string call = fmt::format("{}((Z_m_instance_t*)inst_{})", fn, args);
      if (sig.results.empty()) {
        out += fmt::format("  {};\n", call);
      } else if (sig.results.size() == 1) {
        out += fmt::format("  io_[0].{} = {};\n", slot_field(sig.results[0]), call);
      } else {
        out += fmt::format("  {} r_ = {};\n", return_type(sig), call);
        for (size_t i = 0; i < sig.results.size(); ++i) {
          out += fmt::format("  io_[{}].{} = r_.{};\n", i, slot_field(sig.results[i]),
                             result_field(sig, i));
        }
      }
      out += "}\n";
      calls += fmt::format("airssys_x{}, ", k);
      entries += fmt::format("(wasm_rt_function_ptr_t){}, ", fn);
      pointers += "NULL, ";
    } else {
      out += fmt::format("static void* airssys_p{}(void* inst_) {{ return (void*){}((Z_m_instance_t*)inst_); }}\n",
                         k, fn);
      calls += "NULL, ";
      entries += "NULL, ";
      pointers += fmt::format("airssys_p{}, ", k);
    }
  }
  out += fmt::format("static const airssys_thunk airssys_calls[] = {{{}NULL}};\n", calls);
  out += fmt::format("static const wasm_rt_function_ptr_t airssys_entries[] = {{{}NULL}};\n",
                     entries);
  out += fmt::format("static const airssys_pointer_fn airssys_pointers[] = {{{}NULL}};\n",
                     pointers);
  return out;
}

// Reads a whole file; an empty optional when it cannot be opened or read.
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

Result<void> write_file(const fs::path& path, std::string_view data, mode_t mode = 0600) {
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

struct ChildOutcome {
  int status = 0;
  bool timed_out = false;
  bool cancelled = false;
  std::string log;
};

// The guard's answer to the host's death (PR_SET_PDEATHSIG): the whole
// process group goes, the guard with it.
void kill_own_group(int) { ::kill(0, SIGKILL); }

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

// A private directory: created 0700 when missing; refused when it belongs to
// someone else or others may enter it.
Result<void> ensure_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(ErrorCode::IoError, fmt::format("cannot create the native cache {}: {}",
                                                      dir.string(), std::strerror(errno)));
  }
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::IoError,
                      fmt::format("the native cache {} is not a directory", dir.string()));
  }
  if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("the native cache {} must be a directory of this user with "
                                  "mode 0700 (it has {:o})",
                                  dir.string(), st.st_mode & 0777));
  }
  return {};
}

// Removes a build directory and everything in it.
struct TempDir {
  fs::path path;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

// The body of an entry whose recorded digest matches; nothing otherwise.
std::optional<std::string_view> verified_body(std::string_view entry) {
  if (entry.size() < kEntryMagic.size() + 64 || entry.substr(0, kEntryMagic.size()) != kEntryMagic) {
    return std::nullopt;
  }
  std::string_view recorded = entry.substr(kEntryMagic.size(), 64);
  std::string_view body = entry.substr(kEntryMagic.size() + 64);
  if (body.empty() || sha256_hex(body) != recorded) return std::nullopt;
  return body;
}

// The entry's body encoding: little-endian integers, strings and byte runs
// with a 32-bit (objects: 64-bit) length before them.
class EntryWriter {
 public:
  void u8(uint8_t v) { out_ += static_cast<char>(v); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void str(std::string_view v) {
    u32(static_cast<uint32_t>(v.size()));
    out_ += v;
  }
  void types(const std::vector<ValType>& v) {
    u32(static_cast<uint32_t>(v.size()));
    for (auto t : v) u8(static_cast<uint8_t>(t));
  }
  void sig(const FuncSig& v) {
    types(v.params);
    types(v.results);
  }
  void limits(const NativeLimits& l) {
    u64(l.initial);
    u64(l.max);
    u8(l.has_max);
  }
  void extern_type(const ExternType& t) {
    u8(static_cast<uint8_t>(t.kind));
    sig(t.sig);
    u8(static_cast<uint8_t>(t.value));
    u8(t.mutable_global);
    limits(NativeLimits{t.limits.initial, t.limits.max.value_or(0), t.limits.max.has_value()});
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

class EntryReader {
 public:
  explicit EntryReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool at_end() const { return at_ == in_.size(); }
  uint8_t u8() {
    if (at_ >= in_.size()) return fail();
    return static_cast<uint8_t>(in_[at_++]);
  }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{u8()} << (8 * i);
    return v;
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{u8()} << (8 * i);
    return v;
  }
  std::string_view bytes(uint64_t n) {
    if (!ok_ || n > in_.size() - at_) {
      fail();
      return {};
    }
    auto v = in_.substr(at_, n);
    at_ += n;
    return v;
  }
  std::string str() { return std::string(bytes(u32())); }
  // A count of items each at least `min_bytes` long: bounded by what is left.
  uint32_t count(size_t min_bytes) {
    uint32_t n = u32();
    if (ok_ && n > (in_.size() - at_) / min_bytes) fail();
    return ok_ ? n : 0;
  }
  ValType type() {
    uint8_t t = u8();
    if (t > static_cast<uint8_t>(ValType::ExternRef)) fail();
    return static_cast<ValType>(t);
  }
  ExternKind kind() {
    uint8_t k = u8();
    if (k > static_cast<uint8_t>(ExternKind::Tag)) fail();
    return static_cast<ExternKind>(k);
  }
  bool flag() {
    uint8_t f = u8();
    if (f > 1) fail();
    return f == 1;
  }
  std::vector<ValType> types() {
    std::vector<ValType> out(count(1));
    for (auto& t : out) t = type();
    return out;
  }
  FuncSig sig() {
    FuncSig s;
    s.params = types();
    s.results = types();
    return s;
  }
  NativeLimits limits() {
    NativeLimits l;
    l.initial = u64();
    l.max = u64();
    l.has_max = flag();
    return l;
  }
  ExternType extern_type() {
    ExternType t;
    t.kind = kind();
    t.sig = sig();
    t.value = type();
    t.mutable_global = flag();
    NativeLimits l = limits();
    t.limits = ExternLimits{l.initial, l.has_max ? std::optional<uint64_t>(l.max) : std::nullopt};
    return t;
  }

 private:
  uint8_t fail() {
    ok_ = false;
    at_ = in_.size();
    return 0;
  }
  std::string_view in_;
  size_t at_ = 0;
  bool ok_ = true;
};

}  // namespace

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

std::string encode_entry(std::string_view key, const NativeEntry& entry) {
  EntryWriter w;
  w.str(key);
  w.u32(static_cast<uint32_t>(entry.imports.size()));
  for (const auto& i : entry.imports) {
    w.str(i.module);
    w.str(i.name);
    w.extern_type(i);
  }
  w.u32(static_cast<uint32_t>(entry.exports.size()));
  for (const auto& e : entry.exports) {
    w.str(e.name);
    w.extern_type(e);
  }
  const auto& plan = entry.plan;
  w.u32(static_cast<uint32_t>(plan.imports.size()));
  for (const auto& i : plan.imports) {
    w.str(i.module);
    w.str(i.name);
    w.u8(static_cast<uint8_t>(i.kind));
    w.sig(i.sig);
    w.u8(static_cast<uint8_t>(i.type));
    w.u8(i.mutable_);
    w.limits(i.limits);
  }
  w.u32(static_cast<uint32_t>(plan.exports.size()));
  for (const auto& e : plan.exports) {
    w.str(e.name);
    w.u8(static_cast<uint8_t>(e.kind));
    w.sig(e.sig);
    w.u8(static_cast<uint8_t>(e.type));
    w.u8(e.mutable_);
    w.limits(e.limits);
  }
  for (const auto* list : {&plan.memories, &plan.tables}) {
    w.u32(static_cast<uint32_t>(list->size()));
    for (const auto& l : *list) w.limits(l);
  }
  // What the host alone uses: the guest's share of the exports, the hidden
  // exports of the mutable globals and the start function, and whether the
  // module's state can move (Instance::save_state).
  w.u32(static_cast<uint32_t>(plan.guest_exports));
  w.u32(static_cast<uint32_t>(plan.state_globals.size()));
  for (uint32_t k : plan.state_globals) w.u32(k);
  w.u8(plan.start_export.has_value());
  w.u32(plan.start_export.value_or(0));
  w.str(entry.state_hazard);
  w.u32(static_cast<uint32_t>(entry.warnings.size()));
  for (const auto& warning : entry.warnings) w.str(warning);
  w.u32(static_cast<uint32_t>(entry.func_names.size()));
  for (const auto& name : entry.func_names) w.str(name);
  w.u64(entry.object.size());
  w.out().append(reinterpret_cast<const char*>(entry.object.data()), entry.object.size());
  return std::move(w.out());
}

std::optional<NativeEntry> decode_entry(std::string_view key, std::string_view body) {
  EntryReader r(body);
  if (r.str() != key || !r.ok()) return std::nullopt;
  NativeEntry entry;
  entry.imports.resize(r.count(8));
  for (auto& i : entry.imports) {
    i.module = r.str();
    i.name = r.str();
    static_cast<ExternType&>(i) = r.extern_type();
  }
  entry.exports.resize(r.count(4));
  for (auto& e : entry.exports) {
    e.name = r.str();
    static_cast<ExternType&>(e) = r.extern_type();
  }
  auto& plan = entry.plan;
  plan.imports.resize(r.count(8));
  for (auto& i : plan.imports) {
    i.module = r.str();
    i.name = r.str();
    i.kind = r.kind();
    i.sig = r.sig();
    i.type = r.type();
    i.mutable_ = r.flag();
    i.limits = r.limits();
  }
  plan.exports.resize(r.count(4));
  for (auto& e : plan.exports) {
    e.name = r.str();
    e.kind = r.kind();
    e.sig = r.sig();
    e.type = r.type();
    e.mutable_ = r.flag();
    e.limits = r.limits();
  }
  for (auto* list : {&plan.memories, &plan.tables}) {
    list->resize(r.count(17));
    for (auto& l : *list) l = r.limits();
  }
  plan.guest_exports = r.u32();
  if (plan.guest_exports > plan.exports.size()) return std::nullopt;
  plan.state_globals.resize(r.count(4));
  for (auto& k : plan.state_globals) {
    k = r.u32();
    if (k >= plan.exports.size() || k < plan.guest_exports ||
        plan.exports[k].kind != ExternKind::Global) {
      return std::nullopt;
    }
  }
  const bool has_start = r.flag();
  const uint32_t start = r.u32();
  if (has_start) {
    if (start >= plan.exports.size() || start < plan.guest_exports ||
        plan.exports[start].kind != ExternKind::Func) {
      return std::nullopt;
    }
    plan.start_export = start;
  }
  entry.state_hazard = r.str();
  entry.warnings.resize(r.count(4));
  for (auto& warning : entry.warnings) warning = r.str();
  entry.func_names.resize(r.count(4));
  for (auto& name : entry.func_names) name = r.str();
  auto object = r.bytes(r.u64());
  if (!r.ok() || !r.at_end() || object.empty()) return std::nullopt;
  entry.object.assign(object.begin(), object.end());
  return entry;
}

namespace {

Result<NativePlan> plan_native_here(std::span<const uint8_t> metered) {
  wabt::Errors errors;
  wabt::Module module;
  wabt::Features features;
  wabt::ReadBinaryOptions options(features, nullptr, false, true, false);
  if (wabt::Failed(wabt::ReadBinaryIr("module", metered.data(), metered.size(), options, &errors,
                                      &module))) {
    return make_error(ErrorCode::InternalError, "native tier: the metered module did not decode");
  }
  NativePlan plan;
  for (size_t k = 0; k < module.imports.size(); ++k) {
    wabt::Import* imp = module.imports[k];
    NativeImport info;
    info.module = imp->module_name;
    info.name = imp->field_name;
    switch (imp->kind()) {
      case wabt::ExternalKind::Func:
        info.kind = ExternKind::Func;
        info.sig = func_sig(wabt::cast<wabt::FuncImport>(imp)->func.decl.sig);
        break;
      case wabt::ExternalKind::Global: {
        auto& g = wabt::cast<wabt::GlobalImport>(imp)->global;
        info.kind = ExternKind::Global;
        info.type = from_wabt(g.type);
        info.mutable_ = g.mutable_;
        break;
      }
      case wabt::ExternalKind::Memory:
        info.kind = ExternKind::Memory;
        info.limits = limits_of(wabt::cast<wabt::MemoryImport>(imp)->memory.page_limits);
        break;
      case wabt::ExternalKind::Table: {
        auto& t = wabt::cast<wabt::TableImport>(imp)->table;
        info.kind = ExternKind::Table;
        info.type = from_wabt(t.elem_type);
        info.limits = limits_of(t.elem_limits);
        break;
      }
      case wabt::ExternalKind::Tag:
        return make_error(ErrorCode::CompileFailed,
                          "native tier: exception tags are not supported");
    }
    if ((info.kind == ExternKind::Func && uses_v128(info.sig)) ||
        (info.kind == ExternKind::Global && info.type == ValType::V128)) {
      return make_error(ErrorCode::CompileFailed,
                        "native tier: 128-bit vector (SIMD) values are not supported");
    }
    imp->module_name = "a";
    imp->field_name = fmt::format("i{}", k);
    plan.imports.push_back(std::move(info));
  }
  for (size_t k = 0; k < module.exports.size(); ++k) {
    wabt::Export* exp = module.exports[k];
    NativeExport info;
    info.name = exp->name;
    switch (exp->kind) {
      case wabt::ExternalKind::Func:
        info.kind = ExternKind::Func;
        info.sig = func_sig(module.GetFunc(exp->var)->decl.sig);
        break;
      case wabt::ExternalKind::Global: {
        auto* g = module.GetGlobal(exp->var);
        info.kind = ExternKind::Global;
        info.type = from_wabt(g->type);
        info.mutable_ = g->mutable_;
        break;
      }
      case wabt::ExternalKind::Memory:
        info.kind = ExternKind::Memory;
        info.limits = limits_of(module.GetMemory(exp->var)->page_limits);
        break;
      case wabt::ExternalKind::Table: {
        auto* t = module.GetTable(exp->var);
        info.kind = ExternKind::Table;
        info.type = from_wabt(t->elem_type);
        info.limits = limits_of(t->elem_limits);
        break;
      }
      case wabt::ExternalKind::Tag:
        return make_error(ErrorCode::CompileFailed,
                          "native tier: exception tags are not supported");
    }
    if ((info.kind == ExternKind::Func && uses_v128(info.sig)) ||
        (info.kind == ExternKind::Global && info.type == ValType::V128)) {
      return make_error(ErrorCode::CompileFailed,
                        "native tier: 128-bit vector (SIMD) values are not supported");
    }
    exp->name = fmt::format("e{}", k);
    plan.exports.push_back(std::move(info));
  }
  // Exports the host uses and the guest never sees (not in Module::exports):
  // each mutable defined global, so that Instance::save_state reaches it, and
  // the start function, which the host runs after instantiation unless the
  // instance continues from a saved state.
  plan.guest_exports = plan.exports.size();
  auto add_hidden = [&](wabt::ExternalKind kind, wabt::Index index) {
    auto field = std::make_unique<wabt::ExportModuleField>();
    field->export_.name = fmt::format("e{}", plan.exports.size());
    field->export_.kind = kind;
    field->export_.var = wabt::Var(index, {});
    module.AppendField(std::move(field));
  };
  for (size_t i = module.num_global_imports; i < module.globals.size(); ++i) {
    const auto* g = module.globals[i];
    if (!g->mutable_) continue;
    NativeExport info;
    info.name = fmt::format("(global {})", i);
    info.kind = ExternKind::Global;
    info.type = from_wabt(g->type);
    info.mutable_ = true;
    plan.state_globals.push_back(static_cast<uint32_t>(plan.exports.size()));
    add_hidden(wabt::ExternalKind::Global, static_cast<wabt::Index>(i));
    plan.exports.push_back(std::move(info));
  }
  if (!module.starts.empty()) {
    NativeExport info;
    info.name = "(start)";
    info.kind = ExternKind::Func;
    plan.start_export = static_cast<uint32_t>(plan.exports.size());
    info.sig = func_sig(module.GetFunc(*module.starts[0])->decl.sig);
    add_hidden(wabt::ExternalKind::Func, module.GetFuncIndex(*module.starts[0]));
    plan.exports.push_back(std::move(info));
    module.starts.clear();
  }
  for (size_t i = module.num_memory_imports; i < module.memories.size(); ++i) {
    plan.memories.push_back(limits_of(module.memories[i]->page_limits));
  }
  for (size_t i = module.num_table_imports; i < module.tables.size(); ++i) {
    plan.tables.push_back(limits_of(module.tables[i]->elem_limits));
  }
  for (const auto* type : module.types) {
    auto* f = wabt::dyn_cast<wabt::FuncType>(type);
    if (f && uses_v128(func_sig(f->sig))) {
      return make_error(ErrorCode::CompileFailed,
                        "native tier: 128-bit vector (SIMD) values are not supported");
    }
  }
  for (const auto* f : module.funcs) {
    for (auto t : f->local_types) {
      if (t == wabt::Type::V128) {
        return make_error(ErrorCode::CompileFailed,
                          "native tier: 128-bit vector (SIMD) values are not supported");
      }
    }
  }
  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions write_options(features, true, false, false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, &module, write_options))) {
    return make_error(ErrorCode::InternalError, "native tier: writing the renamed module failed");
  }
  plan.bytes = std::move(stream.output_buffer().data);
  return plan;
}

}  // namespace

Result<NativePlan> plan_native(std::span<const uint8_t> metered) {
  // The module's IR is built, written and destroyed by recursive code of the
  // toolkit: on a stack of its own, sized for kMaxBlockNesting.
  std::optional<Result<NativePlan>> out;
  if (!run_on_large_stack([&] { out.emplace(plan_native_here(metered)); })) {
    return make_error(ErrorCode::InternalError, "native tier: cannot start the planning thread");
  }
  return std::move(*out);
}

namespace {

// The C names of the functions the module defines, in index order, from
// wasm2c's declarations of them.
std::vector<std::string> defined_function_names(std::string_view c) {
  std::vector<std::string> names;
  constexpr std::string_view kParams = "(Z_m_instance_t*";
  size_t line_start = 0;
  while (line_start < c.size()) {
    size_t line_end = c.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = c.size();
    std::string_view line = c.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    if (!line.starts_with("static ") || !line.ends_with(");")) continue;
    const size_t params = line.find(kParams);
    if (params == std::string_view::npos) continue;
    const size_t name_start = line.rfind(' ', params);
    if (name_start == std::string_view::npos) continue;
    std::string_view name = line.substr(name_start + 1, params - name_start - 1);
    if (name.starts_with("w2c_")) names.emplace_back(name);
  }
  return names;
}

// The defined function an export's wrapper calls ("w2c_NAME"), from the
// wrapper's body as wasm2c writes it: "T WRAPPER(Z_m_instance_t* instance,
// ...) {" and on the next line the call. Empty when it calls none.
std::string export_target(std::string_view c, std::string_view wrapper) {
  const std::string head = fmt::format(" {}(Z_m_instance_t* instance", wrapper);
  const size_t at = c.find(head);
  if (at == std::string_view::npos) return {};
  const size_t body = c.find('\n', at);
  if (body == std::string_view::npos) return {};
  const size_t body_end = c.find('\n', body + 1);
  std::string_view line = c.substr(body + 1, body_end == std::string_view::npos
                                                 ? std::string_view::npos
                                                 : body_end - body - 1);
  const size_t name = line.find("w2c_");
  const size_t open = line.find("(instance");
  if (name == std::string_view::npos || open == std::string_view::npos || open < name) return {};
  return std::string(line.substr(name, open - name));
}

}  // namespace

Result<std::string> finish_c(std::string c, const NativePlan& plan) {
  // The fuel global of the metering pass becomes the register variable
  // (airssys-native.h) wherever the register exists.
  for (size_t k = 0; k < plan.imports.size(); ++k) {
    const auto& imp = plan.imports[k];
    if (imp.module != kReservedModule || imp.name != kFuelGlobalName) continue;
    const std::string use = fmt::format("(*instance->Z_aZ_i{})", k);
    std::string replaced;
    replaced.reserve(c.size());
    size_t from = 0;
    for (size_t at; (at = c.find(use, from)) != std::string::npos; from = at + use.size()) {
      replaced.append(c, from, at - from);
      replaced += "AIRSSYS_FUEL_VAR";
    }
    replaced.append(c, from);
    c = std::move(replaced);
    c = "#define AIRSSYS_NATIVE_MODULE 1\n#include \"airssys-native.h\"\n"
        "#if AIRSSYS_FUEL_REGISTER\n#define AIRSSYS_FUEL_VAR airssys_fuel\n#else\n"
        "#define AIRSSYS_FUEL_VAR (*(uint64_t*)airssys_ctx_of(airssys_stack_pointer())->fuel_cell)\n"
        "#endif\n" + c;
  }
  AIRSSYS_TRY(replace_once(c, kCallIndirectFrom, kCallIndirectTo));
  AIRSSYS_TRY(replace_once(c, kPrologueFrom, kPrologueTo));
  auto start = c.find(kTableHelpersStart);
  auto end = c.find(kTableHelpersEnd);
  if (start == std::string::npos || end == std::string::npos || end < start) {
    return make_error(ErrorCode::InternalError,
                      "native tier: wasm2c output differs from the expected form (table helpers)");
  }
  std::string helpers = c.substr(start, end - start);
  for (size_t at = 0; (at = helpers.find("TRAP(OOB)", at)) != std::string::npos;) {
    helpers.replace(at, 9, "TRAP(TABLE_OOB)");
  }
  c.replace(start, end - start, helpers);

  std::string glue = "\n/* airssys-wasm glue */\n#include \"airssys-native.h\"\n";
  glue += "extern const airssys_host_api* airssys_host;\n";
  glue += "int airssys_enter(airssys_thunk fn, void* a, void* b);\n";
  glue += "extern int airssys_bind_failed;\n";
  glue += import_glue(plan);
  glue += export_glue(plan);
  // Where each defined function's code begins, for the backtraces of traps:
  // its own entry, and the export glue that calls it (the C compiler may
  // inline the function there).
  const auto defined = defined_function_names(c);
  std::map<std::string, uint32_t, std::less<>> index_of;
  for (uint32_t k = 0; k < defined.size(); ++k) index_of.emplace(defined[k], k);
  glue += "static const airssys_code_entry airssys_code[] = {";
  for (uint32_t k = 0; k < defined.size(); ++k) {
    glue += fmt::format("\n  {{(const void*)&{}, {}, 0}},", defined[k], k);
  }
  for (size_t k = 0; k < plan.exports.size(); ++k) {
    if (plan.exports[k].kind != ExternKind::Func) continue;
    auto target = index_of.find(export_target(c, fmt::format("Z_mZ_e{}", k)));
    if (target == index_of.end()) continue;  // an import exported again
    glue += fmt::format(
        "\n  {{(const void*)&airssys_x{0}, {1}, 1}}, {{(const void*)&Z_mZ_e{0}, {1}, 1}},", k,
        target->second);
  }
  glue += "\n  {0, 0, 0}};\n";
  glue += R"(static int airssys_bind(const airssys_host_api* api) {
  airssys_host = api;
  airssys_bind_failed = 0;
  Z_m_init_module();
  return airssys_bind_failed;
}
static void airssys_instantiate(void* inst, void* imports) {
  Z_m_instantiate((Z_m_instance_t*)inst, (struct Z_a_instance_t*)imports);
}
static void airssys_free(void* inst) { Z_m_free((Z_m_instance_t*)inst); }
)";
  glue += fmt::format(
      "__attribute__((visibility(\"default\"))) const airssys_module_desc airssys_module = {{\n"
      "  AIRSSYS_NATIVE_ABI, sizeof(Z_m_instance_t), {}, {}, airssys_bind, airssys_instantiate,\n"
      "  airssys_free, airssys_enter, airssys_calls, airssys_entries, airssys_pointers,\n"
      "  airssys_code}};\n",
      plan.imports.size(), plan.exports.size());
  return c + glue;
}

Result<std::unique_ptr<NativeCompiler>> NativeCompiler::create(CompilerConfig config) {
  if (sodium_init() < 0) return make_error(ErrorCode::InternalError, "libsodium failed to start");
  for (const auto* tool : {&config.wasm2c, &config.cc}) {
    if (tool->empty() || !tool->is_absolute() || ::access(tool->c_str(), X_OK) != 0) {
      return make_error(ErrorCode::InvalidConfig,
                        fmt::format("native tier: '{}' is not an executable given by absolute path",
                                    tool->string()));
    }
  }
  AIRSSYS_TRY(ensure_private_dir(config.cache_dir));
  std::unique_ptr<NativeCompiler> compiler(new NativeCompiler(std::move(config)));
  // The identity of everything besides the module that decides the object.
  std::string identity{kGeneratorVersion};
  auto tmp = compiler->config_.cache_dir / fmt::format("identity-{}.log", ::getpid());
  for (const auto* tool : {&compiler->config_.wasm2c, &compiler->config_.cc}) {
    auto outcome = run_child({tool->string(), "--version"}, compiler->config_.cache_dir, tmp,
                             compiler->config_,
                             std::chrono::steady_clock::now() + compiler->config_.timeout,
                             nullptr, nullptr);
    std::error_code ec;
    fs::remove(tmp, ec);
    if (!outcome) return std::unexpected(outcome.error());
    AIRSSYS_TRY(check_child(*outcome, fmt::format("{} --version", tool->string()), "native tier",
                            compiler->config_));
    identity += "\n" + fs::weakly_canonical(*tool).string() + "\n" + outcome->log;
  }
  for (const auto& f : native_cc_flags()) identity += " " + f;
  identity += "\n";
  identity += kNativeWasmRtH;
  identity += kNativeAbiH;
  identity += kNativeRuntimeC;
  // What runs before the compilers: a key of the module's own bytes must
  // change with the loader, the metering and the code generation.
  identity += fmt::format("\nwabt {} pipeline {}\n", WABT_VERSION_STRING, kNativePipelineDigest);
  compiler->identity_ = std::move(identity);
  crypto_hash_sha256_init(&compiler->identity_state_);
  crypto_hash_sha256_update(&compiler->identity_state_,
                            reinterpret_cast<const unsigned char*>(compiler->identity_.data()),
                            compiler->identity_.size());
  const unsigned char separator = 0;
  crypto_hash_sha256_update(&compiler->identity_state_, &separator, 1);
  return compiler;
}

std::string NativeCompiler::module_key(std::span<const uint8_t> module_bytes) const {
  // The identity and a separator are absorbed once, at creation.
  crypto_hash_sha256_state state = identity_state_;
  crypto_hash_sha256_update(&state, module_bytes.data(), module_bytes.size());
  unsigned char digest[kDigestBytes];
  crypto_hash_sha256_final(&state, digest);
  std::string out;
  out.reserve(2 * kDigestBytes);
  for (auto b : digest) out += fmt::format("{:02x}", b);
  return out;
}

fs::path NativeCompiler::entry_path(const std::string& key) const {
  return config_.cache_dir / (key + ".so");
}

CompileStats NativeCompiler::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::optional<NativeEntry> NativeCompiler::lookup(const std::string& key) {
  const fs::path path = entry_path(key);
  auto text = read_text(path);
  if (!text) return std::nullopt;
  if (auto body = verified_body(*text)) {
    if (auto entry = decode_entry(key, *body)) {
      std::lock_guard lock(mutex_);
      ++stats_.cache_hits;
      return entry;
    }
  }
  // Changed, truncated or foreign: never loaded, rebuilt by the caller.
  std::error_code ec;
  fs::remove(path, ec);
  std::lock_guard lock(mutex_);
  ++stats_.cache_refused;
  return std::nullopt;
}

bool NativeCompiler::holds(const std::string& key) const {
  auto text = read_text(entry_path(key));
  if (!text) return false;
  auto body = verified_body(*text);
  return body && decode_entry(key, *body).has_value();
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
  wabt::ReadBinaryOptions options(wabt::Features{}, nullptr, false, true, false);
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

Result<std::vector<uint8_t>> NativeCompiler::build(const std::string& key, const NativeEntry& entry,
                                                   std::string_view name,
                                                   const std::atomic<bool>* cancel) {
  if (config_.cache_only) {
    return make_error(ErrorCode::NotFound,
                      fmt::format("{}: the native cache holds no compiled code for it", name));
  }
  auto object = compile(entry.plan, name, cancel);
  if (!object) return std::unexpected(object.error());
  // Everything but the plan's module bytes, which a hit does not need.
  NativeEntry stored;
  stored.imports = entry.imports;
  stored.exports = entry.exports;
  stored.plan.imports = entry.plan.imports;
  stored.plan.exports = entry.plan.exports;
  stored.plan.guest_exports = entry.plan.guest_exports;
  stored.plan.state_globals = entry.plan.state_globals;
  stored.plan.start_export = entry.plan.start_export;
  stored.plan.memories = entry.plan.memories;
  stored.plan.tables = entry.plan.tables;
  stored.state_hazard = entry.state_hazard;
  stored.warnings = entry.warnings;
  stored.func_names = entry.func_names;
  stored.object = *object;
  const std::string body = encode_entry(key, stored);
  std::string data{kEntryMagic};
  data += sha256_hex(body);
  data += body;
  // Published by rename, so a reader sees a whole entry or none.
  const fs::path path = entry_path(key);
  auto tmp = config_.cache_dir /
             fmt::format(".{}.{}.{}", path.filename().string(), ::getpid(),
                         std::hash<std::thread::id>{}(std::this_thread::get_id()));
  std::error_code ec;
  fs::remove(tmp, ec);
  if (write_file(tmp, data)) {
    fs::rename(tmp, path, ec);
    if (ec) fs::remove(tmp, ec);
  }
  return object;
}

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

  auto w2c = run_child({config_.wasm2c.string(), "module.wasm", "-n", "m", "-o", "module.c"}, d,
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
