#!/usr/bin/env bash
# Regenerates the test material made by pinned outside tools, committed here
# because the build must not depend on them:
#
#   preview1-adapter.core.wasm  the core module of the official WASI preview1
#                               adapter, exactly as `jco new` (npm
#                               @bytecodealliance/jco 1.35.0) embeds it in a
#                               component made from hello.c. Its name section
#                               counts more names than the module has
#                               functions, which the loader must tolerate.
#
# Needs clang with wasm32-wasi (scripts/setup.sh), node and npm, and the npm
# registry. Usage: tests/outside/make.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

npm install --prefix "$work" --no-audit --no-fund --silent @bytecodealliance/jco@1.35.0
clang --target=wasm32-wasi -O2 -o "$work/hello.wasm" "$here/hello.c"
"$work/node_modules/.bin/jco" new "$work/hello.wasm" --wasi-command -o "$work/hello.component.wasm"

# A component's core modules are its sections of id 1, each a whole module;
# the adapter's is the one that defines fd_write for the program.
python3 - "$work/hello.component.wasm" "$here/preview1-adapter.core.wasm" <<'PY'
import sys

def leb(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at

data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\0asm", "not a WebAssembly binary"
at, found = 8, []
while at < len(data):
    section = data[at]
    size, at = leb(data, at + 1)
    if section == 1:
        found.append(data[at:at + size])
    at += size
adapters = [m for m in found if b"fd_write" in m and b"wasi:cli/" in m]
assert len(adapters) == 1, f"expected one adapter module among {len(found)}"
open(sys.argv[2], "wb").write(adapters[0])
print(f"{sys.argv[2]}: {len(adapters[0])} bytes")
PY
