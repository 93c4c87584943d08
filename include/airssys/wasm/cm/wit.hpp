#pragma once
// A decoded component's imports and exports in WIT, for people: what
// `validate` and `inspect` print.
//
//   import wasi:io/streams@0.2.0;
//   import log: func(message: string);
//   export wasi:cli/run@0.2.0;
//   export greet: func(name: string) -> string;

#include <string>
#include <vector>

#include "airssys/wasm/cm/ast.hpp"

namespace airssys::wasm::cm {

// One line per import, then one per export, in the component's order. An
// import or export named by an interface ("ns:pkg/iface@1.2.3") is printed
// by its name; a plain name with its type (a function's signature, an
// instance's functions, a resource as `resource`).
[[nodiscard]] std::vector<std::string> wit_lines(const Component& component);

// The same as one WIT world: "world <name> {\n  import ...;\n  ...\n}\n".
[[nodiscard]] std::string to_wit_world(const Component& component, std::string_view name);

}  // namespace airssys::wasm::cm
