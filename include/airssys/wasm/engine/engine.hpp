#pragma once
// The engine: load and validate modules, instantiate them against host
// functions, and call their exports with metered, suspendable execution.
//
// Example:
//   auto engine = engine::Engine::interpreter();
//   auto module = engine->load_file("add.wat");
//   auto store = engine->new_store();
//   engine::Linker linker;
//   auto instance = (*store)->instantiate(**module, linker, {});
//   auto results = (*instance)->call("add", {Value::i32(1), Value::i32(2)});
//
// Threading: an Engine and a Module may be shared by any number of threads.
// A Store and everything in it are used by one thread at a time; they may move
// between threads between calls and between the slices of a suspended Call.

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/core/units.hpp"
#include "airssys/wasm/engine/value.hpp"

namespace airssys::wasm::engine {

inline constexpr uint64_t kUnlimitedFuel = std::numeric_limits<uint64_t>::max();
inline constexpr uint64_t kWasmPageSize = 64 * KiB;

// The module name the engine reserves for its own imports; a guest module
// that imports from it is refused at load.
inline constexpr std::string_view kReservedModule = "airssys:engine";

enum class ExternKind : uint8_t { Func, Table, Memory, Global, Tag };
[[nodiscard]] const char* extern_kind_name(ExternKind kind);

// The limits of a memory (in 64 KiB pages) or of a table (in elements).
struct ExternLimits {
  uint64_t initial = 0;
  std::optional<uint64_t> max;
  friend bool operator==(const ExternLimits&, const ExternLimits&) = default;
};

// What an import or an export is: a function's (or a tag's) signature, a
// global's value type and mutability, a table's element type and limits, a
// memory's limits.
struct ExternType {
  ExternKind kind = ExternKind::Func;
  FuncSig sig;                   // functions and tags
  ValType value = ValType::I32;  // globals: the value type; tables: the element type
  bool mutable_global = false;   // globals
  ExternLimits limits;           // memories and tables
  // "(i32) -> (i32)", "mut i64", "funcref 1..10", "1..16 pages", "2.. pages"
  [[nodiscard]] std::string to_string() const;
};

struct ImportInfo : ExternType {
  std::string module;
  std::string name;
};

struct ExportInfo : ExternType {
  std::string name;
};

// What one table element counts for against InstanceLimits::max_memory_bytes:
// the size of a function reference on the native tier, the larger of the two
// tiers' elements.
inline constexpr uint64_t kTableElementBytes = 24;

// Limits one instance must live within. Defaults follow the quota defaults.
//
// Tables count against the memory limit too: all the instance's own tables
// together (at instantiation and after every table.grow) hold at most
// max_memory_bytes / kTableElementBytes elements, and at most
// max_table_elements. Tables whose initial sizes are over that refuse to
// instantiate (LimitExceeded) before anything is allocated; the room their
// initial sizes leave is shared out equally, at instantiation, among the
// tables that may grow (up to each one's own maximum), and a table.grow past
// a table's share returns -1. The table storage is bounded apart from the
// linear memory: an instance's memory and tables together take at most twice
// max_memory_bytes.
struct InstanceLimits {
  // Linear memory, rounded down to pages: all the memories the instance
  // defines together (multi-memory), at instantiation and after every grow.
  uint64_t max_memory_bytes = 256 * MiB;
  uint32_t max_table_elements = 1u << 20;  // all the instance's own tables together
};

// One memory.grow of one of the instance's memories, granted or refused (by
// InstanceLimits::max_memory_bytes or by the module's own maximum, as the
// specification allows: the guest sees -1 and may carry on).
struct MemoryGrowEvent {
  uint64_t old_bytes = 0;
  uint64_t requested_bytes = 0;  // the size the guest asked for
  uint64_t limit_bytes = 0;      // the largest size the memory may reach
  bool granted = false;
};
// Runs on the guest's thread, inside its call; must not call into the instance.
using MemoryGrowHook = std::function<void(const MemoryGrowEvent&)>;
// Asked before a memory.grow within the instance's limits: false refuses it
// (the guest sees -1, as for a grow past the limits). Lets several instances
// share one budget (all the core instances of a component). The sizes are
// those of all the memories the instance defines together, before and after
// the grow (for a grow of an imported memory: that memory's). Same thread
// rules as MemoryGrowHook.
using MemoryGrowGate = std::function<bool(uint64_t old_bytes, uint64_t new_bytes)>;

// What moving a running component to a fresh instance of the same module
// carries over (Instance::save_state): the first memory's bytes and the values
// of the module's own mutable globals, in index order. Immutable globals,
// tables and segments are rebuilt identically by instantiation, which is why
// only modules that never change their tables or segments can be saved
// (Module::state_transferable).
struct InstanceState {
  std::vector<uint8_t> memory;
  std::vector<Value> globals;
};

struct InstanceOptions {
  InstanceLimits limits;
  uint64_t start_fuel = 1'000'000'000;  // fuel the start function may burn
  void* user_data = nullptr;             // handed to host functions in HostCall
  MemoryGrowHook on_memory_grow;         // none: growth is not reported
  MemoryGrowGate memory_grow_gate;       // none: the limits alone decide
  // When set, the instance continues from this saved state of an instance of
  // the same module (on either tier) instead of starting afresh: the memory
  // and mutable globals are restored and the start function does not run
  // (it ran in the instance the state was saved from). The memory must fit
  // `limits`; growing to its size is not reported to `on_memory_grow`.
  const InstanceState* restore = nullptr;
};

struct CallOptions {
  uint64_t fuel = kUnlimitedFuel;  // total instructions the call may execute
  uint64_t slice = 100'000;        // instructions per slice (Call::resume)
};

// A function export resolved once (Instance::resolve), to be called without
// looking its name up again: the export's index in Module::exports(), tagged
// with the instance that resolved it. A handle is good for that instance
// only: every other instance (one of the same module, and one that took its
// place after a tier-up or a restart) refuses it with InvalidHandle, as it
// refuses an index past Module::exports(), an export that is not a function
// and a default-made handle. A plain value: copying it costs nothing, and a
// call checks it with three comparisons.
struct ExportHandle {
  uint64_t instance = 0;  // Instance::id() of the instance that resolved it; 0: none
  uint32_t index = 0;     // in Module::exports()
  friend bool operator==(const ExportHandle&, const ExportHandle&) = default;
};

class Instance;

// The deepest a chain of nested calls (HostCall::call) may go; one more is
// TrapCallStackExhausted.
inline constexpr uint32_t kMaxNestedCalls = 64;

// What a host function sees of its caller. Valid only during the host call.
class HostCall {
 public:
  virtual ~HostCall() = default;
  // The calling instance's linear memory [offset, offset + length), checked in
  // 64-bit arithmetic; an out-of-range request is TrapMemoryOutOfBounds.
  [[nodiscard]] virtual Result<std::span<uint8_t>> memory(uint64_t offset, uint64_t length) = 0;
  [[nodiscard]] virtual uint64_t memory_size() const = 0;
  // InstanceOptions::user_data of the calling instance.
  [[nodiscard]] virtual void* user_data() const = 0;
  // Calls a function export of `instance`, an instance of the caller's own
  // store, from inside this host call (what an adapter between instances
  // does: a component's realloc, an export of another core instance), and
  // returns its results. The call runs within the current call's fuel budget
  // and is never suspended between slices; its trap comes back as the error
  // (the host function usually returns it, and the guest traps with it).
  // Nested calls go at most kMaxNestedCalls deep (TrapCallStackExhausted);
  // an instance of another store or tier is InvalidArgument.
  [[nodiscard]] virtual Result<std::vector<Value>> call(Instance& instance, ExportHandle handle,
                                                        std::span<const Value> args) = 0;
  // The same with the results written to `results`, which has room for
  // exactly as many as the export returns (SignatureMismatch otherwise): on
  // the native tier such a call allocates nothing.
  [[nodiscard]] virtual Result<void> call_into(Instance& instance, ExportHandle handle,
                                               std::span<const Value> args,
                                               std::span<Value> results) = 0;

