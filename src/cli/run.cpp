#include "run.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/component/tier.hpp"
#include "airssys/wasm/engine/native_cache.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/files.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "host_setup.hpp"

namespace airssys::wasm::cli {

void record_run_tier(security::AuditLog& audit, const std::string& component,
                     engine::Tier tier) {
  security::AuditRecord r;
  r.component = component;
  r.permission = "lifecycle.tier";
  r.resource = engine::tier_name(tier);
  r.result = security::AuditResult::Granted;
  r.layer = security::DecisionLayer::Component;
  r.reason = tier == engine::Tier::Native ? "runs native code" : "runs on the interpreter";
  audit.record(std::move(r));
}

namespace {

namespace fs = std::filesystem;
using security::Permission;

// One --dir: the host directory (its real path) and the guest's name for it.
struct DirGrant {
  std::string given;
  host::Preopen preopen;
};

Result<std::vector<DirGrant>> parse_dirs(const std::vector<std::string>& dirs) {
  std::vector<DirGrant> out;
  for (const auto& given : dirs) {
    const size_t sep = given.find("::");
    std::string host_text = given.substr(0, sep);
    std::string guest = sep == std::string::npos ? host_text : given.substr(sep + 2);
    if (host_text.empty() || guest.empty()) {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("--dir: '{}' is not HOST or HOST::GUEST", given));
    }
    std::error_code ec;
    fs::path real = fs::canonical(host_text, ec);
    if (ec || !fs::is_directory(real, ec)) {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("--dir: {} is not a directory", host_text));
    }
    if (guest.size() > 1 && guest.back() == '/') guest.pop_back();
    out.push_back({given, {real.string(), guest}});
  }
  return out;
}

