// The native backend of the engine interface.
//
// A module is validated and described exactly as the interpreter does it,
// rewritten by the same metering pass, and compiled to a shared object
// (native_codegen.hpp) that is loaded from verified bytes. Native code runs
// only on fiber stacks aligned to their size: the runtime inside the object
// finds the running call's state by masking the stack pointer, so a trap
// unwinds to its own call on whatever thread the call runs (airssys-native.h).
// Fuel works as in the interpreter: one fuel cell per store, which the
// metered code decrements, and an imported function that refills the next
// slice, suspends the fiber, or ends the call with the out-of-fuel trap.

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wabt/binary-writer.h>
#include <wabt/ir.h>
#include <wabt/stream.h>
#include <wabt/validator.h>
#include <wabt/wast-lexer.h>
#include <wabt/wast-parser.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <boost/context/fiber.hpp>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <type_traits>
#include <unwind.h>
#include <unordered_map>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

#include <fmt/format.h>

#include "airssys-native.h"
#include "backend_support.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "metering.hpp"
#include "native_codegen.hpp"
#include "native_frames.hpp"
#include "state.hpp"

namespace airssys::wasm::engine {
namespace {

using detail::kMaxBacktrace;
using detail::FiberSwitch;

namespace ctx = boost::context;
namespace fs = std::filesystem;

constexpr size_t kStackSize = AIRSSYS_STACK_SIZE;
constexpr size_t kPage = AIRSSYS_STACK_PAGE;
constexpr uint32_t kMaxPages = 65535;  // the runtime's 32-bit memory size

// Stacks of kStackSize bytes aligned to kStackSize: guard page, call state
// page, then the stack proper. Kept for reuse by one store.
class StackPool {
 public:
  static constexpr size_t kMaxIdle = 4;
  ~StackPool() {
    for (char* base : idle_) ::munmap(base, kStackSize);
  }
  char* take() {
    if (!idle_.empty()) {
      char* base = idle_.back();
      idle_.pop_back();
      return base;
    }
    void* raw = ::mmap(nullptr, 2 * kStackSize, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    auto start = reinterpret_cast<uintptr_t>(raw);
    uintptr_t base = (start + kStackSize - 1) & ~(uintptr_t{kStackSize} - 1);
    if (base > start) ::munmap(raw, base - start);
    uintptr_t end = start + 2 * kStackSize;
    if (end > base + kStackSize) ::munmap(reinterpret_cast<void*>(base + kStackSize), end - base - kStackSize);
    ::mprotect(reinterpret_cast<void*>(base), kPage, PROT_NONE);
    return reinterpret_cast<char*>(base);
  }
  void give_back(char* base) noexcept {
    if (idle_.size() < kMaxIdle) {
      idle_.push_back(base);
    } else {
      ::munmap(base, kStackSize);
    }
  }

 private:
  std::vector<char*> idle_;
};

struct PooledStack {
  StackPool* pool;
  char** base_out;
  ctx::stack_context allocate() {
    char* base = pool->take();
    *base_out = base;
    ctx::stack_context sc;
    sc.sp = base + kStackSize;
    sc.size = kStackSize - 2 * kPage;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) noexcept {
    pool->give_back(static_cast<char*>(sc.sp) - kStackSize);
  }
};

// One id per function signature in the process, shared by every compiled
// module, so call_indirect across modules compares like with like. The key
// holds both counts in full, so no two signatures share an id however long
// they are. 0 (never a valid id) when the registry cannot grow.
uint32_t register_func_type(uint32_t params, uint32_t results, const uint8_t* types) noexcept {
  static std::mutex mutex;
  static std::map<std::string, uint32_t> ids;
  try {
    std::string key;
    key.reserve(8 + static_cast<size_t>(params) + results);
    for (uint32_t count : {params, results}) {
      for (int shift = 0; shift < 32; shift += 8) key += static_cast<char>((count >> shift) & 0xff);
    }
    key.append(reinterpret_cast<const char*>(types), static_cast<size_t>(params) + results);
    std::lock_guard lock(mutex);
    if (ids.size() >= UINT32_MAX - 1) return 0;
    auto [it, added] = ids.emplace(std::move(key), static_cast<uint32_t>(ids.size() + 1));
    return it->second;
  } catch (const std::bad_alloc&) {
    return 0;
  }
}

int call_import(void* host_instance, uint32_t index, airssys_slot* io);
void raise_error(void* host_instance, void* error);

const airssys_host_api kHostApi{register_func_type, call_import, raise_error};

// A compiled module loaded from verified bytes.
class LoadedObject {
 public:
  ~LoadedObject() {
    if (handle_) ::dlclose(handle_);
  }
  // The bytes were verified against their recorded hash; they are written
  // to a fresh file of the private cache directory, loaded from there and the
  // file removed again. A name of its own per load: the dynamic loader hands
  // back an object already loaded under the same name.
  static Result<std::shared_ptr<LoadedObject>> load(const std::vector<uint8_t>& bytes,
                                                    const detail::NativePlan& plan,
                                                    const fs::path& dir, std::string_view name) {
    static std::atomic<uint64_t> sequence{0};
    fs::path path = dir / fmt::format(".load-{}-{}.so", ::getpid(), sequence.fetch_add(1));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      return make_error(ErrorCode::IoError,
                        fmt::format("{}: cannot write the native object to {}: {}", name,
                                    path.string(), std::strerror(errno)));
    }
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        ::unlink(path.c_str());
        return make_error(ErrorCode::IoError, fmt::format("{}: cannot write the native object", name));
      }
      done += static_cast<size_t>(n);
    }
    ::close(fd);
    auto object = std::make_shared<LoadedObject>();
    object->handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    ::unlink(path.c_str());
    if (!object->handle_) {
      const char* why = ::dlerror();
      return make_error(ErrorCode::CompileFailed,
                        fmt::format("{}: the native object did not load: {}", name,
                                    why ? why : "unknown reason"));
    }
    object->desc_ = static_cast<const airssys_module_desc*>(::dlsym(object->handle_, "airssys_module"));
    if (!object->desc_ || object->desc_->abi != AIRSSYS_NATIVE_ABI ||
        object->desc_->import_count != plan.imports.size() ||
        object->desc_->export_count != plan.exports.size()) {
      return make_error(ErrorCode::CompileFailed,
                        fmt::format("{}: the native object does not match the module", name));
    }
    // The object's own grow function: memory.grow routed through the host
    // grows exactly as the runtime compiled into the object does.
    object->grow_ = reinterpret_cast<GrowFn>(::dlsym(object->handle_, "wasm_rt_grow_memory"));
    if (!object->grow_) {
      return make_error(ErrorCode::CompileFailed,
                        fmt::format("{}: the native object has no memory runtime", name));
    }
    if (object->desc_->bind(&kHostApi) != 0) {
      return make_error(ErrorCode::LimitExceeded,
                        fmt::format("{}: the native object could not register its function types",
                                    name));
    }
    Dl_info where{};
    if (::dladdr(object->desc_, &where) != 0 && where.dli_fbase) {
      std::vector<detail::NativeFrames::Entry> code;
      for (const airssys_code_entry* e = object->desc_->code; e && e->address; ++e) {
        code.push_back({reinterpret_cast<uintptr_t>(e->address), e->function, e->glue != 0});
      }
      object->frames_ = detail::NativeFrames::read(
          bytes, reinterpret_cast<uintptr_t>(where.dli_fbase), code);
    }
    return object;
  }
  const airssys_module_desc& desc() const { return *desc_; }
  const detail::NativeFrames& frames() const { return frames_; }
  using GrowFn = uint32_t (*)(wasm_rt_memory_t*, uint32_t);
  GrowFn grow() const { return grow_; }

