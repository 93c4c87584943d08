#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need,
# and the component test tools of tools/jco (npm's jco, at the version its
# package-lock.json pins, into tools/jco/node_modules, with npm when Node.js
# came without it; only the tests use them).
# Idempotent: does nothing when all of them are already present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  cmake ninja-build ccache g++ gcc clang lld wabt wasi-libc libclang-rt-14-dev-wasm32 nodejs
  libgtest-dev libgmock-dev libbenchmark-dev libcaf-dev
  libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libsqlite3-dev libsodium-dev libboost-context-dev libcurl4-openssl-dev
  rustc cargo libstd-rust-dev-wasm32
  libnats-dev nats-server
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages and not root; install them with apt-get" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# jco from tools/jco/package-lock.json, exactly (npm ci). A stamp holding the
# lock file's hash makes a second run a no-op, and a changed lock reinstalls.
jco_dir="$root/tools/jco"
stamp="$jco_dir/node_modules/.airssys-lock.sha256"
want=$(sha256sum "$jco_dir/package-lock.json" | cut -d' ' -f1)
if [[ -x "$jco_dir/node_modules/.bin/jco" && -f "$stamp" && $(<"$stamp") == "$want" ]]; then
  exit 0
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "setup: jco needs Node.js 20 or newer, found $(node --version);" \
       "the component reference tests will be skipped" >&2
  exit 0
fi

# Debian's nodejs has no npm of its own; a Node.js that comes with npm needs no other.
if ! command -v npm >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: npm is missing and not root; install it with apt-get" >&2
    exit 1
  fi
  echo "setup: installing npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends npm
fi
echo "setup: installing jco into tools/jco/node_modules"
npm ci --prefix "$jco_dir" --no-audit --no-fund --loglevel=error >/dev/null
version=$("$jco_dir/node_modules/.bin/jco" --version)
pinned=$(node -p "require('$jco_dir/package.json').dependencies['@bytecodealliance/jco']")
if [[ $version != "$pinned" ]]; then
  echo "setup: tools/jco holds jco $version, expected $pinned" >&2
  exit 1
fi
echo "$want" >"$stamp"