bool beneath_or_same(std::string_view path, std::string_view dir) {
  return dir == "/" || path == dir ||
         (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

// Whether the component's own grants reach into `dir`: a filesystem grant
// rooted in it, or one whose root holds it.
bool grants_reach(const security::WasmSecurityContext& context, const std::string& dir) {
  if (context.check(Permission::FsRead, dir).granted ||
      context.check(Permission::FsWrite, dir).granted) {
    return true;
  }
  for (auto permission : {Permission::FsRead, Permission::FsWrite}) {
    for (const auto& pattern : context.capabilities().patterns(permission)) {
      std::string root = host::pattern_root(pattern);
      if (beneath_or_same(root, dir) || beneath_or_same(dir, root)) return true;
    }
  }
  return false;
}

// The --dir grants of a run, checked and audited as grants: a component
// with a manifest gets no more than its manifest grants (--dir maps a
// directory it reaches already); one without gets read and write beneath
// each directory, on the command line's authority. The host policy is
// asked as for any access: a directory it refuses to read is refused. The
// context returned holds the grants.
Result<std::shared_ptr<const security::WasmSecurityContext>> grant_dirs(
    const std::vector<DirGrant>& dirs, const AdmittedComponent& admitted, HostSetup& host) {
  auto context = admitted.admission.context;
  if (dirs.empty()) return context;
  const std::string& name = context->component_id();
  auto record = [&](const DirGrant& d, security::AuditResult result,
                    security::DecisionLayer layer, std::string reason) {
    security::AuditRecord r;
    r.component = name;
    r.permission = "filesystem.read";
    r.resource = d.preopen.host;
    r.result = result;
    r.layer = layer;
    r.trust = context->trust_level();
    r.reason = std::move(reason);
    host.audit->record(std::move(r));
  };
  const security::PolicySubject subject{name, admitted.admission.signer_key_id
                                                  ? std::optional<std::string_view>(
                                                        *admitted.admission.signer_key_id)
                                                  : std::nullopt};
  security::PatternLists added;
  for (const auto& d : dirs) {
    const std::string& dir = d.preopen.host;
    if (admitted.manifest && !grants_reach(*context, dir)) {
      std::string reason = fmt::format(
          "--dir {}: {}'s manifest grants no filesystem access there, and a directory given on "
          "the command line does not widen a manifest's grants (add a filesystem.read or "
          "filesystem.write pattern for it to Component.toml)",
          d.given, name);
      record(d, security::AuditResult::Denied, security::DecisionLayer::Component, reason);
      return make_error(ErrorCode::CapabilityDenied, std::move(reason));
    }
    auto decision = host.policy.current().check(subject, Permission::FsRead, dir);
    if (!decision.allowed) {
      std::string reason = fmt::format(
          "--dir {}: the host policy refuses to let {} read {}{}: {}", d.given, name, dir,
          decision.rule ? fmt::format(" (rule '{}')", decision.rule->name) : std::string(),
          decision.reason);
      record(d, security::AuditResult::Denied, security::DecisionLayer::HostPolicy, reason);
      return make_error(ErrorCode::CapabilityDenied, std::move(reason));
    }
    if (admitted.manifest) {
      record(d, security::AuditResult::Granted, security::DecisionLayer::Component,
             fmt::format("--dir {}: mapped for this run as {}; the manifest's grants decide "
                         "each access",
                         d.given, d.preopen.guest));
      continue;
    }
    std::string beneath = dir == "/" ? std::string("/**") : dir + "/**";
    for (auto permission : {Permission::FsRead, Permission::FsWrite}) {
      auto& list = added[static_cast<size_t>(permission)];
      list.push_back(dir);
      list.push_back(beneath);
    }
    record(d, security::AuditResult::Granted, security::DecisionLayer::Component,
           fmt::format("--dir {}: granted on the command line for this run as {}: "
                       "filesystem.read and filesystem.write on {} and {}",
                       d.given, d.preopen.guest, dir, beneath));
  }
  if (admitted.manifest) return context;
  security::PatternLists lists;
  for (size_t i = 0; i < security::kPermissionCount; ++i) {
    auto have = context->capabilities().patterns(static_cast<Permission>(i));
    lists[i].assign(have.begin(), have.end());
    lists[i].insert(lists[i].end(), added[i].begin(), added[i].end());
  }
  AIRSSYS_TRY_ASSIGN(auto capabilities, security::CapabilitySet::build(lists));
  return security::WasmSecurityContext::create(name, std::move(capabilities),
                                               context->trust_level(), context->quotas());
}

// The component's environment: its manifest's [config.env], then --env
// (a name given again replaces the earlier value). Nothing of the host's.
Result<std::vector<std::string>> run_environment(const AdmittedComponent& admitted,
                                                 const std::vector<std::string>& given) {
  std::vector<std::string> env;
  if (admitted.manifest) env = security::manifest_environment(*admitted.manifest);
  for (const auto& entry : given) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || entry.find('\0') != std::string::npos) {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("--env: '{}' is not NAME=VALUE", entry));
    }
    const std::string prefix = entry.substr(0, eq + 1);
    std::erase_if(env, [&](const std::string& e) { return e.starts_with(prefix); });
    env.push_back(entry);
  }
  return env;
}

std::expected<size_t, int> read_host_stdin(std::span<uint8_t> buffer) {
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EBADF) return size_t{0};  // no standard input at all: its end
    return std::unexpected(errno);
  }
}

}  // namespace

