#pragma once
// The native tier's compiler: turns a metered module into a shared object
// through wasm2c and the system C compiler, and keeps the results in a cache.
// Its rooms: the plan (native_plan.cpp), the C glue (native_glue.cpp), the
// cache (native_cache.cpp), the compiler child processes (native_compile.hpp,
// native_compile.cpp).
//
// The module's imports and exports are renamed to fixed names (imports
// "a"."i<k>", exports "e<k>") before wasm2c sees it, so the C names are
// known without repeating wasm2c's name mangling, and no name a component
// chose reaches the C code or any command line.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sodium/crypto_hash_sha256.h>

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

// `metered` is the output of add_metering for a module that passed validation
// (native_plan.cpp).
[[nodiscard]] Result<NativePlan> plan_native(std::span<const uint8_t> metered);

// Changes whenever the generated glue, the patches or the units' layout
// change: part of the key.
inline constexpr std::string_view kGeneratorVersion = "airssys-native-glue-12";

// The module's C in translation units, compiled in parallel and linked into
// one shared object. Every unit includes the header (kNativeHeaderName).
struct NativeUnit {
  std::string file;    // "unit0.c", ..., "huge0.c", ..., "glue.c"
  std::string text;
  bool cheap = false;  // compiled with native_cheap_flags()
};
struct NativeSources {
  std::string header;
  std::vector<NativeUnit> units;  // the functions' units, then the glue's
};
inline constexpr std::string_view kNativeHeaderName = "airssys-module.h";
// The functions' C goes to units of about this size (at most kNativeMaxUnits
// of them); a function larger than kNativeHugeFunctionBytes of C goes to a
// unit compiled with cheaper flags. The layout follows the module alone, so
// an entry does not depend on the host that compiled it.
inline constexpr size_t kNativeUnitBytes = 64u << 10;
inline constexpr size_t kNativeMaxUnits = 16;
inline constexpr size_t kNativeHugeFunctionBytes = 96u << 10;

// The C that wasm2c made of a plan's module, patched for this runtime, with
// the glue between it and the host, in units (native_glue.cpp).
[[nodiscard]] Result<NativeSources> finish_c(std::string generated, const NativePlan& plan);

struct CompilerConfig {
  std::filesystem::path wasm2c;
  std::filesystem::path cc;
  std::filesystem::path cache_dir;
  std::chrono::milliseconds timeout{kDefaultCompileTimeout};  // one module's whole compile
  uint64_t memory_bytes = kDefaultCompileMemoryBytes;         // each tool's address space
  uint64_t max_module_bytes = kDefaultMaxCompileModuleBytes;  // 0: no bound
  uint64_t max_function_bytes = kDefaultMaxCompileFunctionBytes;
  uint64_t max_br_table_targets = kDefaultMaxCompileBrTableTargets;
  bool cache_only = false;
  size_t jobs = 1;  // compiler processes at once, over all of the engine's compiles
  std::function<void(const NativeCompileEvent&)> on_compile;
  bool guard_pages = false;  // objects built for guard-page memories
};

struct CompileStats {
  uint64_t compiles = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_refused = 0;
};

// A cache entry: everything a load needs besides the module's bytes, so a hit
// skips validation, metering and planning.
struct NativeEntry {
  std::vector<ImportInfo> imports;  // as the loader described the module
  std::vector<ExportInfo> exports;
  NativePlan plan;                  // without its bytes
  std::vector<uint8_t> object;      // the shared object, verified
  std::string state_hazard;         // MeteredModule::state_hazard
  std::vector<std::string> warnings;  // Module::warnings
  std::vector<std::string> func_names;  // of the name section, by function index
};

// The entry's body (all but magic and digest) and back; the parser fails on
// anything it did not write. Exposed for the tests.
[[nodiscard]] std::string encode_entry(std::string_view key, const NativeEntry& entry);
[[nodiscard]] std::optional<NativeEntry> decode_entry(std::string_view key, std::string_view body);

// A cap on the compiler processes running at once, shared by the compiles
// of one engine (native_compile.cpp).
class ProcessSlots {
 public:
  explicit ProcessSlots(size_t count) : free_(count) {}
  [[nodiscard]] bool try_take();
  void give();

