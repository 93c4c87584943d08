#pragma once
// The airssys:host world (wit/host.wit, docs/wit.md) for components: the
// interfaces a component of the world imports, served as host instances of
// the Component Model layer against the component's ComponentContext, by the
// very functions that serve the core ABI's `airssys` module (docs/abi.md):
// the same grants, host policy, quotas, payload limits, audit records and
// refusals.
//
//   airssys:host/types      the `error` variant; a refusal of the core ABI
//                           is the case of the same name (`buffer` never
//                           occurs: no call takes a caller's buffer)
//   airssys:host/messaging  self-id, send, request, reply, publish,
//                           subscribe, unsubscribe, through the context's
//                           MessagingPort; without one every call traps, as
//                           the core ABI's do
//   airssys:host/kv         get (absent: ok(none)), set, delete, exists,
//                           list (at most min(limit, 1000) keys), usage
//   airssys:host/http       fetch: headers as (name, value) pairs, checked
//                           as the core ABI's header lines are
//   airssys:host/logging    log: `quota` when the rate limit drops the line
//
// A value the host refuses (a malformed key, name, URL, header) is an
// `invalid` answer, never a trap; only values the canonical ABI forbids trap.
// Every interface is registered at version kWorldVersion; an import of any
// other 0.3.x version finds it (cm::HostInstance::find matches semver).
//
// Example:
//   host::ComponentContext context(options, security);
//   context.set_kv(store);
//   context.set_messaging(&port);
//   cm::HostInstance imports;
//   host::add_wasi2(imports, context);            // the WASI the adapter imports
//   host::add_airssys_world(imports, context);
//   auto instance = cm::ComponentInstance::instantiate(component, *engine, imports);
//   auto init = (*instance)->call("airssys:host/handler@0.3.0#init",
//                                 std::vector{cm::Val::string("{}")});

#include <string_view>

#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/host/context.hpp"

namespace airssys::wasm::host {

inline constexpr std::string_view kWorldPackage = "airssys:host";
inline constexpr std::string_view kWorldVersion = "0.3.0";

// Defines airssys:host/{types,messaging,kv,http,logging}@0.3.0 on `imports`, served against `context`.
// `context` must outlive every component instantiated against them. The
// handlers a component exports are named "airssys:host/handler@0.3.0#init",
// "...#handle-message", "...#handle-reply", "...#health", "...#shutdown".
void add_airssys_world(cm::HostInstance& imports, ComponentContext& context);

}  // namespace airssys::wasm::host
