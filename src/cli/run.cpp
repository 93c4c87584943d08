#include "run.hpp"

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/component/tier.hpp"
#include "airssys/wasm/host/context.hpp"
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
  if (admitted->manifest) wasi.env = security::manifest_environment(*admitted->manifest);
  host::SecurityBinding binding{admission.context, &policy, audit.get(),
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
  if (options.tier != "interp") {
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
