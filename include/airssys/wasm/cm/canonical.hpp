#pragma once
// The canonical ABI of the Component Model, synchronous MVP: how component
// values (cm::Val of a cm::ValType) cross into and out of core WebAssembly,
// as flat core values (engine::Value) and in linear memory.
//
//   - Layout: alignment, elem_size, discriminants, flags, flattening (16 flat
//     parameters, 1 flat result, the rest spilled to memory).
//   - Lift (core -> Val) and lower (Val -> core), flat and in memory; strings
//     in UTF-8, UTF-16 and latin1+UTF-16, transcoded on the way.
//   - Resources: per-instance handle tables, own/borrow rules, lending, drop
//     and destructors, the may_enter / may_leave reentrancy flags.
//   - The sequence of a synchronous call: call_lifted (canon lift) and
//     call_lowered (canon lower), with the borrow checks at the end of a call
//     and the post-return call.
//
// Every invalid value from a guest is a trap, ErrorCode::TrapCanonical, whose
// message says what was wrong ("invalid variant discriminant 3 (2 cases)",
// "list content out-of-bounds ...", "unaligned pointer ..."). A Val the host
// passes in that does not fit its type is ErrorCode::InvalidArgument.
//
// Memories are 32-bit (the 64-bit memory option is past the MVP). The
// guest's memory is reached through GuestMemory, re-read after every call of
// realloc since the memory may have grown.
//
// Floats: lifting canonicalizes every NaN to the canonical NaN (0x7fc00000,
// 0x7ff8000000000000); lowering writes that canonical NaN for every NaN too
// (the specification's deterministic profile, one of the choices it allows).
//
// Strings: a Val holds UTF-8 only, so lowering always transcodes from UTF-8
// (the source the specification's store_string calls 'utf8', with the byte
// length as its code units). The bytes written are the same as from any other
// source encoding; only the sizes passed to realloc on the way may differ
// from those of a string that crossed in UTF-16 or Latin-1.
//
// Not thread-safe: an instance's state is used by one thread at a time.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "airssys/wasm/cm/types.hpp"
#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/value.hpp"