  [[nodiscard]] Result<uint32_t> read_u32(uint64_t offset);
  [[nodiscard]] Result<uint64_t> read_u64(uint64_t offset);
  [[nodiscard]] Result<void> write_u32(uint64_t offset, uint32_t value);
  [[nodiscard]] Result<void> write_u64(uint64_t offset, uint64_t value);
};

// A host function returns an error to trap the guest; the error reaches the
// caller of the export unchanged (ProcExit for an exit request).
using HostFn =
    std::function<Result<void>(HostCall&, std::span<const Value> args, std::span<Value> results)>;

struct HostFunction {
  std::string module;
  std::string name;
  FuncSig sig;
  HostFn fn;
  // Set by host_function<F>() (below) and nothing else: the typed entry the
  // native tier's compiled code calls directly. Null: the native tier calls
  // `fn` (as the interpreter always does).
  const void* native_entry = nullptr;
};

namespace detail {

// The number types of a typed host function and their wasm types.
template <class T>
struct HostNumber;
template <>
struct HostNumber<int32_t> {
  static constexpr ValType type = ValType::I32;
  static int32_t get(const Value& v) { return v.as_i32(); }
  static Value make(int32_t x) { return Value::i32(x); }
};
template <>
struct HostNumber<uint32_t> {
  static constexpr ValType type = ValType::I32;
  static uint32_t get(const Value& v) { return static_cast<uint32_t>(v.as_i32()); }
  static Value make(uint32_t x) { return Value::i32(static_cast<int32_t>(x)); }
};
template <>
struct HostNumber<int64_t> {
  static constexpr ValType type = ValType::I64;
  static int64_t get(const Value& v) { return v.as_i64(); }
  static Value make(int64_t x) { return Value::i64(x); }
};
template <>
struct HostNumber<uint64_t> {
  static constexpr ValType type = ValType::I64;
  static uint64_t get(const Value& v) { return static_cast<uint64_t>(v.as_i64()); }
  static Value make(uint64_t x) { return Value::i64(static_cast<int64_t>(x)); }
};
template <>
struct HostNumber<float> {
  static constexpr ValType type = ValType::F32;
  static float get(const Value& v) { return std::bit_cast<float>(v.f32_bits()); }
  static Value make(float x) { return Value::f32_bits(std::bit_cast<uint32_t>(x)); }
};
template <>
struct HostNumber<double> {
  static constexpr ValType type = ValType::F64;
  static double get(const Value& v) { return std::bit_cast<double>(v.f64_bits()); }
  static Value make(double x) { return Value::f64_bits(std::bit_cast<uint64_t>(x)); }
};

template <class F>
struct HostSignature;
template <class R, class... A>
struct HostSignature<Result<R> (*)(HostCall&, A...)> {
  static FuncSig sig() {
    FuncSig s;
    (s.params.push_back(HostNumber<A>::type), ...);
    if constexpr (!std::is_void_v<R>) s.results.push_back(HostNumber<R>::type);
    return s;
  }
  // The native tier's entry: the compiled code calls it with the arguments
  // in registers; an error (or exception) goes to *error as a new Error the
  // engine takes over, and the guest traps with it.
  template <auto F>
  static R native_entry(HostCall* call, void** error, A... args) noexcept {
    try {
      Result<R> r = F(*call, args...);
      if (r) [[likely]] {
        if constexpr (std::is_void_v<R>) {
          return;
        } else {
          return *r;
        }
      }
      *error = new Error(std::move(r).error());
    } catch (const std::exception& e) {
      *error = new Error(
          Error::of(ErrorCode::InternalError, std::string("host function threw: ") + e.what()));
    } catch (...) {
      *error = new Error(Error::of(ErrorCode::InternalError, "host function threw"));
    }
    if constexpr (!std::is_void_v<R>) return R{};
  }
  template <auto F>
  static HostFn values_fn() {
    return [](HostCall& call, std::span<const Value> args, std::span<Value> results) -> Result<void> {
      return invoke<F>(call, args, results, std::index_sequence_for<A...>{});
    };
  }
  template <auto F, size_t... I>
  static Result<void> invoke(HostCall& call, [[maybe_unused]] std::span<const Value> args,
                             [[maybe_unused]] std::span<Value> results, std::index_sequence<I...>) {
    Result<R> r = F(call, HostNumber<A>::get(args[I])...);
    if (!r) return std::unexpected(std::move(r).error());
    if constexpr (!std::is_void_v<R>) results[0] = HostNumber<R>::make(*r);
    return {};
  }
};

template <class R, class... A>
struct HostSignature<Result<R> (*)(HostCall&, A...) noexcept>
    : HostSignature<Result<R> (*)(HostCall&, A...)> {};

}  // namespace detail

// A host function from a plain function of numbers, the fast form:
//
//   Result<int32_t> inc(HostCall&, int32_t v) { return v + 1; }
//   linker.define(host_function<inc>("bench", "inc"));
//
// F is a function (or a lambda without captures) taking HostCall& and then
// int32_t, uint32_t, int64_t, uint64_t, float or double parameters, and
// returning Result<T> for one such T or Result<void>; the wasm signature
// follows from it (unsigned types are the same wasm integers). The native
// tier's compiled code calls it directly, its arguments in registers, with no
// Value, no std::function and no allocation; the interpreter calls it through
// the HostFn this also sets. Errors, HostCall (memory checks, user_data) and
// fuel work exactly as for a HostFn.
template <auto F>
HostFunction host_function(std::string module, std::string name) {
  using Sig = detail::HostSignature<decltype(+F)>;
  HostFunction f{std::move(module), std::move(name), Sig::sig(), Sig::template values_fn<F>()};
  f.native_entry = reinterpret_cast<const void*>(&Sig::template native_entry<F>);
  return f;
}

// Resolves imports by (module, name): host functions, and the exports of
// instances registered under a module name (same store only). When a module
// name has both, an instance's export wins over a host function.
class Linker {
 public:
  void define(HostFunction function);
  void define_instance(std::string module_name, std::shared_ptr<Instance> instance);
  // The import (module, name) is the export `export_name` of `instance`, of
  // any kind (same store only). Wins over define_instance and define for
  // that one name.
  void define_export(std::string module, std::string name, std::shared_ptr<Instance> instance,
                     std::string export_name);