 private:
  void* handle_ = nullptr;
  const airssys_module_desc* desc_ = nullptr;
  GrowFn grow_ = nullptr;
  detail::NativeFrames frames_;
};

class NativeModule final : public Module, public std::enable_shared_from_this<NativeModule> {
 public:
  std::string name_;
  std::vector<ImportInfo> imports_;
  std::vector<ExportInfo> exports_;
  detail::NativePlan plan_;
  detail::ExportIndex export_index_;
  std::shared_ptr<LoadedObject> object_;

  std::string state_hazard_;  // why save_state cannot capture an instance
  std::vector<std::string> warnings_;  // Module::warnings
  std::vector<std::string> func_names_;  // of the name section, by function index
  uint32_t func_imports_ = 0;            // the guest's: defined functions follow them

  // "module!name" (or "module!func[N]") for each return address of a trap
  // that lies in a function the module defines, innermost first. Functions
  // the C compiler inlined into their callers have no frame of their own.
  std::vector<std::string> backtrace(std::span<const uintptr_t> frames) const {
    std::vector<std::string> out;
    std::optional<uint32_t> inner;  // the function of the frame listed last
    for (size_t k = 0; k < frames.size(); ++k) {
      // A return address may follow the last instruction of a function whose
      // final call never returns (a trap): look one byte back.
      auto frame = object_->frames().function_at(frames[k] - 1);
      if (!frame) continue;
      // The export glue is its function's own frame, unless that is listed.
      if (frame->glue && inner == frame->function) continue;
      inner = frame->function;
      if (out.size() == kMaxBacktrace) {
        out.push_back(fmt::format("... {} more frames", frames.size() - k));
        break;
      }
      const uint32_t index = func_imports_ + frame->function;
      if (index < func_names_.size() && !func_names_[index].empty()) {
        out.push_back(fmt::format("{}!{}", name_, func_names_[index]));
      } else {
        out.push_back(fmt::format("{}!func[{}]", name_, index));
      }
    }
    return out;
  }

  std::string_view name() const override { return name_; }
  const std::vector<ImportInfo>& imports() const override { return imports_; }
  const std::vector<ExportInfo>& exports() const override { return exports_; }
  Result<void> state_transferable() const override {
    if (state_hazard_.empty()) return {};
    return make_error(ErrorCode::StateNotTransferable,
                      fmt::format("module '{}': its state cannot be moved to another instance: {}",
                                  name_, state_hazard_));
  }
  const std::vector<std::string>& warnings() const override { return warnings_; }
  const airssys_module_desc& desc() const { return object_->desc(); }
  LoadedObject::GrowFn grow() const { return object_->grow(); }
};

class NativeRun;

struct ExecState {
  uint64_t budget = kUnlimitedFuel;
  uint64_t slice = 100'000;
  uint64_t used = 0;
  int64_t slice_set = 0;
  NativeRun* fiber = nullptr;  // set for a suspendable call
  bool cancel = false;
};

class StoreState {
 public:
  int64_t fuel = 0;  // the metered code's fuel global, shared by the store's instances
  ExecState* active = nullptr;
  std::optional<Error> pending;  // a typed error raised inside the guest's call
  StackPool stacks;
  std::vector<wasm_rt_funcref_t> funcrefs;  // funcref handles given to the host

  void start_slice(ExecState& exec) {
    uint64_t remaining = exec.budget == kUnlimitedFuel
                             ? kUnlimitedFuel
                             : exec.budget - std::min(exec.used, exec.budget);
    uint64_t next = std::min<uint64_t>({exec.slice, remaining, uint64_t{INT64_MAX}});
    exec.slice_set = static_cast<int64_t>(std::max<uint64_t>(next, 1));
    fuel = exec.slice_set;
  }
  void account(ExecState& exec) {
    exec.used += static_cast<uint64_t>(exec.slice_set - fuel);
    exec.slice_set = fuel;
  }
  // False when the call must end; `pending` then says why.
  bool on_fuel_exhausted();

  uint64_t funcref_handle(const wasm_rt_funcref_t& ref) {
    for (size_t i = 0; i < funcrefs.size(); ++i) {
      const auto& r = funcrefs[i];
      if (r.func == ref.func && r.module_instance == ref.module_instance &&
          r.func_type == ref.func_type) {
        return i + 1;
      }
    }
    funcrefs.push_back(ref);
    return funcrefs.size();
  }
};

Value from_slot(StoreState& state, ValType type, const airssys_slot& s) {
  switch (type) {
    case ValType::I32: return Value::i32(static_cast<int32_t>(s.i32));
    case ValType::I64: return Value::i64(static_cast<int64_t>(s.i64));
    case ValType::F32: return Value::f32_bits(std::bit_cast<uint32_t>(s.f32));
    case ValType::F64: return Value::f64_bits(std::bit_cast<uint64_t>(s.f64));
    case ValType::FuncRef:
      if (!s.funcref.func) return Value::funcref(RefValue{});
      return Value::funcref(RefValue{false, state.funcref_handle(s.funcref)});
    case ValType::ExternRef:
      if (!s.externref) return Value::externref(RefValue{});
      return Value::externref(RefValue{false, reinterpret_cast<uint64_t>(s.externref) - 1});
    case ValType::V128: break;
  }
  return Value::i32(0);
}

airssys_slot to_slot(StoreState& state, const Value& v) {
  airssys_slot s{};
  switch (v.type()) {
    case ValType::I32: s.i32 = static_cast<uint32_t>(v.as_i32()); break;
    case ValType::I64: s.i64 = static_cast<uint64_t>(v.as_i64()); break;
    case ValType::F32: s.f32 = std::bit_cast<float>(v.f32_bits()); break;
    case ValType::F64: s.f64 = std::bit_cast<double>(v.f64_bits()); break;
    case ValType::FuncRef: {
      auto r = v.as_ref();
      s.funcref = wasm_rt_funcref_null_value;
      if (!r.is_null && r.handle >= 1 && r.handle <= state.funcrefs.size()) {
        s.funcref = state.funcrefs[r.handle - 1];
      }
      break;
    }
    case ValType::ExternRef: {
      auto r = v.as_ref();
      s.externref = r.is_null ? nullptr : reinterpret_cast<void*>(r.handle + 1);
      break;
    }
    case ValType::V128: break;
  }
  return s;
}

ErrorCode trap_code(int trap) {
  switch (trap) {
    case WASM_RT_TRAP_OOB: return ErrorCode::TrapMemoryOutOfBounds;
    case WASM_RT_TRAP_INT_OVERFLOW: return ErrorCode::TrapIntegerOverflow;
    case WASM_RT_TRAP_DIV_BY_ZERO: return ErrorCode::TrapDivideByZero;
    case WASM_RT_TRAP_INVALID_CONVERSION: return ErrorCode::TrapInvalidConversion;
    case WASM_RT_TRAP_UNREACHABLE: return ErrorCode::TrapUnreachable;
    case WASM_RT_TRAP_CALL_INDIRECT: return ErrorCode::TrapIndirectCallMismatch;
    case WASM_RT_TRAP_EXHAUSTION: return ErrorCode::TrapCallStackExhausted;
    case WASM_RT_TRAP_TABLE_OOB: return ErrorCode::TrapTableOutOfBounds;
    case WASM_RT_TRAP_UNINIT_ELEM: return ErrorCode::TrapUninitializedElement;
    case WASM_RT_TRAP_SIG_MISMATCH: return ErrorCode::TrapIndirectCallMismatch;
    default: return ErrorCode::TrapOther;
  }
}

