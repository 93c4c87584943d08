/* bad_alloc's cabi_realloc, in a file of its own: it replaces the one of
 * airssys_world.h (weak there). Until the mode is set it allocates as the
 * header's does past its buffer, from malloc. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern int bad_alloc_mode;

__attribute__((export_name("cabi_realloc")))
void* cabi_realloc(void* ptr, size_t old_size, size_t align, size_t new_size) {
  if (bad_alloc_mode == 1) __builtin_trap();
  if (bad_alloc_mode == 2) {
    for (volatile uint32_t spin = 0;; ++spin) {
    }
  }
  if (new_size == 0) {
    if (old_size) free(ptr);
    return (void*)align;
  }
  void* out = realloc(old_size ? ptr : NULL, new_size);
  if (!out) abort();
  return out;
}