  struct ExportAlias {
    std::string module;
    std::string name;
    std::shared_ptr<Instance> instance;
    std::string export_name;
  };

  [[nodiscard]] const HostFunction* find_function(std::string_view module,
                                                  std::string_view name) const;
  [[nodiscard]] const Instance* find_instance(std::string_view module) const;
  [[nodiscard]] const ExportAlias* find_export(std::string_view module,
                                               std::string_view name) const;
  // Every host function defined, in definition order.
  [[nodiscard]] const std::vector<HostFunction>& functions() const { return functions_; }

 private:
  std::vector<HostFunction> functions_;
  std::vector<std::pair<std::string, std::shared_ptr<Instance>>> instances_;
  std::vector<ExportAlias> exports_;
};

// A linear memory an instance exports, for an embedder that reads and writes
// it while a call of the same store runs (a host function lifting or
// lowering values). bytes() is the whole memory as it is at that moment:
// guest code that runs afterwards may grow the memory and move it, so read
// bytes() again after every call into the guest. Keeps its instance alive.
class MemoryView {
 public:
  virtual ~MemoryView() = default;
  [[nodiscard]] virtual std::span<uint8_t> bytes() const = 0;
};

// A call running in slices. resume() runs one slice of fuel and returns
// Suspended when the slice ends before the call does, Finished when it has
// returned (results() then holds the results), or the trap. Destroying a
// suspended Call cancels it cleanly.
class Call {
 public:
  enum class State { Suspended, Finished };
  virtual ~Call() = default;
  [[nodiscard]] virtual Result<State> resume() = 0;
  [[nodiscard]] virtual std::span<const Value> results() const = 0;
  [[nodiscard]] virtual uint64_t fuel_used() const = 0;
  // The fuel of the slices that follow (the next resume() and each slice
  // after it), in place of CallOptions::slice; at least 1.
  virtual void set_slice(uint64_t slice) = 0;
};

class Module {
 public:
  virtual ~Module() = default;
  [[nodiscard]] virtual std::string_view name() const = 0;
  [[nodiscard]] virtual const std::vector<ImportInfo>& imports() const = 0;
  [[nodiscard]] virtual const std::vector<ExportInfo>& exports() const = 0;
  // Whether an instance's whole state is its first memory and its mutable
  // globals, so that Instance::save_state captures all of it; else why not
  // (StateNotTransferable). Decided from the module's code at load.
  [[nodiscard]] virtual Result<void> state_transferable() const = 0;
  // What the load found wrong but could do without: custom sections that
  // could not be read (a bad name section is dropped whole), each with its
  // offset. Empty for most modules.
  [[nodiscard]] virtual const std::vector<std::string>& warnings() const = 0;
};


class Instance {
 public:
  virtual ~Instance() = default;
  [[nodiscard]] virtual const Module& module() const = 0;
  // A number no other instance of this process has had; never 0.
  [[nodiscard]] uint64_t id() const { return id_; }
  // The function export `export_name`, resolved for calls by handle;
  // MissingExport when the module exports no function by that name.
  [[nodiscard]] virtual Result<ExportHandle> resolve(std::string_view export_name) const = 0;
  // Runs the export to completion within options.fuel.
  [[nodiscard]] virtual Result<std::vector<Value>> call(ExportHandle export_handle,
                                                        std::span<const Value> args,
                                                        const CallOptions& options = {}) = 0;
  // Prepares the export as a suspendable call; nothing runs until resume().
  [[nodiscard]] virtual Result<std::unique_ptr<Call>> start_call(ExportHandle export_handle,
                                                                 std::span<const Value> args,
                                                                 const CallOptions& options = {}) = 0;
  // The same with the arguments made by `lower` when the call begins (the
  // first resume()), from inside the call: `lower` gets a HostCall whose
  // nested calls (HostCall::call) are calls inside this one, within its fuel
  // and never suspended, and on the native tier run on the call's own stack
  // with no fiber of their own (what lowering arguments through a guest's
  // allocator needs). The arguments it writes are checked against the
  // export's parameters; an error of `lower` ends the call with that error.
  // The fuel of its nested calls is the call's (Call::fuel_used counts it).
  using ArgumentLowerer = std::function<Result<void>(HostCall& call, std::vector<Value>& args)>;
  [[nodiscard]] virtual Result<std::unique_ptr<Call>> start_call(ExportHandle export_handle,
                                                                 ArgumentLowerer lower,
                                                                 const CallOptions& options) = 0;
  // The same by name: resolve(), then the call by handle. For a caller that
  // calls an export once (a command's _start); one that calls it again and
  // again resolves it once.
  [[nodiscard]] Result<std::vector<Value>> call(std::string_view export_name,
                                                std::span<const Value> args,
                                                const CallOptions& options = {});
  [[nodiscard]] Result<std::unique_ptr<Call>> start_call(std::string_view export_name,
                                                         std::span<const Value> args,
                                                         const CallOptions& options = {});
  [[nodiscard]] virtual Result<Value> global(std::string_view export_name) const = 0;
  // The memory exported as `export_name`; MissingExport when there is no
  // memory export by that name.
  [[nodiscard]] virtual Result<std::shared_ptr<const MemoryView>> memory_view(
      std::string_view export_name) const = 0;
  // Current size of the default linear memory in bytes (0 without memory).
  [[nodiscard]] virtual uint64_t memory_bytes() const = 0;
  // Current size of all the linear memories the instance defines (not those
  // it imports) together: what InstanceLimits::max_memory_bytes bounds.
  [[nodiscard]] virtual uint64_t defined_memory_bytes() const = 0;
  // Copies bytes into / out of the default linear memory, bounds-checked in
  // 64-bit arithmetic (TrapMemoryOutOfBounds otherwise). Not during a call.
  [[nodiscard]] virtual Result<void> write_memory(uint64_t offset,
                                                  std::span<const uint8_t> bytes) = 0;
  [[nodiscard]] virtual Result<std::vector<uint8_t>> read_memory(uint64_t offset,
                                                                 uint64_t length) const = 0;
  // The state InstanceOptions::restore continues from. Not during a call;
  // StateNotTransferable when the module is not state_transferable().
  [[nodiscard]] virtual Result<InstanceState> save_state() const = 0;
  // Fuel burned by this instance's calls since it was created.
  [[nodiscard]] virtual uint64_t fuel_used() const = 0;