const char* trap_message(int trap) {
  switch (trap) {
    case WASM_RT_TRAP_OOB: return "out of bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW: return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO: return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE: return "unreachable executed";
    case WASM_RT_TRAP_CALL_INDIRECT: return "indirect call signature mismatch";
    case WASM_RT_TRAP_EXHAUSTION: return "call stack exhausted";
    case WASM_RT_TRAP_TABLE_OOB: return "out of bounds table access";
    case WASM_RT_TRAP_UNINIT_ELEM: return "uninitialized table element";
    case WASM_RT_TRAP_SIG_MISMATCH: return "indirect call signature mismatch";
    case WASM_RT_TRAP_RESOURCE: return "memory for the instance could not be allocated";
    default: return "trap";
  }
}

// A trap's frames, recorded on the call's stack before it unwinds: the
// return addresses from the trap up to the call's entry (unwind_stop),
// through the unwind tables the C compiler writes for the object.
_Unwind_Reason_Code record_trap_frame(_Unwind_Context* context, void* arg) {
  auto* ctx = static_cast<airssys_call_ctx*>(arg);
  const uintptr_t ip = _Unwind_GetIP(context);
  if (ip == 0) return _URC_END_OF_STACK;
  if (_Unwind_FindEnclosingFunction(reinterpret_cast<void*>(ip)) == ctx->unwind_stop) {
    return _URC_END_OF_STACK;
  }
  if (ctx->trap_frame_count == AIRSSYS_MAX_TRAP_FRAMES) return _URC_END_OF_STACK;
  ctx->trap_frames[ctx->trap_frame_count++] = reinterpret_cast<void*>(ip);
  return _URC_NO_REASON;
}

void record_trap_frames(airssys_call_ctx* ctx) {
  ctx->trap_frame_count = 0;
  _Unwind_Backtrace(record_trap_frame, ctx);
}

// Native code running on one fiber: an export call, or an instantiation.
class NativeRun {
 public:
  struct Entry {
    const airssys_module_desc* desc;
    airssys_thunk fn;
    void* a;
    void* b;
    uint32_t memory_cap_pages = 0;
    // Instantiation: the most each of the module's own tables may hold.
    std::span<const uint32_t> table_caps = {};
  };

  NativeRun(StoreState& state, Entry entry) : state_(state), entry_(entry) {}
  NativeRun(const NativeRun&) = delete;
  NativeRun& operator=(const NativeRun&) = delete;

  // Runs until the code finishes or suspends.
  void switch_in() {
    if (!started_) {
      started_ = true;
      fiber_ = ctx::fiber(std::allocator_arg, PooledStack{&state_.stacks, &base_},
                          [this](ctx::fiber&& caller) {
                            FiberSwitch::finish(nullptr, &caller_bottom_, &caller_size_);
                            caller_ = std::move(caller);
                            body();
                            FiberSwitch::start(nullptr, caller_bottom_, caller_size_);
                            return std::move(caller_);
                          });
    }
    void* fake_stack = nullptr;
    FiberSwitch::start(&fake_stack, base_ + 2 * kPage, kStackSize - 2 * kPage);
    fiber_ = std::move(fiber_).resume();
    FiberSwitch::finish(fake_stack, nullptr, nullptr);
  }

  // Called on the fiber, at the end of a slice.
  void suspend() {
    void* fake_stack = nullptr;
    FiberSwitch::start(&fake_stack, caller_bottom_, caller_size_);
    caller_ = std::move(caller_).resume();
    FiberSwitch::finish(fake_stack, &caller_bottom_, &caller_size_);
  }

  bool started() const { return started_; }
  bool done() const { return done_; }
  int trap() const { return trap_; }
  // The return addresses a trap recorded, innermost first.
  std::span<const uintptr_t> trap_frames() const { return trap_frames_; }
  wasm_rt_memory_t* allocated_memory() const { return memory_; }

 private:
  void body() {
    auto* call_ctx = reinterpret_cast<airssys_call_ctx*>(base_ + AIRSSYS_CTX_OFFSET);
    *call_ctx = airssys_call_ctx{};
    call_ctx->magic = AIRSSYS_CTX_MAGIC;
    call_ctx->fuel_cell = &state_.fuel;
    call_ctx->memory_cap_pages = entry_.memory_cap_pages;
    call_ctx->table_caps = entry_.table_caps.data();
    call_ctx->table_count = static_cast<uint32_t>(entry_.table_caps.size());
    call_ctx->on_trap = record_trap_frames;
    call_ctx->unwind_stop = reinterpret_cast<const void*>(entry_.desc->enter);
    trap_ = entry_.desc->enter(entry_.fn, entry_.a, entry_.b);
    if (trap_) {
      const uint32_t count = std::min(call_ctx->trap_frame_count, AIRSSYS_MAX_TRAP_FRAMES);
      for (uint32_t k = 0; k < count; ++k) {
        trap_frames_.push_back(reinterpret_cast<uintptr_t>(call_ctx->trap_frames[k]));
      }
    }
    memory_ = call_ctx->memory;
    call_ctx->magic = 0;
    done_ = true;
  }

  StoreState& state_;
  Entry entry_;
  ctx::fiber fiber_;
  ctx::fiber caller_;
  char* base_ = nullptr;
  const void* caller_bottom_ = nullptr;
  size_t caller_size_ = 0;
  bool started_ = false;
  bool done_ = false;
  int trap_ = 0;
  std::vector<uintptr_t> trap_frames_;
  wasm_rt_memory_t* memory_ = nullptr;
};

bool StoreState::on_fuel_exhausted() {
  ExecState* exec = active;
  if (!exec) {
    pending = Error{ErrorCode::InternalError, "fuel ran out with no execution on record", {}, 0};
    return false;
  }
  account(*exec);
  if (exec->budget != kUnlimitedFuel && exec->used >= exec->budget) {
    pending = Error{ErrorCode::TrapOutOfFuel,
                    fmt::format("out of fuel: the call used its budget of {} instructions",
                                exec->budget),
                    {},
                    0};
    return false;
  }
  if (exec->fiber) {
    exec->fiber->suspend();
    if (exec->cancel) {
      pending = Error{ErrorCode::CallCancelled, "call cancelled", {}, 0};
      return false;
    }
  }
  start_slice(*exec);
  return true;
}

class NativeInstance;

