/* Imports airssys:host/kv@0.3.0 `get` with a signature that is not the
 * world's (liar.wit): the host must refuse to instantiate it. */
#include <stdint.h>

__attribute__((import_module("airssys:host/kv@0.3.0"), import_name("get")))
uint32_t liar_get(uint32_t key);

__attribute__((export_name("run"))) uint32_t run(void) { return liar_get(7); }
