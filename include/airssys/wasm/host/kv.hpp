#pragma once
// The key-value part of the `airssys` host module. A component's state lives
// in its own namespace of the host's storage::KeyValueStore, named after the
// component, so no key can reach another component's state. Keys are checked
// against the component's storage grants (storage.read for get, exists and
// list; storage.write for set; storage.delete for delete), audited; a set
// that would grow the namespace past the storage quota is refused with
// E_QUOTA before anything is written, and audited with layer "quota".
//
// Every function returns 0 (or a positive value) on success and a negative
// AbiError on refusal; a refusal never traps the guest. See docs/abi.md.

#include <cstdint>

#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/storage/kv.hpp"

namespace airssys::wasm::host {

// Keys are ':'-separated, non-empty segments of printable ASCII other than
// space and '*' (a '*' means "every key below" in an audited list resource).
inline constexpr uint32_t kMaxKvKeyBytes = storage::kMaxKeyBytes;
inline constexpr uint64_t kMaxKvValueBytes = storage::kMaxValueBytes;
inline constexpr uint32_t kMaxKvListKeys = 1000;  // keys returned by one kv_list call

// Defines airssys.kv_get, kv_set, kv_delete, kv_exists, kv_list, kv_usage.
// The instance's user data must be a host::ComponentContext; without a store
// (ComponentContext::kv() null) the functions return E_UNAVAILABLE.
void add_kv(engine::Linker& linker);

}  // namespace airssys::wasm::host
