#pragma once
// The worlds a WebAssembly component may target here, read from its exports:
//
//   airssys:host/component@0.3.x   it exports airssys:host/handler (wit/host.wit):
//                                  `up`, `serve` and `install` run it as an actor
//   wasi:cli/command@0.2.x         it exports wasi:cli/run: `run` runs it once
//
// A component that exports the handler interface at a version this host does
// not serve is refused with the versions it serves, before anything runs.

#include <optional>
#include <string>

#include "airssys/wasm/cm/ast.hpp"
#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::component {

enum class WorldKind : uint8_t { Airssys, Command, Other };

struct ComponentWorld {
  WorldKind kind = WorldKind::Other;
  std::string name;  // "airssys:host/component@0.3.0", "wasi:cli/command@0.2.3"; empty for Other
};

// Which world `component` targets. IncompatibleImport when it exports
// airssys:host/handler at a version outside the ones served (0.3.x).
[[nodiscard]] Result<ComponentWorld> component_world(const cm::Component& component);

}  // namespace airssys::wasm::component