namespace airssys::wasm::cm {

// ---------------------------------------------------------------- options

// A guest's linear memory: the whole memory as it is now. The span is valid
// until the guest runs again (a realloc may grow and move it).
class GuestMemory {
 public:
  virtual ~GuestMemory() = default;
  [[nodiscard]] virtual std::span<uint8_t> bytes() = 0;
};

// The guest's realloc (old_ptr, old_size, align, new_size) -> new_ptr. It
// calls into the guest; its errors (a trap of the guest) propagate as they
// are.
using Realloc = std::function<Result<uint32_t>(uint32_t old_ptr, uint32_t old_size,
                                               uint32_t align, uint32_t new_size)>;

// The canonopts of a `canon lift` or `canon lower`.
struct CanonOptions {
  StringEncoding encoding = StringEncoding::Utf8;
  GuestMemory* memory = nullptr;  // required for strings, lists and spills
  Realloc realloc;                // required to lower strings and lists
  bool has_post_return = false;   // whether the lift names a post-return function
};

// ---------------------------------------------------------------- limits

inline constexpr size_t kMaxFlatParams = 16;
inline constexpr size_t kMaxFlatResults = 1;
inline constexpr uint32_t kMaxStringByteLength = (1u << 28) - 1;
inline constexpr uint32_t kMaxListByteLength = (1u << 28) - 1;
inline constexpr uint32_t kMaxTableLength = (1u << 28) - 1;
// The most list elements the lifting of one call's values into Vals builds
// (the parameters of a lowered call, or the results of a lifted one). Each
// element is a Val in host memory, some 70 bytes even for a u8, so without
// a bound a guest would make the host hold tens of times its own memory;
// past it the call traps ("... list elements lifted at once"). The typed
// path (cm/typed.hpp) builds no Vals and has no such bound.
inline constexpr uint64_t kMaxLiftedListElements = uint64_t{1} << 20;
// The high bit of a latin1+utf16 string's length: set when it is UTF-16.
inline constexpr uint32_t kUtf16Tag = 1u << 31;
inline constexpr uint32_t kCanonicalNan32 = 0x7fc00000u;
inline constexpr uint64_t kCanonicalNan64 = 0x7ff8000000000000ull;

// The bit pattern with every NaN replaced by the canonical NaN.
[[nodiscard]] uint32_t canonicalize_nan32(uint32_t bits);
[[nodiscard]] uint64_t canonicalize_nan64(uint64_t bits);

// ---------------------------------------------------------------- layout

// The specialized types in their fundamental form: a tuple is a record with
// fields "0", "1", ...; an enum a variant without payloads; option<T> the
// variant (none, some(T)); result<T, E> the variant (ok(T), error(E)). Any
// other type comes back unchanged (strings and flags have their own layout).
[[nodiscard]] TypeRef despecialize(const TypeRef& type);

// Variant-like types (variant, enum, option, result): the number of cases and
// the payload type of case `index` (null: none).
[[nodiscard]] size_t case_count(const ValType& type);
[[nodiscard]] const ValType* case_payload(const ValType& type, size_t index);

// Record-like types (record, tuple): the number of fields and field `index`.
[[nodiscard]] size_t field_count(const ValType& type);
[[nodiscard]] const ValType& field_type(const ValType& type, size_t index);

// The smallest unsigned integer that numbers `cases` cases: U8, U16 or U32.
[[nodiscard]] Kind discriminant_kind(size_t cases);
[[nodiscard]] uint32_t discriminant_size(size_t cases);
// Bytes of a flags value with `labels` labels: 1, 2 or 4.
[[nodiscard]] uint32_t flags_size(size_t labels);

[[nodiscard]] uint32_t alignment(const ValType& type);
[[nodiscard]] uint32_t elem_size(const ValType& type);
// elem_size computed in 64 bits, saturating at UINT64_MAX / 2 instead of
// wrapping: what the validator checks a type's size against (a valid type is
// below 2^28 bytes, so for one elem_size gives the same number).
[[nodiscard]] uint64_t elem_size_saturated(const ValType& type);
// The largest alignment of a variant-like type's payloads (1 without any).
[[nodiscard]] uint32_t max_case_alignment(const ValType& type);
[[nodiscard]] constexpr uint64_t align_to(uint64_t ptr, uint32_t alignment) {
  return (ptr + alignment - 1) / alignment * alignment;
}

// Flat types are the core number types I32, I64, F32, F64.
using FlatType = engine::ValType;

// The tightest flat type both can be carried in (variant payloads).
[[nodiscard]] FlatType join(FlatType a, FlatType b);
[[nodiscard]] std::vector<FlatType> flatten_type(const ValType& type);
// Appends the flat types of `type`; stops once `out` holds more than `limit`
// (a caller that spills past a limit needs to know no more than that).
void flatten_type(const ValType& type, std::vector<FlatType>& out, size_t limit = SIZE_MAX);
[[nodiscard]] std::vector<FlatType> flatten_types(std::span<const TypeRef> types,
                                                  size_t limit = SIZE_MAX);

// A function's parameter types, and its result types (none or one).
[[nodiscard]] std::vector<TypeRef> param_types(const FuncType& type);
[[nodiscard]] std::vector<TypeRef> result_types(const FuncType& type);

// The core signature of a lifted function (Lift: the core callee of `canon
// lift`) or of a lowered one (Lower: the core function `canon lower` makes).
// More than 16 flat parameters become one i32 pointer; more than one flat
// result becomes an i32 pointer result (Lift) or a trailing i32 pointer
// parameter the caller allocated (Lower).
enum class FlattenContext : uint8_t { Lift, Lower };
[[nodiscard]] engine::FuncSig flatten_functype(const FuncType& type, FlattenContext context);

// ---------------------------------------------------------------- resources

class InstanceState;
class CallContext;
struct LiftLowerContext;

// A resource's destructor: the core function, called with the resource's
// representation. resource_drop enters the defining instance around it (the
// reentrancy check of a component call), so the destructor does not.
using Destructor = std::function<Result<void>(uint32_t rep)>;

// A resource type at run time. Identity is the id (ValType::resource): two
// instantiations of one component define two resource types.
struct ResourceType {
  uint64_t id = 0;
  InstanceState* impl = nullptr;  // the instance that defines it; null: the host
  Destructor dtor;                // none: dropping the last own handle does nothing more
};

// The resource types of a store: all the component instances that may pass
// handles to each other, and the host.
class ResourceTypes {
 public:
  // A new resource type with an id unique in the process.
  const ResourceType& define(InstanceState* impl, Destructor dtor = {});
  [[nodiscard]] const ResourceType* find(uint64_t id) const;