int run_component(const RunOptions& options) {
  // The denials of the run go to stderr as `up` prints them (a flood shown
  // once, then counted), after the component's own output, in the order
  // they were recorded; a refused admission is the error itself.
  struct Denials {
    std::mutex mutex;
    std::vector<std::string> lines;
    std::atomic<bool> admitted{false};
  };
  auto denials = std::make_shared<Denials>();
  security::AuditLogOptions audit_options;
  audit_options.subscriber = [denials](const security::AuditRecord& r, std::string_view) {
    if (r.result != security::AuditResult::Denied || !denials->admitted.load()) return;
    std::lock_guard lock(denials->mutex);
    denials->lines.push_back(denial_line(r));
  };
  struct PrintAtExit {
    std::shared_ptr<Denials> denials;
    std::unique_ptr<HostSetup>* host = nullptr;
    ~PrintAtExit() {
      if (*host && (*host)->audit) (*host)->audit->flush();  // every record has been seen
      std::fflush(stdout);
      LinePrinter printer;
      std::lock_guard lock(denials->mutex);
      for (const auto& line : denials->lines) printer.denial(line);
      printer.flush();
    }
  };
  auto host = HostSetup::open(options.paths, std::move(audit_options));
  if (!host) {
    report(host.error());
    return kExitUsage;
  }
  PrintAtExit print_at_exit{denials, &*host};
  auto admitted = admit_component(**host, options.path, options.approve, options.max_memory);
  if (!admitted) {
    report(admitted.error());
    const auto& e = admitted.error();
    if (e.code == ErrorCode::InvalidConfig) return kExitUsage;
    return e.category() == ErrorCategory::Trust || e.category() == ErrorCategory::Capability ||
                   e.category() == ErrorCategory::Quota
               ? kExitRefused
               : kExitLoadFailed;
  }
  auto dirs = parse_dirs(options.dirs);
  if (!dirs) {
    report(dirs.error());
    return kExitUsage;
  }
  auto env = run_environment(*admitted, options.env);
  if (!env) {
    report(env.error());
    return kExitUsage;
  }
  auto security_context = grant_dirs(*dirs, *admitted, **host);
  if (!security_context) {
    report(security_context.error());
    return exit_code_for(security_context.error());
  }
  (*host)->audit->flush();  // the admission's records are not the run's
  denials->admitted.store(true);
  const auto& files = admitted->files;
  const auto& admission = admitted->admission;
  auto& policy = (*host)->policy;
  auto& audit = (*host)->audit;

  // What the component's WASI sees: its arguments, its manifest's
  // environment, and the security binding every host function checks.
  host::WasiOptions wasi;
  wasi.args.push_back(files.module.filename().string());
  wasi.args.insert(wasi.args.end(), options.args.begin(), options.args.end());
  wasi.env = std::move(*env);
  for (const auto& d : *dirs) wasi.dirs.push_back(d.preopen);
  // Without a manifest every grant is a --dir: its directory is seen under
  // its guest name only.
  wasi.preopen_grant_roots = admitted->manifest.has_value();
  if (options.stdin_input) wasi.stdin_source = read_host_stdin;
  host::SecurityBinding binding{*security_context, &policy, audit.get(),
                                admission.signer_key_id, nullptr};
  host::ComponentContext context(std::move(wasi), std::move(binding));
  if (is_component_file(files.module)) {
    return run_command_component(options, *admitted, **host, context);
  }

  // The tier: the native engine compiles (or finds in its cache) the module;
  // auto takes native code only from the cache and otherwise runs the
  // interpreter while a second native engine compiles the module into the
  // cache, which the process waits for before it exits. Without --tier,
  // native code from the cache when it is there, else the interpreter, and
  // nothing is compiled.
  std::unique_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> module_ptr;
  std::thread background_compile;
  struct JoinAtExit {
    std::thread* thread;
    ~JoinAtExit() {
      if (thread->joinable()) thread->join();
    }
  } join_at_exit{&background_compile};
  // Without --tier, a module the cache holds no entry of runs on the
  // interpreter without a native engine made (that asks the compilers for
  // their versions: processes of their own, on every run).
  const bool nothing_cached = [&] {
    if (!options.tier.empty() || files.module.extension() == ".wat") return false;
    auto dir = data_dir(options.paths);
    auto bytes = engine::read_module_file(files.module);
    return dir && bytes && !engine::native_cache_may_hold(*dir / "cache" / "native", *bytes);
  }();
  if (options.tier != "interp" && !nothing_cached) {
    const bool asked = !options.tier.empty();  // native or auto, not the default
    auto cache = data_dir(options.paths);
    if (!cache) {
      report(cache.error());
      return kExitUsage;
    }
    // The policy's [native] bounds what a compile may take.
    engine::NativeOptions native_options =
        component::with_native_bounds({}, policy.current().native_bounds(), true);
    native_options.cache_dir = *cache / "cache" / "native";
    native_options.cache_only = options.tier != "native";
    show_native_progress(native_options);
    auto native = engine::Engine::native(native_options);
    if (!native && options.tier == "native") {
      report(native.error());
      return exit_code_for(native.error());
    }
    if (!native) {
      // No native tier here (no C compiler): the interpreter; auto says so.
      if (asked) std::fprintf(stderr, "airssys-wasm: %s\n", native_tier_notice(native.error()).c_str());
    } else if (auto loaded = (*native)->load_file(files.module); loaded) {
      engine = std::move(*native);
      module_ptr = std::move(*loaded);
    } else if (!asked) {
      // Nothing usable in the cache: the interpreter, which reports what is
      // wrong with the module if anything is.
    } else if (loaded.error().code == ErrorCode::CompileLimit) {
      // Past a native compile bound: the interpreter runs it, on record.
      security::AuditRecord r;
      r.component = admission.context->component_id();
      r.permission = "lifecycle.tier";
      r.resource = "native";
      r.result = security::AuditResult::Denied;
      r.layer = security::DecisionLayer::Component;
      r.reason = fmt::format("runs on the interp tier: {}", loaded.error().to_string());
      std::fprintf(stderr, "airssys-wasm: %s\n", r.reason.c_str());
      audit->record(std::move(r));
    } else if (options.tier == "native" || loaded.error().code != ErrorCode::NotFound) {
      report(loaded.error());
      return exit_code_for(loaded.error());
    } else {
      native_options.cache_only = false;
      background_compile = std::thread([path = files.module, native_options] {
        auto compiler = engine::Engine::native(native_options);
        if (compiler) (void)(*compiler)->load_file(path);
      });
    }
  }
  if (!engine) engine = engine::Engine::interpreter();
  Result<std::shared_ptr<const engine::Module>> module = module_ptr;
  if (!module_ptr) module = engine->load_file(files.module);
  if (!module) {
    report(module.error());
    return exit_code_for(module.error());
  }
  record_run_tier(*audit, admission.context->component_id(), engine->tier());
  for (const auto& warning : (*module)->warnings()) {
    fmt::print(stderr, "airssys-wasm: warning: {}: {}\n", files.module.string(), warning);
  }

  // `run` links WASI only: a module that needs the host's messaging, state
  // or HTTP functions runs as a component of `up` or `serve`.
  for (const auto& import : (*module)->imports()) {
    if (import.module != "airssys") continue;
    report(Error::of(
        ErrorCode::UnknownImport,
        fmt::format("{} imports airssys.{} (messages, key-value state, HTTP), which "
                    "`run` does not provide: run it as a component with 'airssys-wasm "
                    "up DIR', or install it on a host ('airssys-wasm serve', 'airssys-wasm "
                    "install DIR')",
                    files.module.string(), import.name)));
    return kExitLinkFailed;
  }

  engine::Linker linker;
  host::add_wasi(linker);

  engine::InstanceOptions instance_options;
  instance_options.limits.max_memory_bytes =
      std::min(options.max_memory, admission.context->quotas().memory_bytes);
  instance_options.user_data = &context;
  instance_options.on_memory_grow = [&context](const engine::MemoryGrowEvent& e) {
    context.on_memory_grow(e);
  };
  if (options.fuel != engine::kUnlimitedFuel) instance_options.start_fuel = options.fuel;

  auto store = engine->new_store();
  auto instance = store->instantiate(**module, linker, instance_options);
  if (!instance) {
    if (instance.error().code == ErrorCode::ProcExit) return instance.error().exit_status;
    report(instance.error());
    return exit_code_for(instance.error());
  }
  bool has_start = false;
  for (const auto& e : (*module)->exports()) {
    has_start |= e.name == "_start" && e.kind == engine::ExternKind::Func;
  }
  if (!has_start) {
    report(Error::of(ErrorCode::MissingExport,
                     fmt::format("{} exports no _start function; it is not a WASI command",
                                 files.module.string())));
    return kExitLinkFailed;
  }

  engine::CallOptions call_options;
  call_options.fuel = options.fuel;
  auto result = (*instance)->call("_start", {}, call_options);
  std::fflush(stdout);
  if (result) return 0;
  if (result.error().code == ErrorCode::ProcExit) return result.error().exit_status;
  report(result.error());
  return exit_code_for(result.error());
}

}  // namespace airssys::wasm::cli
