// The canonical ABI's lifting: random value types, core values and guest
// memory contents, in every string encoding, with a handle table holding own
// and borrow handles. Oracles: lifting never crashes (ASan, UBSan) and fails
// only with a canonical trap; whatever lifts, lowered into a fresh memory
// and lifted back, is the same value.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "airssys/wasm/cm/canonical.hpp"
#include "canonical_support.hpp"

namespace {

using namespace airssys::wasm;
using namespace airssys::wasm::cm;
using fuzz::Input;

TypeRef random_type(Input& in, int depth, uint64_t resource) {
  uint8_t b = in.byte();
  int choice = depth >= 4 ? b % 13 : b % 23;
  switch (choice) {
    case 13: return list_of(random_type(in, depth + 1, resource));
    case 14:
    case 15: {
      std::vector<Field> fields;
      std::vector<TypeRef> items;
      for (int i = 0, n = 1 + in.byte() % 4; i < n; ++i) {
        auto t = random_type(in, depth + 1, resource);
        fields.push_back({"f" + std::to_string(i), t});
        items.push_back(t);
      }
      return choice == 14 ? record_of(std::move(fields)) : tuple_of(std::move(items));
    }
    case 16: {
      std::vector<Case> cases;
      for (int i = 0, n = 1 + in.byte() % 4; i < n; ++i)
        cases.push_back({"c" + std::to_string(i),
                         in.byte() % 3 == 0 ? nullptr : random_type(in, depth + 1, resource)});
      return variant_of(std::move(cases));
    }
    case 17: {
      std::vector<std::string> labels;
      for (int i = 0, n = 1 + in.byte() % 300; i < n; ++i) labels.push_back("l" + std::to_string(i));
      return enum_of(std::move(labels));
    }
    case 18: return option_of(random_type(in, depth + 1, resource));
    case 19: {
      uint8_t which = in.byte();
      return result_of(which & 1 ? random_type(in, depth + 1, resource) : nullptr,
                       which & 2 ? random_type(in, depth + 1, resource) : nullptr);
    }
    case 20: {
      std::vector<std::string> labels;
      for (int i = 0, n = 1 + in.byte() % 32; i < n; ++i) labels.push_back("f" + std::to_string(i));
      return flags_of(std::move(labels));
    }
    case 21: return own_of(resource);
    case 22: return borrow_of(resource);
    default: return primitive(static_cast<Kind>(choice));
  }
}

engine::Value random_core(Input& in, FlatType type) {
  switch (type) {
    case FlatType::I32: return engine::Value::i32(static_cast<int32_t>(in.u32()));
    case FlatType::I64:
      return engine::Value::i64(static_cast<int64_t>(in.u32() | (uint64_t{in.u32()} << 32)));
    case FlatType::F32: return engine::Value::f32_bits(in.u32());
    default: return engine::Value::f64_bits(in.u32() | (uint64_t{in.u32()} << 32));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  ResourceTypes types;
  InstanceState inst(types);
  const ResourceType& rt = types.define(nullptr);
  for (uint32_t i = 0; i < 4; ++i)
    if (!resource_new(inst, rt, 100 + i)) __builtin_trap();

  auto encoding = static_cast<StringEncoding>(in.byte() % 3);
  std::vector<TypeRef> ts;
  for (int i = 0, n = 1 + in.byte() % 3; i < n; ++i) ts.push_back(random_type(in, 0, rt.id));
  std::vector<engine::Value> flat;
  std::vector<FlatType> flat_types = flatten_types(ts);
  if (flat_types.size() > kMaxFlatParams) {
    flat.push_back(engine::Value::i32(static_cast<int32_t>(in.u32() % 512)));
  } else {
    for (FlatType t : flat_types) {
      // Mostly small numbers, so that pointers and lengths often land in memory.
      engine::Value v = random_core(in, t);
      if (t == FlatType::I32 && (in.byte() & 3) != 0)
        v = engine::Value::i32(static_cast<int32_t>(static_cast<uint32_t>(v.as_i32()) % 600));
      flat.push_back(v);
    }
  }
  fuzz::BumpMemory memory(512, 8);
  auto rest = in.rest();
  std::memcpy(memory.mem.data(), rest.data(), std::min(rest.size(), memory.mem.size()));

  CanonOptions opts{encoding, &memory, memory.realloc(), false};
  CallContext subtask;
  LiftLowerContext cx{opts, inst, &subtask};
  auto lifted = lift_flat_values(cx, kMaxFlatParams, ts, flat);
  if (!lifted) {
    if (lifted.error().code != ErrorCode::TrapCanonical) __builtin_trap();
    return 0;
  }
  for (size_t i = 0; i < ts.size(); ++i)
    if (!check_value(*ts[i], (*lifted)[i]).empty()) __builtin_trap();

  // Round trip through another instance's fresh memory.
  InstanceState other(types);
  fuzz::BumpMemory fresh(64, 8);
  CanonOptions fresh_opts{encoding, &fresh, fresh.realloc(), false};
  CallContext task;
  LiftLowerContext lower_cx{fresh_opts, other, &task};
  auto lowered = lower_flat_values(lower_cx, kMaxFlatParams, ts, *lifted);
  if (!lowered) __builtin_trap();
  CallContext again_scope;
  LiftLowerContext lift_cx{fresh_opts, other, &again_scope};
  auto again = lift_flat_values(lift_cx, kMaxFlatParams, ts, *lowered);
  if (!again || *again != *lifted) __builtin_trap();
  return 0;
}
