#pragma once
// The native tier's compiler: turns a metered module into a shared object
// through wasm2c and the system C compiler, and keeps the results in a cache.
//
// The module's imports and exports are renamed to fixed names (imports
// "a"."i<k>", exports "e<k>") before wasm2c sees it, so the C names are
// known without repeating wasm2c's name mangling, and no name a component
// chose reaches the C code or any command line.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::engine::detail {

struct NativeLimits {
  uint64_t initial = 0;
  uint64_t max = 0;
  bool has_max = false;
};

struct NativeImport {
  std::string module;  // as the guest wrote it
  std::string name;
  ExternKind kind = ExternKind::Func;
  FuncSig sig;                       // functions
  ValType type = ValType::I32;       // globals: value type; tables: element type
  bool mutable_ = false;             // globals
  NativeLimits limits;               // memories and tables
};

struct NativeExport {
  std::string name;
  ExternKind kind = ExternKind::Func;
  FuncSig sig;
  ValType type = ValType::I32;
  bool mutable_ = false;
  NativeLimits limits;
};

// What the host needs to know of a module to compile, link and call it.
struct NativePlan {
  std::vector<uint8_t> bytes;  // the metered module with fixed import/export names
  std::vector<NativeImport> imports;
  // The guest's exports first, then those only the host uses (plan_native).
  std::vector<NativeExport> exports;
  size_t guest_exports = 0;
  std::vector<uint32_t> state_globals;   // exports: the mutable defined globals, in order
  std::optional<uint32_t> start_export;  // export: the start function, run by the host
  std::vector<NativeLimits> memories;  // defined (not imported) ones
  std::vector<NativeLimits> tables;
};

// `metered` is the output of add_metering for a module that passed validation.
[[nodiscard]] Result<NativePlan> plan_native(std::span<const uint8_t> metered);

// The C that wasm2c made of a plan's module, patched for this runtime, with
// the glue between it and the host appended.
[[nodiscard]] Result<std::string> finish_c(std::string generated, const NativePlan& plan);

struct CompilerConfig {
  std::filesystem::path wasm2c;
  std::filesystem::path cc;
  std::filesystem::path cache_dir;
  std::chrono::seconds timeout{300};
  uint64_t memory_bytes = 4ull << 30;
  bool cache_only = false;
};

struct CompileStats {
  uint64_t compiles = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_refused = 0;
};

// One per native engine: compiles plans into shared objects, through the
// cache. Thread-safe.
class NativeCompiler {
 public:
  static Result<std::unique_ptr<NativeCompiler>> create(CompilerConfig config);

  // The shared object's bytes for the plan, verified; from the cache when it
  // holds a sound entry, else compiled (and cached).
  [[nodiscard]] Result<std::vector<uint8_t>> object_for(const NativePlan& plan,
                                                        std::string_view name);
  // The cache file an entry for the plan lives in.
  [[nodiscard]] std::filesystem::path entry_path(const NativePlan& plan) const;
  [[nodiscard]] CompileStats stats() const;
  [[nodiscard]] const std::filesystem::path& cache_dir() const { return config_.cache_dir; }

 private:
  explicit NativeCompiler(CompilerConfig config) : config_(std::move(config)) {}
  [[nodiscard]] std::string key(const NativePlan& plan) const;
  [[nodiscard]] Result<std::vector<uint8_t>> compile(const NativePlan& plan, std::string_view name);

  CompilerConfig config_;
  std::string identity_;  // compilers, flags and runtime sources
  mutable std::mutex mutex_;
  CompileStats stats_;
};

// The fixed flags every module is compiled with.
[[nodiscard]] const std::vector<std::string>& native_cc_flags();

}  // namespace airssys::wasm::engine::detail
