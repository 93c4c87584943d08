#pragma once
// WASI 0.2 for components: the interfaces that command components made by
// the preview 1 adapter (and other 0.2 toolchains) import, served as host
// instances of the Component Model layer, against the same ComponentContext
// (grants, host policy, quotas, audit) as WASI preview 1 (host/wasi.hpp):
//
//   wasi:cli       environment (the [config.env] entries and arguments of
//                  WasiOptions), exit (ProcExit: status 0 for ok, 1 for err,
//                  or the code of exit-with-code), stdin (empty), stdout,
//                  stderr, terminal-* (none: no stream is a terminal)
//   wasi:io        error, poll (pollables of clocks and streams), streams
//                  (input and output streams with check-write's budget)
//   wasi:clocks    wall-clock, monotonic-clock
//   wasi:random    random, insecure, insecure-seed
//   wasi:filesystem types and preopens: the descriptors are the component's
//                  preview 1 descriptors (host/files.hpp), every path checked
//                  and audited by the very functions preview 1 uses
//   wasi:sockets   refused: creating a socket or resolving a name answers
//                  access-denied, audited as a denial of network access
//   wasi:http      types and outgoing-handler: the client, every request
//                  sent by the airssys HTTP function (host/http.hpp) under
//                  network.connect, its redirect, timeout, size and network
//                  quota rules; a refusal is an error-code, never a trap
//
// Every interface is registered at version kWasi2Version; an import of any
// other 0.2.x version finds it (cm::HostInstance::find matches semver).
//
// Example:
//   host::ComponentContext context(options, security);
//   cm::HostInstance imports;
//   host::add_wasi2(imports, context);
//   auto instance = cm::ComponentInstance::instantiate(component, *engine, imports);
//   auto status = (*instance)->call("wasi:cli/run@0.2.12#run", {});

#include <optional>
#include <string>
#include <string_view>

#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/host/context.hpp"

namespace airssys::wasm::host {

inline constexpr std::string_view kWasi2Version = "0.2.12";

// Defines the WASI 0.2 instances on `imports`. `context` must outlive every
// component instantiated against them; one set of imports serves one
// component instance (its streams, pollables and descriptors are its own).
void add_wasi2(cm::HostInstance& imports, ComponentContext& context);

// The name of a command component's `run` ("wasi:cli/run@0.2.x#run", as
// cm::ComponentInstance::functions() names it), or none when it exports none.
[[nodiscard]] std::optional<std::string> wasi2_run_export(const cm::ComponentInstance& instance);

}  // namespace airssys::wasm::host
