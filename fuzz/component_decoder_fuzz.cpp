// Any bytes: decode and validate as a component. Nothing may crash, hang or
// leak; every refusal is one typed error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "airssys/wasm/cm/decode.hpp"

using namespace airssys::wasm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto engine = engine::Engine::interpreter();
  auto component = cm::decode_component(std::span<const uint8_t>(data, size), "fuzz.wasm", *engine);
  if (!component) {
    ErrorCode code = component.error().code;
    if (code != ErrorCode::MalformedComponent && code != ErrorCode::InvalidComponent &&
        code != ErrorCode::UnsupportedFeature) {
      std::abort();
    }
  }
  return 0;
}