 private:
  std::unordered_map<uint64_t, std::unique_ptr<ResourceType>> types_;
};

// One element of an instance's handle table.
struct ResourceHandle {
  uint64_t resource = 0;  // ResourceType::id
  uint32_t rep = 0;
  bool own = false;
  CallContext* borrow_scope = nullptr;  // borrow handles: the call they live in
  uint32_t num_lends = 0;               // own handles: borrows lent out now
};

// An instance's table of resource handles. Index 0 is never used; a removed
// index is reused by the next add, the last removed first; at most
// kMaxTableLength entries. A bad index is a trap: "unknown handle index N".
class HandleTable {
 public:
  HandleTable();
  [[nodiscard]] Result<uint32_t> add(const ResourceHandle& handle);
  [[nodiscard]] Result<ResourceHandle*> get(uint32_t index);
  [[nodiscard]] Result<ResourceHandle> remove(uint32_t index);
  [[nodiscard]] size_t live() const { return live_; }
  // Removes every borrow handle that lives in `scope` (a call that ended
  // with borrows left, which is a trap: no handle may outlive its call).
  void remove_borrows_of(const CallContext* scope);

 private:
  std::vector<std::optional<ResourceHandle>> array_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;
};

// The canonical ABI's state of one component instance: its handle table and
// its reentrancy flags. `parent` is the instance that instantiated it (null:
// the host did): entering an instance enters its ancestors too, except those
// the caller is already inside.
class InstanceState {
 public:
  explicit InstanceState(ResourceTypes& types, InstanceState* parent = nullptr)
      : types_(&types), parent_(parent) {}
  InstanceState(const InstanceState&) = delete;
  InstanceState& operator=(const InstanceState&) = delete;

  HandleTable handles;
  bool may_leave = true;  // false during realloc and post-return: no import calls
  bool may_enter = true;  // false while the instance is on the call stack

  [[nodiscard]] ResourceTypes& resource_types() const { return *types_; }
  [[nodiscard]] InstanceState* parent() const { return parent_; }

  // `caller`: the calling instance, null for the host.
  [[nodiscard]] bool may_enter_from(const InstanceState* caller) const;
  // Enters (trap "cannot enter component instance" when it may not) / leaves.
  [[nodiscard]] Result<void> enter_from(const InstanceState* caller);
  void leave_to(const InstanceState* caller);

 private:
  std::vector<InstanceState*> entering_set(const InstanceState* caller);
  ResourceTypes* types_;
  InstanceState* parent_;
};

// The borrow bookkeeping of one synchronous call. The callee's side (the
// specification's Task) counts the borrow handles lowered into the callee,
// which must all be dropped by the end of the call; the caller's side (its
// Subtask) records the own handles lent out for borrow parameters, whose lend
// counts return when the call resolves. Destroying a context releases its
// lends and removes borrow handles it still counts, so that no handle refers
// to a finished call.
class CallContext {
 public:
  CallContext() = default;
  CallContext(const CallContext&) = delete;
  CallContext& operator=(const CallContext&) = delete;
  ~CallContext();

  [[nodiscard]] uint32_t borrows() const { return num_borrows_; }
  [[nodiscard]] size_t lends() const { return lenders_.size(); }

  // The callee returns: a trap when borrow handles remain
  // ("borrow handles still remain at the end of the call").
  [[nodiscard]] Result<void> check_return() const;
  // The call resolved: every lent handle's lend count goes back down.
  void release_lends();