 private:
  std::atomic<size_t> free_;
};

// One per native engine: compiles plans into shared objects, through the
// cache. Thread-safe.
//
// An entry is found by the key of the module's own bytes (module_key: the
// SHA-256 of the compilers' identity, the flags, the runtime and pipeline
// sources, and those bytes), looked up before anything else runs.
class NativeCompiler {
 public:
  static Result<std::unique_ptr<NativeCompiler>> create(CompilerConfig config);

  [[nodiscard]] std::string module_key(std::span<const uint8_t> module_bytes) const;
  // The sound entry under `key`, or nothing (a changed, truncated or foreign
  // entry is removed, counted as refused, and nothing returned); `why`, when
  // given, says why there is none, for the one who waits for the compile.
  [[nodiscard]] std::optional<NativeEntry> lookup(const std::string& key,
                                                  std::string* why = nullptr);
  // Whether a sound entry is under `key`; nothing counted, nothing removed.
  [[nodiscard]] bool holds(const std::string& key) const;
  // CompileLimit when the module is past a bound on what may be sent to the
  // compilers (module size, function body size, br_table width).
  [[nodiscard]] Result<void> check_bounds(std::span<const uint8_t> bytes,
                                          std::string_view name) const;
  // Compiles the plan (refused with NotFound when the cache alone may be
  // used), stores the entry under `key` and returns the object. The compile
  // is killed, with CallCancelled, when `*cancel` or cancel_all() comes.
  // `reason` says why it compiles (lookup's `why`), for NativeCompileEvent.
  [[nodiscard]] Result<std::vector<uint8_t>> build(const std::string& key, const NativeEntry& entry,
                                                   std::string_view name,
                                                   std::string_view reason = {},
                                                   const std::atomic<bool>* cancel = nullptr);
  // Kills the compiles in progress and refuses those that follow.
  void cancel_all();
  // The cache file the entry of `key` lives in.
  [[nodiscard]] std::filesystem::path entry_path(const std::string& key) const;
  [[nodiscard]] CompileStats stats() const;
  [[nodiscard]] const std::filesystem::path& cache_dir() const { return config_.cache_dir; }

 private:
  explicit NativeCompiler(CompilerConfig config)
      : config_(std::move(config)), slots_(std::max<size_t>(config_.jobs, 1)) {}
  [[nodiscard]] Result<std::vector<uint8_t>> compile(const NativePlan& plan, std::string_view name,
                                                     std::string_view reason,
                                                     const std::atomic<bool>* cancel);

  CompilerConfig config_;
  std::string identity_;  // compilers, flags, runtime and pipeline sources
  crypto_hash_sha256_state identity_state_{};  // SHA-256 of identity_ and a 0 byte, unfinished
  mutable std::mutex mutex_;
  CompileStats stats_;
  std::atomic<bool> stopping_{false};
  ProcessSlots slots_;
};

// The largest stack frame a compiled function may have: a quarter of the
// room the stack check keeps in reserve (AIRSSYS_STACK_RESERVE), so that no
// frame can reach below the stack before the check at its entry runs.
inline constexpr uint64_t kMaxNativeFrameBytes = 128u << 10;

// The compiled code checks the room left on its stack at every function
// entry, before the frame is used; a frame larger than the room that check
// keeps in reserve could reach below the stack before the check runs. The
// compiler's stack-usage reports (-fstack-usage, the *.su files in `dir`)
// name every function's frame: one past kMaxNativeFrameBytes, or of a size
// only known at run time, refuses the module for this tier (CompileFailed).
[[nodiscard]] Result<void> check_stack_frames(const std::filesystem::path& dir,
                                              std::string_view name);

// The fixed flags every unit is compiled with; the optimization flags of
// the units (native_opt_flags) and of the huge functions' units
// (native_cheap_flags), which come after them.
[[nodiscard]] const std::vector<std::string>& native_cc_flags();
[[nodiscard]] const std::vector<std::string>& native_opt_flags();
[[nodiscard]] const std::vector<std::string>& native_cheap_flags();
// The flags added for guard-page memories (CompilerConfig::guard_pages).
[[nodiscard]] const std::vector<std::string>& native_guard_cc_flags();

}  // namespace airssys::wasm::engine::detail