 protected:
  Instance();
  // The index `handle` names when it is this instance's handle of a function
  // export; InvalidHandle otherwise.
  [[nodiscard]] Result<uint32_t> export_index(ExportHandle handle) const;

 private:
  const uint64_t id_;
};

class Store {
 public:
  virtual ~Store() = default;
  [[nodiscard]] virtual Result<std::shared_ptr<Instance>> instantiate(
      const Module& module, const Linker& linker, const InstanceOptions& options = {}) = 0;
};

// The native compile's default bounds (NativeOptions; host.toml [native]).
inline constexpr std::chrono::milliseconds kDefaultCompileTimeout{300'000};
inline constexpr uint64_t kDefaultCompileMemoryBytes = 1ull << 30;
inline constexpr uint64_t kDefaultMaxCompileModuleBytes = 8ull << 20;
inline constexpr uint64_t kDefaultMaxCompileFunctionBytes = 64ull << 10;
inline constexpr uint64_t kDefaultMaxCompileBrTableTargets = 32'768;

// What a native compile reports while it runs (NativeOptions::on_compile),
// for the one who waits for it; called on the compiling thread, its views
// valid for the call.
struct NativeCompileEvent {
  enum class Kind : uint8_t {
    Started,    // `reason` says why it compiles; `cache_dir` where it keeps the result
    Compiling,  // wasm2c is done: `units` translation units, compiled `jobs` at once
    UnitDone,   // `units_done` of `units`
    Finished,   // compiled and kept in the cache
    Failed,     // the load fails with the compile's error
  };
  Kind kind = Kind::Started;
  std::string_view module;  // the name given to load()
  std::string_view reason;  // "no cache entry", ...
  std::filesystem::path cache_dir;
  size_t units = 0;
  size_t jobs = 0;
  size_t units_done = 0;
  std::chrono::milliseconds elapsed{0};  // since the compile began
};
// How native code keeps loads and stores of linear memory within bounds.
enum class BoundsChecks : uint8_t {
  // Guard pages: each memory reserves all that a 32-bit address and offset
  // can reach, inaccessible beyond its pages; an access there faults, and
  // the engine's SIGSEGV handler turns the fault into the same
  // out-of-bounds trap. x86-64 Linux only.
  Guard,
  // A comparison before every access.
  Explicit,
};
#if defined(__x86_64__) && defined(__linux__)
inline constexpr BoundsChecks kDefaultBoundsChecks = BoundsChecks::Guard;
#else
inline constexpr BoundsChecks kDefaultBoundsChecks = BoundsChecks::Explicit;
#endif
[[nodiscard]] const char* bounds_checks_name(BoundsChecks checks);  // "guard", "explicit"

// The native tier: modules compiled ahead of time to native code (wasm2c and
// the system C compiler), kept in a private cache. Same semantics as the
// interpreter: fuel, slices, traps and limits behave identically.
struct NativeOptions {
  // Empty: $AIRSSYS_HOME/cache/native, AIRSSYS_HOME defaulting to ~/.airssys.
  // Created with mode 0700; refused when others may enter it.
  std::filesystem::path cache_dir;
  // Empty: the tools found when the project was built. Absolute paths.
  std::filesystem::path wasm2c;
  std::filesystem::path compiler;
  // What one module's compile may take: wall-clock time for the whole compile
  // (wasm2c and the C compiler together; it also bounds their CPU time), and
  // the address space of each tool process. Past either, the compile is
  // killed with its whole process group and the load fails with
  // CompileFailed.
  std::chrono::milliseconds compile_timeout{kDefaultCompileTimeout};
  uint64_t compile_memory_bytes = kDefaultCompileMemoryBytes;
  // What may be sent to the compilers at all (the C compiler's time and
  // memory grow much faster than these); past one the load fails with
  // CompileLimit before any tool runs, naming the bound. 0: no bound.
  uint64_t max_module_bytes = kDefaultMaxCompileModuleBytes;      // the module
  uint64_t max_function_bytes = kDefaultMaxCompileFunctionBytes;  // one function's body
  uint64_t max_br_table_targets = kDefaultMaxCompileBrTableTargets;  // one br_table
  // Load only what the cache holds: a module without a sound cache entry is
  // refused with NotFound instead of being compiled.
  bool cache_only = false;
  // C compiler processes at once, over all of this engine's compiles (a
  // module's C is compiled in several units; host.toml [native]
  // compile_jobs). 0: one per core.
  size_t compile_jobs = 0;
  // Told of each compile's progress (NativeCompileEvent); none: nothing.
  std::function<void(const NativeCompileEvent&)> on_compile;
  // Guard pages where the platform has them. An engine with guard pages
  // installs a SIGSEGV and SIGBUS handler once per process, which hands
  // every fault it does not own to the handler installed before it (a
  // handler installed later must do the same); each memory then takes 8 GiB
  // of address space (docs/design.md). Compiled code of one choice is never
  // used by the other (it is part of the cache key). Guard where the
  // platform has none: Engine::native fails with InvalidConfig.
  BoundsChecks bounds_checks = kDefaultBoundsChecks;
};

[[nodiscard]] std::filesystem::path default_native_cache_dir();

// A module file's bytes (IoError when it cannot be read, InvalidArgument for
// a directory); what Engine::load_file reads.
[[nodiscard]] Result<std::vector<uint8_t>> read_module_file(const std::filesystem::path& path);

enum class Tier : uint8_t { Interp, Native };
[[nodiscard]] const char* tier_name(Tier tier);

// What an engine has done so far; the native tier's compile cache counters.
struct EngineStats {
  uint64_t native_compiles = 0;  // modules compiled
  uint64_t cache_hits = 0;       // modules loaded from a sound cache entry
  uint64_t cache_refused = 0;    // cache entries refused (changed or truncated) and rebuilt
  // Loads answered by a module the engine already held for the same bytes
  // (its code, description and plan shared, nothing read or checked again).
  uint64_t shared_loads = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // The wabt interpreter backend.
  [[nodiscard]] static std::unique_ptr<Engine> interpreter();
  // The native backend; fails when its tools or its cache directory are unusable.
  [[nodiscard]] static Result<std::unique_ptr<Engine>> native(NativeOptions options = {});

  [[nodiscard]] virtual Tier tier() const = 0;
  [[nodiscard]] virtual EngineStats stats() const { return {}; }

  [[nodiscard]] virtual Result<std::shared_ptr<const Module>> load(std::span<const uint8_t> bytes,
                                                                   std::string_view name) = 0;
  [[nodiscard]] virtual Result<std::shared_ptr<const Module>> load_wat(std::string_view text,
                                                                       std::string_view name) = 0;
  // load() that stops when `*cancel` becomes true (from another thread): a
  // native compile in progress is killed with its whole process group and
  // the load fails with CallCancelled. The interpreter loads at once.
  [[nodiscard]] virtual Result<std::shared_ptr<const Module>> load_cancellable(
      std::span<const uint8_t> bytes, std::string_view name, const std::atomic<bool>* cancel) {
    (void)cancel;
    return load(bytes, name);
  }
  // Kills every native compile in progress and refuses those that follow
  // (CallCancelled): for a host that stops. The interpreter has none.
  virtual void cancel_compiles() {}
  // Whether load() would run a compiler for `bytes`: the native cache holds
  // no sound entry for exactly these bytes, and they are within the compile
  // bounds (past one, load() refuses at once). Never for the interpreter.
  [[nodiscard]] virtual bool compiles(std::span<const uint8_t> bytes) {
    (void)bytes;
    return false;
  }
  // A .wat file is parsed as text; anything else must be a binary module.
  [[nodiscard]] Result<std::shared_ptr<const Module>> load_file(const std::filesystem::path& path);

  [[nodiscard]] virtual std::unique_ptr<Store> new_store() = 0;
};

}  // namespace airssys::wasm::engine
