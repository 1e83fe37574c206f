#!/usr/bin/env bash
# Browser tests of the packing tablet (contract §3): Debian's Chromium driven by playwright-core
# from npm (never a downloaded browser), against the real `livepack serve` binary.
# Installs what is missing (as root), builds the binary, runs `node --test`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

"$root/scripts/deps"   # redis-server for the embedded Redis
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing: chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "the tablet's browser tests need Debian's chromium: sudo apt-get install -y chromium"
    exit 1
  fi
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "the tablet's browser tests need Node.js 20+ and npm (apt-get install -y nodejs npm)"
  exit 1
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "the tablet's browser tests need Node.js 20+ (found $(node --version))"
  exit 1
fi

cd "$here"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error

cd "$root"
cargo build --bin livepack --locked
target_dir="$(cargo metadata --format-version 1 --no-deps --locked \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
export LIVEPACK_BIN="$target_dir/debug/livepack"

cd "$here"
exec node --test --test-concurrency=1 "$@" ./*.test.mjs