// What a host function sees of its caller: the calling instance's memory at
// the time of the call (during instantiation, the memory it is allocating,
// which the running call's state knows) and its user data. One per import,
// made at instantiation; used only on the call's stack.
class NativeHostCall final : public HostCall {
 public:
  explicit NativeHostCall(NativeInstance* owner = nullptr) : owner_(owner) {}
  Result<std::span<uint8_t>> memory(uint64_t offset, uint64_t length) override {
    wasm_rt_memory_t* memory = current();
    uint64_t size = memory ? memory->size : 0;
    if (offset > size || length > size - offset) {
      return make_error(ErrorCode::TrapMemoryOutOfBounds,
                        fmt::format("host call: guest range [{}, {}+{}) is outside memory of {} bytes",
                                    offset, offset, length, size));
    }
    return std::span<uint8_t>(memory->data + offset, length);
  }
  uint64_t memory_size() const override {
    wasm_rt_memory_t* memory = current();
    return memory ? memory->size : 0;
  }
  void* user_data() const override;
  // While the owner's own instantiation runs (its start function).
  void set_instantiating(bool on) { instantiating_ = on; }

 private:
  wasm_rt_memory_t* current() const;
  NativeInstance* owner_;
  bool instantiating_ = false;
};

static_assert(std::is_trivially_destructible_v<Value> && std::is_trivially_copyable_v<Value>);

// Room for N values, constructed only as far as used.
template <size_t N>
class ValueBuffer {
 public:
  ValueBuffer() {}
  std::span<Value> take(size_t count, std::vector<Value>& heap) {
    if (count > N) {
      heap.resize(count);
      return heap;
    }
    return std::span<Value>(values_, count);
  }

 private:
  union {
    Value values_[N];
  };
};

struct ImportTarget {
  enum class Kind : uint8_t { Fuel, MemoryGrow, Host, Other } kind = Kind::Other;
  HostFn fn;
  FuncSig sig;
  NativeInstance* owner = nullptr;  // host functions
  NativeHostCall call;
};

class NativeInstance final : public Instance, public std::enable_shared_from_this<NativeInstance> {
 public:
  NativeInstance(std::shared_ptr<StoreState> state, std::shared_ptr<const NativeModule> module,
                 void* user_data, MemoryGrowHook on_grow = {})
      : state_(std::move(state)),
        module_(std::move(module)),
        user_data_(user_data),
        on_grow_(std::move(on_grow)) {}
  ~NativeInstance() override {
    if (raw_) {
      module_->desc().free_instance(raw_);
      std::free(raw_);
    }
    std::free(imports_);
  }

  const Module& module() const override { return *module_; }
  using Instance::call;
  using Instance::start_call;
  Result<ExportHandle> resolve(std::string_view export_name) const override;
  Result<std::vector<Value>> call(ExportHandle export_handle, std::span<const Value> args,
                                  const CallOptions& options) override;
  Result<std::unique_ptr<Call>> start_call(ExportHandle export_handle,
                                           std::span<const Value> args,
                                           const CallOptions& options) override;
  Result<Value> global(std::string_view export_name) const override;
  uint64_t memory_bytes() const override { return memory_ ? memory_->size : 0; }
  uint64_t fuel_used() const override { return fuel_used_; }
  Result<InstanceState> save_state() const override;
  Result<void> restore_state(const InstanceState& saved);
  // Runs export `index` (its io slots prepared) to completion within `fuel`.
  Result<void> run_export(uint32_t index, airssys_slot* io, uint64_t fuel, uint64_t slice);

  Result<void> write_memory(uint64_t offset, std::span<const uint8_t> bytes) override {
    return detail::write_memory_at(memory_data(), memory_bytes(), offset, bytes);
  }
  Result<std::vector<uint8_t>> read_memory(uint64_t offset, uint64_t length) const override {
    return detail::read_memory_at(memory_data(), memory_bytes(), offset, length);
  }
  uint8_t* memory_data() const { return memory_ ? memory_->data : nullptr; }

  // The io slots for a call of the export `handle` names with `args`, checked;
  // its index in the plan in *index.
  Result<std::vector<airssys_slot>> prepare(ExportHandle handle, std::span<const Value> args,
                                            uint32_t* index);
  Error trap_error(int trap, std::span<const uintptr_t> frames);

  // Called by the compiled code for an import that the host provides.
  int dispatch(uint32_t index, airssys_slot* io);
  int grow_memory(airssys_slot* io);

  std::shared_ptr<StoreState> state_;
  std::shared_ptr<const NativeModule> module_;
  void* user_data_;
  MemoryGrowHook on_grow_;
  void* raw_ = nullptr;
  airssys_imports* imports_ = nullptr;
  std::vector<ImportTarget> targets_;
  std::vector<std::shared_ptr<const Instance>> providers_;  // kept alive: we point into them
  wasm_rt_memory_t* memory_ = nullptr;
  uint64_t fuel_used_ = 0;
  int suspended_calls_ = 0;  // calls between two slices: their frames live here
};

// memory.grow of memory 0 (the metering rewrite routes it here), exactly as
// the instruction does it, then the embedder's hook with the outcome, as the
// interpreter does.
int NativeInstance::grow_memory(airssys_slot* io) {
  // During instantiation the instance does not know its memory yet; the
  // running call's context does.
  wasm_rt_memory_t* memory =
      memory_ ? memory_ : airssys_ctx_of(airssys_stack_pointer())->memory;
  const uint32_t delta = io[0].i32;
  if (!memory) {
    io[0].i32 = UINT32_MAX;
    return 0;
  }
  const uint64_t old_pages = memory->pages;
  const uint32_t result = module_->grow()(memory, delta);
  io[0].i32 = result;
  if (on_grow_) {
    MemoryGrowEvent event;
    event.old_bytes = old_pages * kWasmPageSize;
    event.requested_bytes = (old_pages + delta) * kWasmPageSize;
    event.limit_bytes = uint64_t{memory->max_pages} * kWasmPageSize;
    event.granted = result != UINT32_MAX;
    on_grow_(event);
  }
  return 0;
}

// Calls a HostFn with Values made by `arg(i, type)` and hands each result to
// `result(i, value)`; 0, or 1 with the error recorded for the trap that
// follows. Shared by the indexed dispatch and the direct call of a HostFn of
// numbers, which differ only in how values are stored.
template <class Arg, class Out>
int invoke_host_fn(StoreState& state, ImportTarget& target, Arg arg, Out result) {
  const FuncSig& sig = target.sig;
  // Values for the common small signatures live in uninitialized storage:
  // constructing a full array of them per call cost more than the call.
  ValueBuffer<16> arg_buffer;
  ValueBuffer<8> result_buffer;
  std::vector<Value> arg_heap;
  std::vector<Value> result_heap;
  std::span<Value> args = arg_buffer.take(sig.params.size(), arg_heap);
  std::span<Value> out = result_buffer.take(sig.results.size(), result_heap);
  for (size_t i = 0; i < sig.params.size(); ++i) new (&args[i]) Value(arg(i, sig.params[i]));
  for (size_t i = 0; i < sig.results.size(); ++i) new (&out[i]) Value(Value::zero(sig.results[i]));
  auto outcome = target.fn(target.call, args, out);
  if (!outcome) {
    state.pending = std::move(outcome).error();
    return 1;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].type() != sig.results[i]) {
      state.pending =
          Error{ErrorCode::InternalError, "host function returned a value of the wrong type", {}, 0};
      return 1;
    }
    result(i, out[i]);
  }
  return 0;
}

