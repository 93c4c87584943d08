#pragma once
// What the airssys module's translation units share: the names their bodies
// use, the shape of a function body and the definition of a table of them on
// the linker.

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys_calls.hpp"

namespace airssys::wasm::host {

using engine::HostCall;
using engine::Value;
using engine::ValType;
using security::AuditResult;
using security::DecisionLayer;
using security::Permission;
using Args = std::span<const Value>;

inline constexpr ValType I32 = ValType::I32;
inline constexpr ValType I64 = ValType::I64;

// An airssys function body: the value the guest sees (a result or a negative
// AbiError), never a trap.
using AirssysBody = int64_t (*)(HostCall&, ComponentContext&, Args);

struct AirssysFunction {
  const char* name;
  std::vector<ValType> params;
  ValType result;  // I32 or I64
  AirssysBody body;
};

// The caller's context; an error traps the guest, so a call without what the
// body needs fails closed.
using ContextOf = Result<ComponentContext*> (*)(HostCall&, const char* function);

inline Result<ComponentContext*> component_context(HostCall& call, const char* function) {
  auto* ctx = static_cast<ComponentContext*>(call.user_data());
  if (!ctx) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("airssys.{} called without a component context", function));
  }
  return ctx;
}

inline void define_airssys_functions(engine::Linker& linker,
                                     std::span<const AirssysFunction> functions,
                                     ContextOf context_of = component_context) {
  for (const auto& f : functions) {
    engine::FuncSig sig{f.params, {f.result}};
    AirssysBody body = f.body;
    const char* name = f.name;
    ValType result = f.result;
    linker.define({std::string(kAirssysModule), name, std::move(sig),
                   [body, name, result, context_of](HostCall& call, Args args,
                                                    std::span<Value> results) -> Result<void> {
                     AIRSSYS_TRY_ASSIGN(auto ctx, context_of(call, name));
                     int64_t value = body(call, *ctx, args);
                     results[0] = result == I64 ? Value::i64(value)
                                                : Value::i32(static_cast<int32_t>(value));
                     return {};
                   }});
  }
}

// The number the core ABI returns for an answer: the value (a bool as 1 or
// 0, nothing as 0) or the negative AbiError.
template <class T>
int64_t abi_result(const Answer<T>& answer) {
  if (!answer) return static_cast<int64_t>(answer.error());
  if constexpr (std::is_void_v<T>) {
    return 0;
  } else if constexpr (std::is_same_v<T, bool>) {
    return *answer ? 1 : 0;
  } else {
    return static_cast<int64_t>(*answer);
  }
}

inline uint32_t u32(const Value& v) {
  return static_cast<uint32_t>(v.as_i32());
}

}  // namespace airssys::wasm::host
