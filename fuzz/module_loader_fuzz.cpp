// Any bytes: load (decode, validate, meter), and when that succeeds,
// instantiate under tight limits and call every export that takes no
// arguments with a small fuel budget. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>

#include "airssys/wasm/engine/engine.hpp"

using namespace airssys::wasm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto engine = engine::Engine::interpreter();
  auto module = engine->load(std::span<const uint8_t>(data, size), "fuzz.wasm");
  if (!module) return 0;
  auto store = engine->new_store();
  engine::InstanceOptions options;
  options.limits.max_memory_bytes = 4 * MiB;
  options.limits.max_table_elements = 10'000;
  options.start_fuel = 100'000;
  engine::Linker linker;
  auto instance = store->instantiate(**module, linker, options);
  if (!instance) return 0;
  engine::CallOptions call;
  call.fuel = 100'000;
  call.slice = 10'000;
  for (const auto& e : (*module)->exports()) {
    if (e.kind != engine::ExternKind::Func || !e.sig.params.empty()) continue;
    (void)(*instance)->call(e.name, {}, call);
  }
  return 0;
}
