#!/usr/bin/env bash
# Builds the npm package in bindings/js: the wasm Client (cargo, wasm-bindgen 0.2.130, wasm-opt -Oz from
# npm's binaryen) and the widget. Usage: web/build.sh [OUT_DIR]   (default bindings/js)
# Needs: rustup target wasm32-unknown-unknown, wasm-bindgen-cli 0.2.130, `npm ci` in web/ (test-web.sh
# installs all of these).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/bindings/js}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/web}
# Paths are remapped so the module is byte-identical wherever it is built (test-web.sh checks the
# committed bundle against a fresh build).
export RUSTFLAGS="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo --remap-path-prefix=$ROOT=/frontdesk"
cargo build --manifest-path "$ROOT/wasm/Cargo.toml" --release --target wasm32-unknown-unknown --locked
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
wasm-bindgen --target web --out-dir "$TMP" --out-name frontdesk "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/frontdesk_wasm.wasm"
mkdir -p "$OUT"
# Debian's binaryen 108 silently breaks wasm-bindgen 0.2.130 output: use npm's (132).
"$ROOT/web/node_modules/.bin/wasm-opt" -Oz --strip-debug --strip-producers \
  --enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-multivalue \
  "$TMP/frontdesk_bg.wasm" -o "$OUT/frontdesk_bg.wasm"
cp "$TMP/frontdesk.js" "$TMP/frontdesk.d.ts" "$OUT/"
cp "$ROOT/web/widget.js" "$OUT/frontdesk-widget.js"
cp "$ROOT/web/widget.d.ts" "$OUT/frontdesk-widget.d.ts"
