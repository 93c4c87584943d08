// `run` of a WebAssembly component (Component Model): a WASI 0.2 command,
// such as one a standard toolchain or the preview 1 adapter made. The same
// admission, grants, policy, quotas and audit as a core module's run; the
// component's imports are served by the host's WASI 0.2 (host/wasi2.hpp) and
// its `wasi:cli/run` export decides the exit status.

#include <cstdio>

#include <fmt/format.h>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/component/tier.hpp"
#include "airssys/wasm/host/wasi2.hpp"
#include "run.hpp"

namespace airssys::wasm::cli {

int run_command_component(const RunOptions& options, const AdmittedComponent& admitted,
                          HostSetup& host, host::ComponentContext& context) {
  const auto& files = admitted.files;
  auto bytes = engine::read_module_file(files.module);
  if (!bytes) {
    report(bytes.error());
    return exit_code_for(bytes.error());
  }
  // The tier: every core module of the component on one engine. `native`
  // compiles them; without --tier, and under `auto`, native code serves
  // when the cache holds every core module, else the interpreter does.
  std::unique_ptr<engine::Engine> engine;
  Result<std::shared_ptr<const cm::Component>> component =
      make_error(ErrorCode::NotFound, "no engine");
  if (options.tier != "interp") {
    auto cache = data_dir(options.paths);
    if (!cache) {
      report(cache.error());
      return kExitUsage;
    }
    engine::NativeOptions native_options =
        component::with_native_bounds({}, host.policy.current().native_bounds(), true);
    native_options.cache_dir = *cache / "cache" / "native";
    native_options.cache_only = options.tier != "native";
    show_native_progress(native_options);
    auto native = engine::Engine::native(native_options);
    if (!native && options.tier == "native") {
      report(native.error());
      return exit_code_for(native.error());
    }
    if (native) {
      component = cm::decode_component(*bytes, files.module.filename().string(), **native);
      if (component || options.tier == "native") engine = std::move(*native);
    } else if (options.tier == "auto") {
      std::fprintf(stderr, "airssys-wasm: %s\n", native_tier_notice(native.error()).c_str());
    }
  }
  if (!engine) {
    engine = engine::Engine::interpreter();
    component = cm::decode_component(*bytes, files.module.filename().string(), *engine);
  }
  if (!component) {
    report(component.error());
    return exit_code_for(component.error());
  }
  record_run_tier(*host.audit, admitted.admission.context->component_id(), engine->tier());

  cm::HostInstance imports;
  host::add_wasi2(imports, context);
  cm::ComponentOptions component_options;
  component_options.limits.max_memory_bytes =
      std::min(options.max_memory, admitted.admission.context->quotas().memory_bytes);
  component_options.user_data = &context;
  if (options.fuel != engine::kUnlimitedFuel) component_options.start_fuel = options.fuel;
  auto instance = cm::ComponentInstance::instantiate(*component, *engine, imports,
                                                     component_options);
  if (!instance) {
    if (instance.error().code == ErrorCode::ProcExit) return instance.error().exit_status;
    report(instance.error());
    return exit_code_for(instance.error());
  }
  auto run = host::wasi2_run_export(**instance);
  if (!run) {
    report(Error::of(ErrorCode::MissingExport,
                     fmt::format("{} exports no wasi:cli/run; it is not a WASI command",
                                 files.module.string())));
    return kExitLinkFailed;
  }
  engine::CallOptions call_options;
  call_options.fuel = options.fuel;
  auto result = (*instance)->call(*run, {}, call_options);
  std::fflush(stdout);
  if (!result) {
    if (result.error().code == ErrorCode::ProcExit) return result.error().exit_status;
    report(result.error());
    return exit_code_for(result.error());
  }
  // run: func() -> result: ok is status 0, error status 1.
  return !result->empty() && (*result)[0].bits != 0 ? 1 : 0;
}

}  // namespace airssys::wasm::cli
