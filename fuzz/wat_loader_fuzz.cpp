// Any text through the WAT parser, validator and loader.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "airssys/wasm/engine/engine.hpp"

using namespace airssys::wasm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto engine = engine::Engine::interpreter();
  (void)engine->load_wat(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.wat");
  return 0;
}
