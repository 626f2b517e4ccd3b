#!/usr/bin/env bash
# Runs every test of the project: Rust (unit, end-to-end, property), then the C ABI and the foreign
# language bindings when their parts are present. Installs what it needs on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust: unit, end-to-end and property tests"
mkdir -p target
cargo test --workspace --exclude frontdesk-uniffi --exclude frontdesk-ffi

if [ -f ffi/test-c.sh ]; then
  echo "== C ABI"
  bash ffi/test-c.sh
fi

if [ -f bindings/test-bindings.sh ]; then
  echo "== uniffi bindings (Python, Kotlin, Swift generation)"
  bash bindings/test-bindings.sh
fi
echo "== all tests passed"
