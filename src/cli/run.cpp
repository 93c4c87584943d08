#include "run.hpp"

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/wasi.hpp"

namespace airssys::wasm::cli {
namespace {

namespace fs = std::filesystem;

Result<fs::path> resolve_module_path(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  if (!fs::exists(p, ec)) {
    return make_error(ErrorCode::IoError, fmt::format("{}: no such file or directory", path));
  }
  if (fs::is_directory(p, ec)) {
    fs::path module = p / "component.wasm";
    if (!fs::is_regular_file(module, ec)) {
      return make_error(ErrorCode::NotFound,
                        fmt::format("{}: the directory holds no component.wasm", path));
    }
    return module;
  }
  return p;
}

int exit_code_for(const Error& error) {
  switch (error.category()) {
    case ErrorCategory::Io:
    case ErrorCategory::Decode:
    case ErrorCategory::Validate:
    case ErrorCategory::Usage: return kExitLoadFailed;
    case ErrorCategory::Link: return kExitLinkFailed;
    default: return kExitTrapped;
  }
}

void report(const Error& error) { fmt::print(stderr, "airssys-wasm: {}\n", error.to_string()); }

}  // namespace

int run_component(const RunOptions& options) {
  auto path = resolve_module_path(options.path);
  if (!path) {
    report(path.error());
    return kExitLoadFailed;
  }
  auto engine = engine::Engine::interpreter();
  auto module = engine->load_file(*path);
  if (!module) {
    report(module.error());
    return exit_code_for(module.error());
  }

  engine::Linker linker;
  host::add_wasi(linker);
  host::WasiOptions wasi;
  wasi.args.push_back(path->filename().string());
  wasi.args.insert(wasi.args.end(), options.args.begin(), options.args.end());
  host::ComponentContext context(std::move(wasi));

  engine::InstanceOptions instance_options;
  instance_options.limits.max_memory_bytes = options.max_memory;
  instance_options.user_data = &context;
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
    report(Error{ErrorCode::MissingExport,
                 fmt::format("{} exports no _start function; it is not a WASI command",
                             path->string()),
                 {},
                 0});
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