 private:
  friend Result<uint32_t> lift_borrow_handle(LiftLowerContext&, uint32_t, const ValType&);
  friend Result<uint32_t> lower_borrow_handle(LiftLowerContext&, uint32_t, const ValType&);
  friend Result<void> resource_drop(InstanceState&, const ResourceType&, uint32_t);
  uint32_t num_borrows_ = 0;
  InstanceState* borrow_holder_ = nullptr;
  std::vector<std::pair<InstanceState*, uint32_t>> lenders_;
};

// What lifting and lowering need: the options, the instance whose memory and
// handle table are used, and the call (for borrow handles; may be null when
// the types hold no borrow).
struct LiftLowerContext {
  const CanonOptions& opts;
  InstanceState& inst;
  CallContext* scope = nullptr;
  // List elements lifted into Vals so far (see kMaxLiftedListElements).
  uint64_t lifted_elements = 0;
};

// Handles (the `rep` is the resource's representation, the lifted value).
[[nodiscard]] Result<uint32_t> lift_own_handle(LiftLowerContext& cx, uint32_t index,
                                               const ValType& type);
[[nodiscard]] Result<uint32_t> lift_borrow_handle(LiftLowerContext& cx, uint32_t index,
                                                  const ValType& type);
[[nodiscard]] Result<uint32_t> lower_own_handle(LiftLowerContext& cx, uint32_t rep,
                                                const ValType& type);
[[nodiscard]] Result<uint32_t> lower_borrow_handle(LiftLowerContext& cx, uint32_t rep,
                                                   const ValType& type);

// The resource built-ins, called by `inst`'s core code.
[[nodiscard]] Result<uint32_t> resource_new(InstanceState& inst, const ResourceType& type,
                                            uint32_t rep);
// Own: removes the handle and runs the destructor (entering its instance);
// borrow: removes it and counts it off its call.
[[nodiscard]] Result<void> resource_drop(InstanceState& inst, const ResourceType& type,
                                         uint32_t index);
[[nodiscard]] Result<uint32_t> resource_rep(InstanceState& inst, const ResourceType& type,
                                            uint32_t index);

// ---------------------------------------------------------------- values

// In memory, at `ptr` (aligned and in bounds for the type, else a trap).
[[nodiscard]] Result<Val> load(LiftLowerContext& cx, const ValType& type, uint32_t ptr);
[[nodiscard]] Result<void> store(LiftLowerContext& cx, const ValType& type, const Val& value,
                                 uint32_t ptr);

// Flat: `flat` holds exactly flatten_type(type).size() values.
[[nodiscard]] Result<Val> lift_flat(LiftLowerContext& cx, const ValType& type,
                                    std::span<const engine::Value> flat);
[[nodiscard]] Result<std::vector<engine::Value>> lower_flat(LiftLowerContext& cx,
                                                            const ValType& type,
                                                            const Val& value);

// Strings: (pointer, tagged code units) as the options' encoding says.
[[nodiscard]] Result<std::string> load_string_from_range(LiftLowerContext& cx, uint32_t ptr,
                                                         uint32_t tagged_code_units);
[[nodiscard]] Result<std::pair<uint32_t, uint32_t>> store_string_into_range(
    LiftLowerContext& cx, std::string_view utf8);

// A parameter or result list. Lift: more than `max_flat` flat values come as
// one pointer to a tuple in memory. Lower: more than `max_flat` go to memory,
// at `out_ptr` when given (a result's return pointer), else allocated with
// realloc and passed as one pointer.
[[nodiscard]] Result<std::vector<Val>> lift_flat_values(LiftLowerContext& cx, size_t max_flat,
                                                        std::span<const TypeRef> types,
                                                        std::span<const engine::Value> flat);
[[nodiscard]] Result<std::vector<engine::Value>> lower_flat_values(
    LiftLowerContext& cx, size_t max_flat, std::span<const TypeRef> types,
    std::span<const Val> values, std::optional<uint32_t> out_ptr = std::nullopt);

// ---------------------------------------------------------------- calls

// A core function: flat arguments in, flat results out.
using CoreFunction =
    std::function<Result<std::vector<engine::Value>>(std::span<const engine::Value>)>;
// A component function as a caller sees it: `caller` is the calling instance
// (null: the host).
using ComponentFunction =
    std::function<Result<std::vector<Val>>(InstanceState* caller, std::span<const Val>)>;

// Lowers a call's arguments straight into flat core values (and into the
// callee's memory, through `cx`), without Vals: what a caller holding typed
// values does (cm/typed.hpp, lower_args). It appends the flattening of the
// function's parameters; LiftedCall::begin checks their number and types
// against the core function's signature.
using FlatLowerer =
    std::function<Result<void>(LiftLowerContext& cx, std::vector<engine::Value>& flat)>;

// A `canon lift`: a core function of `inst` made a component function.
struct LiftedFunction {
  FuncType type;
  CanonOptions opts;
  InstanceState* inst = nullptr;
  CoreFunction callee;
  CoreFunction post_return;  // empty unless opts.has_post_return
  // The flat parameter types of `type`, computed once (at most 17: more
  // than 16 spill to memory); calls with a FlatLowerer are checked
  // against them.
  std::vector<FlatType> flat_params;
};

// A call of a lifted function in three steps, for a caller that runs the
// core function itself (ComponentInstance::start_call runs it in fuel
// slices): begin() enters the instance and lowers the arguments; the caller
// calls the core function with flat_args(); finish() lifts its results,
// checks that no borrow handle remains, calls post-return and leaves the
// instance. Destroying a call that did not finish leaves the instance too
// (a trap or a cancelled call). `function` must outlive the call.
class LiftedCall {
 public:
  [[nodiscard]] static Result<std::unique_ptr<LiftedCall>> begin(const LiftedFunction& function,
                                                                 InstanceState* caller,
                                                                 std::span<const Val> args);
  // The same with the arguments lowered by `lower`: refused (InvalidArgument)
  // when the parameters spill to memory (more than 16 flat values) or when
  // `lower` writes other flat values than the parameters' flattening.
  [[nodiscard]] static Result<std::unique_ptr<LiftedCall>> begin(const LiftedFunction& function,
                                                                 InstanceState* caller,
                                                                 const FlatLowerer& lower);
  LiftedCall(const LiftedCall&) = delete;
  LiftedCall& operator=(const LiftedCall&) = delete;
  ~LiftedCall();

