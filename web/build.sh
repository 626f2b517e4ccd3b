#!/usr/bin/env bash
# Builds the npm package in bindings/js: the wasm session engine (cargo, wasm-bindgen 0.2.130, wasm-opt
# -Oz from npm's binaryen), the Client on top of it (web/client.js) and the widget. Usage: web/build.sh [OUT_DIR]   (default bindings/js)
# Needs: rustup target wasm32-unknown-unknown, wasm-bindgen-cli 0.2.130, `npm ci` in web/ (test-web.sh
# installs all of these).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/bindings/js}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/web}
# The module must be byte-identical wherever the repository is checked out (test-web.sh checks the
# committed bundle against a fresh build). Cargo hashes a path dependency's location into symbol
# names, so the sources are built from one fixed directory, and paths are remapped as well.
SRC=${FRONTDESK_WEB_SRC:-/tmp/frontdesk-web-src}
rm -rf "$SRC" && mkdir -p "$SRC"
tar -C "$ROOT" --exclude=./target --exclude=./.git --exclude='*/node_modules' -cf - Cargo.toml core wasm | tar -C "$SRC" -xf -
# The root manifest names members that are not copied; keep only what the wasm build inherits from.
sed -i -e 's/^members = .*/members = ["core"]/' -e 's/^default-members = .*/default-members = ["core"]/' -e '/^exclude = /d' "$SRC/Cargo.toml"
export RUSTFLAGS="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo --remap-path-prefix=$SRC=/frontdesk"
cargo build --manifest-path "$SRC/wasm/Cargo.toml" --release --target wasm32-unknown-unknown --locked
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
wasm-bindgen --target web --out-dir "$TMP" --out-name frontdesk_wasm "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/frontdesk_wasm.wasm"
mkdir -p "$OUT"
# Debian's binaryen 108 silently breaks wasm-bindgen 0.2.130 output: use npm's (132).
"$ROOT/web/node_modules/.bin/wasm-opt" -Oz --strip-debug --strip-producers \
  --enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-multivalue \
  "$TMP/frontdesk_wasm_bg.wasm" -o "$OUT/frontdesk_wasm_bg.wasm"
# The shipped JavaScript is minified by esbuild (from npm, pinned in web/package.json: deterministic, so the
# committed bundle can be compared with a fresh build); the readable sources stay in web/. Not bundled: each
# file keeps its imports of its neighbours, which load on demand.
mini() { "$ROOT/web/node_modules/.bin/esbuild" --minify --format=esm --charset=utf8 --log-level=warning "$1" --outfile="$2"; }
mini "$TMP/frontdesk_wasm.js" "$OUT/frontdesk_wasm.js"
cp "$TMP/frontdesk_wasm.d.ts" "$OUT/"
# The client (Client, Agent) and the calls are two modules: the widget loads frontdesk-call.js only when
# a call starts; frontdesk.js, the package's entry, is both.
mini "$ROOT/web/client.js" "$OUT/frontdesk-client.js"
mini "$ROOT/web/call.js" "$OUT/frontdesk-call.js"
printf '%s\n' "export { default } from './frontdesk-client.js';" "export * from './frontdesk-client.js';" \
  "export { Call } from './frontdesk-call.js';" > "$OUT/frontdesk.js"
cp "$ROOT/web/client.d.ts" "$OUT/frontdesk.d.ts"
cp "$ROOT/web/package.dist.json" "$OUT/package.json"
# The widget: the launcher (with the session it keeps while closed), and its panel, loaded on open.
mini "$ROOT/web/widget.js" "$OUT/frontdesk-widget.js"
mini "$ROOT/web/widget-panel.js" "$OUT/frontdesk-widget-panel.js"
# Languages other than English, each loaded only by a widget that shows it.
for f in "$ROOT"/web/widget-[a-z][a-z].js; do mini "$f" "$OUT/frontdesk-$(basename "$f")"; done
cp "$ROOT/web/widget.d.ts" "$OUT/frontdesk-widget.d.ts"