int NativeInstance::dispatch(uint32_t index, airssys_slot* io) {
  StoreState& state = *state_;
  try {
    if (index >= targets_.size()) {
      state.pending = Error{ErrorCode::InternalError, "call of an unknown import", {}, 0};
      return 1;
    }
    ImportTarget& target = targets_[index];
    if (target.kind == ImportTarget::Kind::Fuel) return state.on_fuel_exhausted() ? 0 : 1;
    if (target.kind == ImportTarget::Kind::MemoryGrow) return grow_memory(io);
    if (target.kind != ImportTarget::Kind::Host) {
      state.pending = Error{ErrorCode::InternalError, "import is not a host function", {}, 0};
      return 1;
    }
    return invoke_host_fn(
        state, target, [&](size_t i, ValType type) { return from_slot(state, type, io[i]); },
        [&](size_t i, const Value& v) { io[i] = to_slot(state, v); });
  } catch (const std::exception& e) {
    state.pending = Error{ErrorCode::InternalError,
                          fmt::format("host function threw: {}", e.what()), {}, 0};
    return 1;
  } catch (...) {
    state.pending = Error{ErrorCode::InternalError, "host function threw", {}, 0};
    return 1;
  }
}

Value from_raw(ValType type, uint64_t raw) {
  switch (type) {
    case ValType::I32: return Value::i32(static_cast<int32_t>(static_cast<uint32_t>(raw)));
    case ValType::I64: return Value::i64(static_cast<int64_t>(raw));
    case ValType::F32: return Value::f32_bits(static_cast<uint32_t>(raw));
    case ValType::F64: return Value::f64_bits(raw);
    default: return Value::zero(type);
  }
}

uint64_t to_raw(const Value& v) {
  switch (v.type()) {
    case ValType::I32: return static_cast<uint32_t>(v.as_i32());
    case ValType::I64: return static_cast<uint64_t>(v.as_i64());
    case ValType::F32: return v.f32_bits();
    case ValType::F64: return v.f64_bits();
    default: return 0;
  }
}

// The compiled code's direct call of a host function given as a HostFn
// whose types are all numbers (airssys_host_fn): Values made from the raw
// slots. It ends as dispatch does: an error is recorded for the trap that
// follows.
int call_host_values(void* t, const uint64_t* raw_args, uint64_t* raw_results) {
  auto& target = *static_cast<ImportTarget*>(t);
  NativeInstance& instance = *target.owner;
  StoreState& state = *instance.state_;
  try {
    return invoke_host_fn(
        state, target, [&](size_t i, ValType type) { return from_raw(type, raw_args[i]); },
        [&](size_t i, const Value& v) { raw_results[i] = to_raw(v); });
  } catch (const std::exception& e) {
    state.pending = Error{ErrorCode::InternalError,
                          fmt::format("host function threw: {}", e.what()), {}, 0};
    return 1;
  } catch (...) {
    state.pending = Error{ErrorCode::InternalError, "host function threw", {}, 0};
    return 1;
  }
}

void raise_error(void* host_instance, void* error) {
  std::unique_ptr<Error> e(static_cast<Error*>(error));
  static_cast<NativeInstance*>(host_instance)->state_->pending = std::move(*e);
}

wasm_rt_memory_t* NativeHostCall::current() const {
  if (owner_->memory_ || !instantiating_) return owner_->memory_;
  // Its start function runs: the memory this instantiation has allocated,
  // which only the running call's state knows yet.
  return airssys_ctx_of(airssys_stack_pointer())->memory;
}

void* NativeHostCall::user_data() const { return owner_->user_data_; }

int call_import(void* host_instance, uint32_t index, airssys_slot* io) {
  return static_cast<NativeInstance*>(host_instance)->dispatch(index, io);
}

Error NativeInstance::trap_error(int trap, std::span<const uintptr_t> frames) {
  StoreState& state = *state_;
  Error e{ErrorCode::InternalError, "the call ended without a recorded error", {}, 0};
  if (trap == WASM_RT_TRAP_HOST) {
    if (state.pending) e = std::move(*state.pending);
  } else {
    e = Error{trap_code(trap), trap_message(trap), {}, 0};
  }
  state.pending.reset();
  if (e.backtrace.empty()) e.backtrace = module_->backtrace(frames);
  return e;
}

Result<ExportHandle> NativeInstance::resolve(std::string_view export_name) const {
  auto k = detail::function_export(module_->name_, module_->export_index_, module_->exports_,
                                   export_name);
  if (!k) return std::unexpected(k.error());
  return ExportHandle{id(), *k};
}

Result<std::vector<airssys_slot>> NativeInstance::prepare(ExportHandle handle,
                                                          std::span<const Value> args,
                                                          uint32_t* index) {
  auto k = export_index(handle);
  if (!k) return std::unexpected(k.error());
  // The guest's exports come first in the plan, in the order of
  // Module::exports(); the host's own (the start function, the mutable
  // globals) follow and are never called by handle.
  if (*k >= module_->plan_.guest_exports ||
      module_->plan_.exports[*k].kind != ExternKind::Func) {
    return make_error(ErrorCode::InvalidHandle,
                      fmt::format("module '{}' has no function export at index {}",
                                  module_->name_, *k));
  }
  AIRSSYS_TRY(detail::check_args(module_->exports_[*k], args));
  const FuncSig& sig = module_->plan_.exports[*k].sig;
  std::vector<airssys_slot> io(std::max<size_t>({1, sig.params.size(), sig.results.size()}));
  for (size_t i = 0; i < args.size(); ++i) io[i] = to_slot(*state_, args[i]);
  *index = *k;
  return io;
}

Result<std::vector<Value>> NativeInstance::call(ExportHandle export_handle,
                                                std::span<const Value> args,
                                                const CallOptions& options) {
  StoreState& state = *state_;
  if (state.active) return detail::reentrant_call();
  uint32_t index = 0;
  auto io = prepare(export_handle, args, &index);
  if (!io) return std::unexpected(io.error());
  if (auto ran = run_export(index, io->data(), options.fuel, options.slice); !ran) {
    return std::unexpected(ran.error());
  }
  const auto& results = module_->plan_.exports[index].sig.results;
  std::vector<Value> out;
  out.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i) out.push_back(from_slot(state, results[i], (*io)[i]));
  return out;
}

Result<void> NativeInstance::run_export(uint32_t index, airssys_slot* io, uint64_t fuel,
                                        uint64_t slice) {
  StoreState& state = *state_;
  ExecState exec;
  exec.budget = fuel;
  exec.slice = std::max<uint64_t>(slice, 1);
  state.active = &exec;
  state.start_slice(exec);
  NativeRun run(state, {&module_->desc(), module_->desc().export_calls[index], raw_, io});
  run.switch_in();
  state.account(exec);
  state.active = nullptr;
  fuel_used_ += exec.used;
  if (run.trap()) return std::unexpected(trap_error(run.trap(), run.trap_frames()));
  return {};
}

// A cell of a global by its plan export, as a slot of its type.
airssys_slot read_cell(const void* cell, ValType type) {
  airssys_slot s{};
  switch (type) {
    case ValType::I32: std::memcpy(&s.i32, cell, 4); break;
    case ValType::I64: std::memcpy(&s.i64, cell, 8); break;
    case ValType::F32: std::memcpy(&s.f32, cell, 4); break;
    case ValType::F64: std::memcpy(&s.f64, cell, 8); break;
    case ValType::FuncRef: std::memcpy(&s.funcref, cell, sizeof s.funcref); break;
    case ValType::ExternRef: std::memcpy(&s.externref, cell, sizeof s.externref); break;
    case ValType::V128: break;
  }
  return s;
}

