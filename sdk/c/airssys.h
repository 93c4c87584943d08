/*
 * airssys.h - the C SDK for airssys-wasm components.
 *
 * Components are ordinary wasm32-wasi programs: standard WASI preview 1
 * covers arguments, environment, clocks, random numbers and stdout/stderr.
 * The host module "airssys" (messaging, key-value state, HTTP, logs) is
 * declared here as it becomes available; see docs/abi.md.
 */
#ifndef AIRSSYS_H
#define AIRSSYS_H

#include <stdint.h>

/* The ABI version this header describes. A host refuses a component built
 * against a major version it does not speak. */
#define AIRSSYS_ABI_VERSION_MAJOR 0
#define AIRSSYS_ABI_VERSION_MINOR 1

/* Marks a function as an export of the component under `name`. */
#define AIRSSYS_EXPORT(name) __attribute__((export_name(name)))

#endif /* AIRSSYS_H */
