// Host functions defined with C++ types (cm/typed.hpp) against the canonical
// ABI's reference path: random core arguments and guest memory, in every
// string encoding, for functions of the shapes the host defines (strings,
// byte lists, integers, enums, results with lists, options and strings).
// Oracles: nothing crashes (ASan, UBSan); the typed lifting fails exactly
// when lift_flat_values does, with a canonical trap, and otherwise gives the
// same values; the typed result written into the caller's memory is byte for
// byte what lower_flat_values writes for the same value.
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "airssys/wasm/cm/canonical.hpp"
#include "canonical_support.hpp"
#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/cm/typed.hpp"

namespace {

using namespace airssys::wasm;
using namespace airssys::wasm::cm;
using fuzz::Input;
using typed::Bytes;
using typed::CaseIndex;
using typed::EnumIndex;
using typed::Outcome;
using typed::Unit;

TypeRef err_type() { return variant_of({{"a", nullptr}, {"b", nullptr}, {"c", nullptr}}); }
TypeRef bytes_type() { return list_of(primitive(Kind::U8)); }

// One function shape: its WIT type and a typed definition whose body records
// the arguments as values and answers `answer` (chosen by the input).
struct Shape {
  FuncType type;
  std::vector<Val> seen;
  Val answer;  // the result the body returned, as a value
};

template <class R, class... Args, class Make>
void define(HostInstance& host, Shape& shape, Make make_result) {
  auto ok = typed::define_typed<R, Args...>(
      host, "f", shape.type, [&shape, make_result](Args... args) -> Result<R> {
        shape.seen = {typed::Canon<Args>::to_val(args)...};
        R r = make_result();
        shape.answer = typed::Canon<R>::to_val(r);
        return r;
      });
  if (!ok) __builtin_trap();
}

void make_shape(Input& in, HostInstance& host, Shape& shape) {
  const TypeRef s = primitive(Kind::String);
  const bool fail = in.byte() & 1;
  const uint32_t which = in.byte() % 3;
  std::string text(in.byte() % 5, 'x');
  if (in.byte() & 1) text += "\xc3\xa9\xe2\x9c\x93";  // non-ASCII, two and three bytes
  switch (in.byte() % 6) {
    case 0:
      shape.type = FuncType{{{"t", s}, {"p", bytes_type()}, {"n", primitive(Kind::U32)}},
                            result_of(primitive(Kind::U64), err_type())};
      define<Outcome<uint64_t, CaseIndex>, std::string_view, Bytes, uint32_t>(
          host, shape, [fail, which] {
            return fail ? Outcome<uint64_t, CaseIndex>::failure(CaseIndex{which})
                        : Outcome<uint64_t, CaseIndex>::success(0x1122334455667788ull);
          });
      return;
    case 1:
      shape.type = FuncType{{{"id", primitive(Kind::U64)}, {"p", bytes_type()}},
                            result_of(nullptr, err_type())};
      define<Outcome<Unit, CaseIndex>, uint64_t, Bytes>(host, shape, [fail, which] {
        return fail ? Outcome<Unit, CaseIndex>::failure(CaseIndex{which})
                    : Outcome<Unit, CaseIndex>::success();
      });
      return;
    case 2: {
      shape.type = FuncType{{{"a", s}, {"b", s}, {"n", primitive(Kind::U32)}},
                            result_of(list_of(s), err_type())};
      std::vector<std::string> keys;
      for (uint32_t i = 0; i < which + 1; ++i) keys.push_back(text + std::to_string(i));
      define<Outcome<std::vector<std::string>, CaseIndex>, std::string_view, std::string_view,
             uint32_t>(host, shape, [fail, which, keys] {
        return fail ? Outcome<std::vector<std::string>, CaseIndex>::failure(CaseIndex{which})
                    : Outcome<std::vector<std::string>, CaseIndex>::success(keys);
      });
      return;
    }
    case 3:
      shape.type = FuncType{{{"l", enum_of({"q", "r", "s", "t", "u"})}, {"m", s}},
                            result_of(nullptr, err_type())};
      define<Outcome<Unit, CaseIndex>, EnumIndex, std::string_view>(host, shape, [fail, which] {
        return fail ? Outcome<Unit, CaseIndex>::failure(CaseIndex{which})
                    : Outcome<Unit, CaseIndex>::success();
      });
      return;
    case 4: {
      shape.type = FuncType{{{"k", s}}, result_of(option_of(bytes_type()), err_type())};
      static const uint8_t value[] = {1, 2, 3, 250, 0, 7};
      const size_t n = which * 2;
      const bool none = in.byte() & 1;
      using V = std::optional<Bytes>;
      define<Outcome<V, CaseIndex>, std::string_view>(host, shape, [fail, which, n, none] {
        if (fail) return Outcome<V, CaseIndex>::failure(CaseIndex{which});
        return Outcome<V, CaseIndex>::success(none ? V{} : V{Bytes(value, n)});
      });
      return;
    }
    default:
      shape.type = FuncType{{{"b", primitive(Kind::Bool)},
                             {"c", primitive(Kind::S8)},
                             {"d", primitive(Kind::U16)},
                             {"e", primitive(Kind::S32)},
                             {"f", primitive(Kind::S64)}},
                            primitive(Kind::String)};
      define<std::string, bool, int8_t, uint16_t, int32_t, int64_t>(host, shape,
                                                                    [text] { return text; });
      return;
  }
}

engine::Value random_core(Input& in, FlatType type) {
  switch (type) {
    case FlatType::I32: {
      uint32_t v = in.u32();
      // Mostly small numbers, so that pointers and lengths often land in memory.
      if ((in.byte() & 3) != 0) v %= 700;
      return engine::Value::i32(static_cast<int32_t>(v));
    }
    case FlatType::I64:
      return engine::Value::i64(static_cast<int64_t>(in.u32() | (uint64_t{in.u32()} << 32)));
    case FlatType::F32: return engine::Value::f32_bits(in.u32());
    default: return engine::Value::f64_bits(in.u32() | (uint64_t{in.u32()} << 32));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  HostInstance host;
  Shape shape;
  make_shape(in, host, shape);
  const HostInstance::Item* item = host.find("f");
  if (!item || !item->raw) __builtin_trap();

  auto encoding = static_cast<StringEncoding>(in.byte() % 3);
  engine::FuncSig sig = flatten_functype(shape.type, FlattenContext::Lower);
  std::vector<engine::Value> flat;
  for (FlatType t : sig.params) flat.push_back(random_core(in, t));
  const bool spills = flatten_types(result_types(shape.type)).size() > kMaxFlatResults;
  if (spills) flat.back() = engine::Value::i32(static_cast<int32_t>(in.byte() % 80 * 8));

  fuzz::BumpMemory typed_mem(600, 600), value_mem(600, 600);
  auto rest = in.rest();
  std::memcpy(typed_mem.mem.data(), rest.data(), std::min(rest.size(), typed_mem.mem.size()));
  value_mem.mem = typed_mem.mem;

  ResourceTypes types;
  InstanceState typed_inst(types), value_inst(types);
  CanonOptions typed_opts{encoding, &typed_mem, typed_mem.realloc(), false};
  CanonOptions value_opts{encoding, &value_mem, value_mem.realloc(), false};

  // The typed path, as `canon lower` calls it.
  auto typed_out = call_lowered_raw(sig.params.size(), typed_opts, typed_inst, item->raw, flat);

  // The reference: lift the same arguments into values.
  CallContext scope;
  LiftLowerContext value_cx{value_opts, value_inst, &scope};
  std::span<const engine::Value> params = flat;
  if (spills) params = params.first(params.size() - 1);
  auto lifted = lift_flat_values(value_cx, kMaxFlatParams, param_types(shape.type), params);
  if (!lifted) {
    if (lifted.error().code != ErrorCode::TrapCanonical) __builtin_trap();
    if (typed_out || typed_out.error().code != ErrorCode::TrapCanonical) __builtin_trap();
    return 0;
  }
  if (!typed_out) {
    // The arguments lift; only writing the result may fail (a return
    // pointer past the end of memory), as it does on the reference path.
    std::optional<uint32_t> out_ptr;
    if (spills) out_ptr = static_cast<uint32_t>(flat.back().as_i32());
    if (shape.seen.empty() && !shape.type.params.empty()) __builtin_trap();
    auto lowered = lower_flat_values(value_cx, kMaxFlatResults, result_types(shape.type),
                                     std::vector<Val>{shape.answer}, out_ptr);
    if (lowered || typed_out.error().code != ErrorCode::TrapCanonical) __builtin_trap();
    return 0;
  }
  if (shape.seen != *lifted) __builtin_trap();

  // The result, lowered from the same value on the reference path.
  std::optional<uint32_t> out_ptr;
  if (spills) out_ptr = static_cast<uint32_t>(flat.back().as_i32());
  auto lowered = lower_flat_values(value_cx, kMaxFlatResults, result_types(shape.type),
                                   std::vector<Val>{shape.answer}, out_ptr);
  if (!lowered) __builtin_trap();
  if (lowered->size() != typed_out->size()) __builtin_trap();
  for (size_t i = 0; i < lowered->size(); ++i) {
    const engine::Value& a = (*lowered)[i];
    const engine::Value& b = (*typed_out)[i];
    if (a.type() != b.type()) __builtin_trap();
    bool same = a.type() == engine::ValType::I32   ? a.as_i32() == b.as_i32()
                : a.type() == engine::ValType::I64 ? a.as_i64() == b.as_i64()
                : a.type() == engine::ValType::F32 ? a.f32_bits() == b.f32_bits()
                                                   : a.f64_bits() == b.f64_bits();
    if (!same) __builtin_trap();
  }
  if (typed_mem.mem != value_mem.mem) __builtin_trap();
  return 0;
}