Result<InstanceState> NativeInstance::save_state() const {
  if (auto ok = module_->state_transferable(); !ok) return std::unexpected(ok.error());
  if (state_->active || suspended_calls_ > 0) {
    return make_error(ErrorCode::CallInProgress, "cannot save an instance's state during a call");
  }
  InstanceState saved;
  if (memory_) saved.memory.assign(memory_->data, memory_->data + memory_->size);
  for (uint32_t k : module_->plan_.state_globals) {
    const ValType type = module_->plan_.exports[k].type;
    saved.globals.push_back(
        from_slot(*state_, type, read_cell(module_->desc().export_pointers[k](raw_), type)));
  }
  return saved;
}

// The other half of save_state, right after an instantiation that skipped
// the start function (see NativeStore::instantiate).
Result<void> NativeInstance::restore_state(const InstanceState& saved) {
  const auto& plan = module_->plan_;
  auto grow = detail::check_saved_state(saved, module_->name_, plan.state_globals.size(),
                                        memory_ != nullptr, memory_bytes());
  if (!grow) return std::unexpected(grow.error());
  for (size_t i = 0; i < saved.globals.size(); ++i) {
    const ValType type = plan.exports[plan.state_globals[i]].type;
    if (saved.globals[i].type() != type || type == ValType::FuncRef ||
        type == ValType::ExternRef || type == ValType::V128) {
      return make_error(ErrorCode::StateNotTransferable,
                        fmt::format("module '{}': saved global {} is of another type",
                                    module_->name_, i));
    }
  }
  if (*grow > 0 &&
      (*grow > UINT32_MAX || module_->grow()(memory_, static_cast<uint32_t>(*grow)) == UINT32_MAX)) {
    return std::unexpected(detail::saved_memory_over_limit(module_->name_, saved.memory.size()));
  }
  if (!saved.memory.empty()) std::memcpy(memory_->data, saved.memory.data(), saved.memory.size());
  for (size_t i = 0; i < saved.globals.size(); ++i) {
    const uint32_t k = plan.state_globals[i];
    airssys_slot s = to_slot(*state_, saved.globals[i]);
    void* cell = module_->desc().export_pointers[k](raw_);
    switch (plan.exports[k].type) {
      case ValType::I32: std::memcpy(cell, &s.i32, 4); break;
      case ValType::I64: std::memcpy(cell, &s.i64, 8); break;
      case ValType::F32: std::memcpy(cell, &s.f32, 4); break;
      case ValType::F64: std::memcpy(cell, &s.f64, 8); break;
      default: break;  // refused above
    }
  }
  return {};
}

class NativeCall final : public Call {
 public:
  NativeCall(std::shared_ptr<NativeInstance> instance, uint32_t index,
             std::vector<airssys_slot> io, const CallOptions& options)
      : instance_(std::move(instance)),
        index_(index),
        io_(std::move(io)),
        run_(*instance_->state_, {&instance_->module_->desc(),
                                  instance_->module_->desc().export_calls[index], instance_->raw_,
                                  io_.data()}) {
    exec_.budget = options.fuel;
    exec_.slice = std::max<uint64_t>(options.slice, 1);
    exec_.fiber = &run_;
  }

  ~NativeCall() override {
    note_suspended(false);
    if (run_.started() && !done_) {
      // The fuel function sees the cancel flag and ends the call; its frames
      // unwind and the fiber finishes.
      exec_.cancel = true;
      auto& state = *instance_->state_;
      state.active = &exec_;
      run_.switch_in();
      state.active = nullptr;
      state.pending.reset();
    }
  }

  Result<State> resume() override {
    if (done_) {
      if (error_) return std::unexpected(*error_);
      return State::Finished;
    }
    auto& state = *instance_->state_;
    if (state.active) return detail::resume_inside_call();
    state.active = &exec_;
    if (!run_.started()) state.start_slice(exec_);
    run_.switch_in();
    state.active = nullptr;
    note_suspended(!run_.done());
    if (!run_.done()) return State::Suspended;
    done_ = true;
    state.account(exec_);
    instance_->fuel_used_ += exec_.used;
    if (run_.trap()) {
      error_ = instance_->trap_error(run_.trap(), run_.trap_frames());
      return std::unexpected(*error_);
    }
    const auto& types = instance_->module_->plan_.exports[index_].sig.results;
    for (size_t i = 0; i < types.size(); ++i) {
      results_.push_back(from_slot(state, types[i], io_[i]));
    }
    return State::Finished;
  }

  std::span<const Value> results() const override { return results_; }
  uint64_t fuel_used() const override { return exec_.used; }
  void set_slice(uint64_t slice) override { exec_.slice = std::max<uint64_t>(slice, 1); }

 private:
  std::shared_ptr<NativeInstance> instance_;
  uint32_t index_;
  std::vector<airssys_slot> io_;
  ExecState exec_;
  NativeRun run_;
  std::vector<Value> results_;
  std::optional<Error> error_;
  bool done_ = false;
  bool suspended_ = false;

  // Keeps the instance's count of calls suspended between slices.
  void note_suspended(bool suspended) {
    if (suspended == suspended_) return;
    instance_->suspended_calls_ += suspended ? 1 : -1;
    suspended_ = suspended;
  }
};

Result<std::unique_ptr<Call>> NativeInstance::start_call(ExportHandle export_handle,
                                                         std::span<const Value> args,
                                                         const CallOptions& options) {
  uint32_t index = 0;
  auto io = prepare(export_handle, args, &index);
  if (!io) return std::unexpected(io.error());
  return std::make_unique<NativeCall>(shared_from_this(), index, std::move(*io), options);
}

Result<Value> NativeInstance::global(std::string_view export_name) const {
  auto k = detail::global_export(module_->name_, module_->export_index_, module_->exports_,
                                 export_name);
  if (!k) return std::unexpected(k.error());
  ValType type = module_->plan_.exports[*k].type;
  return from_slot(*state_, type, read_cell(module_->desc().export_pointers[*k](raw_), type));
}

std::string describe(const detail::NativeImport& import) {
  if (import.kind == ExternKind::Func) {
    return fmt::format("'{}'.'{}' (func {})", import.module, import.name, import.sig.to_string());
  }
  return fmt::format("'{}'.'{}' ({})", import.module, import.name, extern_kind_name(import.kind));
}

bool limits_match(uint64_t size, std::optional<uint64_t> max, const detail::NativeLimits& wanted) {
  if (size < wanted.initial) return false;
  if (wanted.has_max && (!max || *max > wanted.max)) return false;
  return true;
}

class NativeStore final : public Store {
 public:
  NativeStore() : state_(std::make_shared<StoreState>()) {}
  Result<std::shared_ptr<Instance>> instantiate(const Module& module, const Linker& linker,
                                                const InstanceOptions& options) override;

 private:
  Result<void> resolve(NativeInstance& instance, size_t k, const Linker& linker);
  std::shared_ptr<StoreState> state_;
  // Every instance made here, as the interpreter's store keeps them: a table
  // may hold a function of an instance nobody else refers to any more (even
  // of one whose instantiation failed after it wrote into an imported table).
  std::vector<std::shared_ptr<NativeInstance>> instances_;
};

