#pragma once
// Decoding and validation of WebAssembly components (Component Model binary
// format, synchronous MVP).
//
// Example:
//   auto core = engine::Engine::interpreter();
//   auto component = cm::decode_component(bytes, "app.wasm", *core);
//   if (!component) return std::unexpected(component.error());
//
// Errors: MalformedComponent when the bytes are not the binary format,
// InvalidComponent when they are but break a validation rule, and
// UnsupportedFeature when they use a feature past the MVP (async, streams,
// futures, error-context, threads, context.get/set, GC types, map,
// fixed-length lists, value definitions, name attributes): the message
// names the feature. Every message starts with the byte offset of the
// offending definition ("0x1a2: ...") and says what was expected.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "airssys/wasm/cm/ast.hpp"
#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::cm {

// Whether the bytes start with the component preamble: the magic, version
// 0x0d 0x00 and layer 0x01 0x00 (a core module has layer 0).
[[nodiscard]] bool is_component(std::span<const uint8_t> bytes);

// Decodes and validates a component. Its core modules are loaded with
// `core_engine` (which validates them and gives their imports and
// exports); they stay loaded in the result, ready to instantiate on that
// engine. `name` names the component in messages and its modules in the
// engine ("<name>/module 0").
[[nodiscard]] Result<std::shared_ptr<const Component>> decode_component(
    std::span<const uint8_t> bytes, std::string_view name, engine::Engine& core_engine);

}  // namespace airssys::wasm::cm