  [[nodiscard]] std::span<const engine::Value> flat_args() const { return flat_args_; }
  [[nodiscard]] Result<std::vector<Val>> finish(std::span<const engine::Value> flat_results);

 private:
  LiftedCall(const LiftedFunction& function, InstanceState* caller)
      : function_(function), caller_(caller), cx_{function.opts, *function.inst, &task_} {}
  void leave();

  const LiftedFunction& function_;
  InstanceState* caller_;
  bool inside_ = false;
  CallContext task_;
  LiftLowerContext cx_;
  std::vector<engine::Value> flat_args_;
};

// Calls a lifted function: enters the instance (a trap if it is on the
// stack), lowers the arguments into it, calls the core function, lifts the
// results, checks that no borrow handle remains, then calls post-return with
// the flat results while the instance may not leave.
[[nodiscard]] Result<std::vector<Val>> call_lifted(const LiftedFunction& function,
                                                   InstanceState* caller,
                                                   std::span<const Val> args);

// The core function of a `canon lower` in `inst`: lifts the flat arguments
// (a trap when `inst` may not leave), calls `callee`, lowers its results
// (through the trailing return pointer when they spill) and returns the lent
// handles.
[[nodiscard]] Result<std::vector<engine::Value>> call_lowered(
    const FuncType& type, const CanonOptions& opts, InstanceState& inst,
    const ComponentFunction& callee, std::span<const engine::Value> flat_args);

// What call_lowered needs of a function's type besides the type itself: the
// number of core arguments (the return pointer included), the parameter and
// result types, and whether the results spill to a return pointer. A lowered
// function's type does not change once it is instantiated, so its shape is
// computed once (lowered_shape) rather than on every call.
struct LoweredShape {
  size_t flat_params = 0;
  std::vector<TypeRef> params;
  std::vector<TypeRef> results;
  bool results_spill = false;
};
[[nodiscard]] LoweredShape lowered_shape(const FuncType& type);

// The core function of a `canon lower` of a host function that lifts and
// lowers itself (a RawHostFn of cm/instance.hpp, `raw` here): the same checks
// as call_lowered (a trap when `inst` may not leave, the argument count),
// then `raw` with the caller's options.
[[nodiscard]] Result<std::vector<engine::Value>> call_lowered_raw(
    size_t flat_params, const CanonOptions& opts, InstanceState& inst,
    const std::function<Result<std::vector<engine::Value>>(
        LiftLowerContext&, std::span<const engine::Value>)>& raw,
    std::span<const engine::Value> flat_args);

// call_lowered with the shape of `type` computed beforehand.
[[nodiscard]] Result<std::vector<engine::Value>> call_lowered(
    const FuncType& type, const LoweredShape& shape, const CanonOptions& opts,
    InstanceState& inst, const ComponentFunction& callee,
    std::span<const engine::Value> flat_args);

}  // namespace airssys::wasm::cm