Result<void> NativeStore::resolve(NativeInstance& instance, size_t k, const Linker& linker) {
  const auto& import = instance.module_->plan_.imports[k];
  auto& item = instance.imports_->items[k];
  auto& target = instance.targets_[k];
  if (import.module == kReservedModule) {
    if (import.name == detail::kFuelGlobalName) {
      item.pointer = &state_->fuel;
    } else if (import.name == detail::kMemoryGrowName) {
      target.kind = ImportTarget::Kind::MemoryGrow;
    } else {
      target.kind = ImportTarget::Kind::Fuel;
    }
    return {};
  }
  if (const Instance* provider = linker.find_instance(import.module)) {
    auto* other = dynamic_cast<const NativeInstance*>(provider);
    if (!other || other->state_ != state_) {
      return make_error(ErrorCode::UnknownImport,
                        fmt::format("import {}: the instance registered as '{}' belongs to "
                                    "another store",
                                    describe(import), import.module));
    }
    auto it = other->module_->export_index_.find(import.name);
    if (it != other->module_->export_index_.end()) {
      const auto& exp = other->module_->plan_.exports[it->second];
      const auto& desc = other->module_->desc();
      auto mismatch = [&](std::string_view why) {
        return make_error(ErrorCode::IncompatibleImport,
                          fmt::format("import {}: {}", describe(import), why));
      };
      if (exp.kind != import.kind) return mismatch("the export is of another kind");
      switch (import.kind) {
        case ExternKind::Func:
          if (exp.sig != import.sig) {
            return mismatch(fmt::format("the export has type {}", exp.sig.to_string()));
          }
          item.pointer = reinterpret_cast<void*>(desc.export_functions[it->second]);
          item.instance = other->raw_;
          break;
        case ExternKind::Global:
          if (exp.type != import.type || exp.mutable_ != import.mutable_) {
            return mismatch("the global's type differs");
          }
          item.pointer = desc.export_pointers[it->second](other->raw_);
          break;
        case ExternKind::Memory: {
          auto* memory = static_cast<wasm_rt_memory_t*>(desc.export_pointers[it->second](other->raw_));
          std::optional<uint64_t> max;
          if (exp.limits.has_max) max = memory->max_pages;
          if (!limits_match(memory->pages, max, import.limits)) {
            return mismatch("the memory's limits do not match");
          }
          item.pointer = memory;
          break;
        }
        case ExternKind::Table: {
          void* table = desc.export_pointers[it->second](other->raw_);
          uint64_t size = exp.type == ValType::FuncRef
                              ? static_cast<wasm_rt_funcref_table_t*>(table)->size
                              : static_cast<wasm_rt_externref_table_t*>(table)->size;
          std::optional<uint64_t> max;
          if (exp.limits.has_max) max = exp.limits.max;
          if (exp.type != import.type || !limits_match(size, max, import.limits)) {
            return mismatch("the table's type or limits do not match");
          }
          item.pointer = table;
          break;
        }
        case ExternKind::Tag: return mismatch("tags are not supported");
      }
      instance.providers_.push_back(other->shared_from_this());
      return {};
    }
    if (!linker.find_function(import.module, import.name)) {
      return make_error(ErrorCode::UnknownImport,
                        fmt::format("import {}: module '{}' exports nothing by that name",
                                    describe(import), import.module));
    }
  }
  const HostFunction* host = linker.find_function(import.module, import.name);
  if (!host || import.kind != ExternKind::Func) {
    return make_error(ErrorCode::UnknownImport,
                      fmt::format("import {} is not provided by the host", describe(import)));
  }
  if (host->sig != import.sig) {
    return make_error(ErrorCode::IncompatibleImport,
                      fmt::format("import {}: the host function has type {}", describe(import),
                                  host->sig.to_string()));
  }
  target.kind = ImportTarget::Kind::Host;
  target.fn = host->fn;
  target.sig = host->sig;
  target.owner = &instance;
  target.call = NativeHostCall(&instance);
  // The glue of an import whose types are all numbers calls the host
  // directly (native_glue.cpp): the typed entry of host_function<F>()
  // when there is one, else the HostFn through call_host_values. Others go
  // through call_import.
  item.host = &target;
  item.pointer = reinterpret_cast<void*>(static_cast<airssys_host_fn>(call_host_values));
  if (host->native_entry) {
    item.typed = const_cast<void*>(host->native_entry);
    item.call = static_cast<HostCall*>(&target.call);
  }
  return {};
}

Result<std::shared_ptr<Instance>> NativeStore::instantiate(const Module& module,
                                                           const Linker& linker,
                                                           const InstanceOptions& options) {
  auto* native = dynamic_cast<const NativeModule*>(&module);
  if (!native) {
    return make_error(ErrorCode::InvalidArgument, "module was loaded by another engine backend");
  }
  auto& state = *state_;
  if (state.active) {
    return make_error(ErrorCode::CallInProgress, "cannot instantiate while a call is running");
  }
  const uint64_t page_cap =
      std::min<uint64_t>(options.limits.max_memory_bytes / kWasmPageSize, kMaxPages);
  const auto& plan = native->plan_;
  for (size_t i = 0; i < plan.memories.size(); ++i) {
    if (plan.memories[i].initial > page_cap) {
      return make_error(
          ErrorCode::LimitExceeded,
          fmt::format("module '{}': memory {} starts at {} pages ({}), over the instance's "
                      "memory limit of {}",
                      native->name_, i, plan.memories[i].initial,
                      format_byte_size(plan.memories[i].initial * kWasmPageSize),
                      format_byte_size(options.limits.max_memory_bytes)));
    }
  }
  // Tables count against the memory limit: the runtime gives each table its
  // share of the instance's table budget as its maximum (airssys-rt.c), and
  // tables over the budget are refused here, before anything is allocated.
  std::vector<ExternLimits> tables;
  tables.reserve(plan.tables.size());
  for (const auto& t : plan.tables) {
    tables.push_back({t.initial, t.has_max ? std::optional(t.max) : std::nullopt});
  }
  auto table_caps = detail::table_caps(native->name_, tables, options.limits);
  if (!table_caps) return std::unexpected(table_caps.error());

  auto instance = std::make_shared<NativeInstance>(state_, native->shared_from_this(),
                                                   options.user_data, options.on_memory_grow);
  instances_.push_back(instance);
  const auto& desc = native->desc();
  const size_t n = plan.imports.size();
  instance->imports_ = static_cast<airssys_imports*>(
      std::calloc(1, sizeof(airssys_imports) + n * sizeof(instance->imports_->items[0])));
  instance->raw_ = std::calloc(1, desc.instance_size);
  if (!instance->imports_ || !instance->raw_) throw std::bad_alloc();
  instance->imports_->self = instance->imports_;
  instance->imports_->host_instance = instance.get();
  instance->targets_.resize(n);
  for (size_t k = 0; k < n; ++k) {
    if (auto ok = resolve(*instance, k, linker); !ok) return std::unexpected(ok.error());
    if (plan.imports[k].kind == ExternKind::Memory && !instance->memory_) {
      instance->memory_ = static_cast<wasm_rt_memory_t*>(instance->imports_->items[k].pointer);
    }
  }

  ExecState exec;
  exec.budget = options.start_fuel;
  state.active = &exec;
  state.start_slice(exec);
  NativeRun run(state, {&desc, desc.instantiate, instance->raw_, instance->imports_,
                        static_cast<uint32_t>(page_cap), *table_caps});
  for (auto& target : instance->targets_) target.call.set_instantiating(true);
  run.switch_in();
  for (auto& target : instance->targets_) target.call.set_instantiating(false);
  state.account(exec);
  state.active = nullptr;
  instance->fuel_used_ += exec.used;
  if (!instance->memory_) instance->memory_ = run.allocated_memory();
  std::optional<Error> failed;
  if (run.trap()) {
    failed = instance->trap_error(run.trap(), run.trap_frames());
  } else if (options.restore) {
    // Continues from a saved state: the start function ran where it was saved.
    if (auto ok = instance->restore_state(*options.restore); !ok) return std::unexpected(ok.error());
  } else if (plan.start_export) {
    airssys_slot io{};
    const uint64_t left = options.start_fuel == kUnlimitedFuel
                              ? kUnlimitedFuel
                              : options.start_fuel - std::min(exec.used, options.start_fuel);
    if (auto ran = instance->run_export(*plan.start_export, &io, left, exec.slice); !ran) {
      failed = ran.error();
    }
  }
  if (failed) {
    failed->message = fmt::format("instantiating '{}': {}", native->name_, failed->message);
    return std::unexpected(std::move(*failed));
  }
  return instance;
}

