// The small text formats read back from disk: signature files and audit lines.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/signing.hpp"

using namespace airssys::wasm::security;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parse_signature_json(text, "fuzz.sig");
  auto record = parse_audit_line(text);
  if (record) {
    auto again = parse_audit_line(to_json_line(*record));
    if (!again || !(*again == *record)) __builtin_trap();
  }
  return 0;
}
