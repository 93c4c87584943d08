#pragma once
// What the airssys module's translation units share: the shape of a function
// body and the definition of a table of them on the linker.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/messaging.hpp"

namespace airssys::wasm::host {

// An airssys function body: the value the guest sees (a result or a negative
// AbiError), never a trap.
using AirssysBody = int64_t (*)(engine::HostCall&, ComponentContext&,
                                std::span<const engine::Value>);

struct AirssysFunction {
  const char* name;
  std::vector<engine::ValType> params;
  engine::ValType result;  // I32 or I64
  AirssysBody body;
};

// The caller's context; an error traps the guest, so a call without what the
// body needs fails closed.
using ContextOf = Result<ComponentContext*> (*)(engine::HostCall&, const char* function);

inline Result<ComponentContext*> component_context(engine::HostCall& call, const char* function) {
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
  using engine::Value;
  for (const auto& f : functions) {
    engine::FuncSig sig{f.params, {f.result}};
    AirssysBody body = f.body;
    const char* name = f.name;
    engine::ValType result = f.result;
    linker.define({std::string(kAirssysModule), name, std::move(sig),
                   [body, name, result, context_of](engine::HostCall& call,
                                                    std::span<const Value> args,
                                                    std::span<Value> results) -> Result<void> {
                     auto ctx = context_of(call, name);
                     if (!ctx) return std::unexpected(ctx.error());
                     int64_t value = body(call, **ctx, args);
                     results[0] = result == engine::ValType::I64
                                      ? Value::i64(value)
                                      : Value::i32(static_cast<int32_t>(value));
                     return {};
                   }});
  }
}

inline uint32_t u32(const engine::Value& v) {
  return static_cast<uint32_t>(v.as_i32());
}

}  // namespace airssys::wasm::host