class NativeEngine final : public Engine {
 public:
  NativeEngine(std::unique_ptr<detail::NativeCompiler> compiler)
      : interp_(Engine::interpreter()), compiler_(std::move(compiler)) {}

  Result<std::shared_ptr<const Module>> load(std::span<const uint8_t> bytes,
                                             std::string_view name) override {
    return load_cancellable(bytes, name, nullptr);
  }
  Result<std::shared_ptr<const Module>> load_cancellable(std::span<const uint8_t> bytes,
                                                         std::string_view name,
                                                         const std::atomic<bool>* cancel) override;
  Result<std::shared_ptr<const Module>> load_wat(std::string_view text,
                                                 std::string_view name) override;
  void cancel_compiles() override { compiler_->cancel_all(); }
  bool compiles(std::span<const uint8_t> bytes) override {
    return !compiler_->holds(compiler_->module_key(bytes)) &&
           compiler_->check_bounds(bytes, "module").has_value();
  }
  std::unique_ptr<Store> new_store() override { return std::make_unique<NativeStore>(); }
  Tier tier() const override { return Tier::Native; }
  EngineStats stats() const override {
    auto s = compiler_->stats();
    return {s.compiles, s.cache_hits, s.cache_refused};
  }

 private:
  std::unique_ptr<Engine> interp_;
  std::unique_ptr<detail::NativeCompiler> compiler_;
};

Result<std::shared_ptr<const Module>> NativeEngine::load_cancellable(
    std::span<const uint8_t> bytes, std::string_view name, const std::atomic<bool>* cancel) {
  try {
    // A sound cache entry for exactly these bytes (and this compiler,
    // runtime and pipeline) was written after they passed the whole pipeline
    // below, and records what it found: nothing needs to run again.
    const std::string key = compiler_->module_key(bytes);
    std::optional<detail::NativeEntry> entry = compiler_->lookup(key);
    if (!entry) {
      // The interpreter's loader validates and describes the module, so both
      // tiers accept and refuse exactly the same modules.
      auto checked = interp_->load(bytes, name);
      if (!checked) return std::unexpected(checked.error());
      // Nothing past the bounds reaches the compilers.
      AIRSSYS_TRY(compiler_->check_bounds(bytes, name));
      auto metered = detail::add_metering(bytes, wabt::Features{});
      if (!metered) return std::unexpected(metered.error());
      auto plan = detail::plan_native(metered->bytes);
      if (!plan) return std::unexpected(plan.error());
      entry.emplace();
      entry->imports = (*checked)->imports();
      entry->exports = (*checked)->exports();
      entry->plan = std::move(*plan);
      entry->state_hazard = std::move(metered->state_hazard);
      entry->warnings = (*checked)->warnings();
      // The function names, for the backtraces of traps.
      detail::ModuleNotes notes;
      if (detail::check_well_formed(bytes, wabt::Features{}, &notes)) {
        entry->func_names = std::move(notes.func_names);
      }
      auto object = compiler_->build(key, *entry, name, cancel);
      if (!object) return std::unexpected(object.error());
      entry->object = std::move(*object);
    }
    auto loaded = LoadedObject::load(entry->object, entry->plan, compiler_->cache_dir(), name);
    if (!loaded) return std::unexpected(loaded.error());
    auto module = std::make_shared<NativeModule>();
    module->name_ = std::string(name);
    module->imports_ = std::move(entry->imports);
    module->exports_ = std::move(entry->exports);
    module->plan_ = std::move(entry->plan);
    module->plan_.bytes.clear();
    module->plan_.bytes.shrink_to_fit();
    module->object_ = std::move(*loaded);
    module->state_hazard_ = std::move(entry->state_hazard);
    module->warnings_ = std::move(entry->warnings);
    module->func_names_ = std::move(entry->func_names);
    for (const auto& imp : module->plan_.imports) {
      if (imp.kind == ExternKind::Func && imp.module != kReservedModule) ++module->func_imports_;
    }
    for (uint32_t k = 0; k < module->plan_.guest_exports; ++k) {
      module->export_index_.emplace(module->plan_.exports[k].name, k);
    }
    return module;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::CompileFailed,
                      fmt::format("{}: native compilation failed ({})", name, e.what()));
  }
}

Result<std::shared_ptr<const Module>> NativeEngine::load_wat(std::string_view text,
                                                             std::string_view name) {
  auto bytes = detail::wat_to_binary(text, name, wabt::Features{});
  if (!bytes) return std::unexpected(bytes.error());
  return load(*bytes, name);
}

}  // namespace

const char* tier_name(Tier tier) { return tier == Tier::Native ? "native" : "interp"; }

fs::path default_native_cache_dir() {
  if (const char* home = std::getenv("AIRSSYS_HOME"); home && *home) {
    return fs::path(home) / "cache" / "native";
  }
  const char* user_home = std::getenv("HOME");
  return fs::path(user_home && *user_home ? user_home : "/") / ".airssys" / "cache" / "native";
}

Result<std::unique_ptr<Engine>> Engine::native(NativeOptions options) {
  detail::CompilerConfig config;
  config.wasm2c = options.wasm2c.empty() ? fs::path(AIRSSYS_WASM2C_PATH) : options.wasm2c;
  config.cc = options.compiler.empty() ? fs::path(AIRSSYS_NATIVE_CC_PATH) : options.compiler;
  config.cache_dir = options.cache_dir.empty() ? default_native_cache_dir() : options.cache_dir;
  config.timeout = options.compile_timeout;
  config.memory_bytes = options.compile_memory_bytes;
  config.max_module_bytes = options.max_module_bytes;
  config.max_function_bytes = options.max_function_bytes;
  config.max_br_table_targets = options.max_br_table_targets;
  config.cache_only = options.cache_only;
  auto compiler = detail::NativeCompiler::create(std::move(config));
  if (!compiler) return std::unexpected(compiler.error());
  return std::unique_ptr<Engine>(std::make_unique<NativeEngine>(std::move(*compiler)));
}

}  // namespace airssys::wasm::engine
