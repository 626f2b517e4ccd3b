#!/usr/bin/env bash
# Builds the frontdesk Python wheel: libfrontdesk_uniffi.so (stripped), the frontdesk.py uniffi
# generates from it, the package's __init__.py and py.typed. The result installs with
# `pip install <file>.whl` on a machine without Rust.
#
#   bash bindings/python/build-wheel.sh             # dev profile (reuses the debug build; what CI tests)
#   bash bindings/python/build-wheel.sh --release   # release profile (what you ship)
#   bash bindings/python/build-wheel.sh --out DIR   # where the wheel goes (default target/wheels)
#
# The last line printed is the wheel's path. Tools (maturin, wheel) live in a venv under
# $FRONTDESK_CACHE (default ~/.cache/frontdesk-bindings); uniffi-bindgen is built into $CARGO_TARGET_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CACHE="${FRONTDESK_CACHE:-$HOME/.cache/frontdesk-bindings}"
PROFILE=dev
OUT="$CARGO_TARGET_DIR/wheels"
while [ $# -gt 0 ]; do
  case "$1" in
    --release) PROFILE=release ;;
    --out) OUT="$2"; shift ;;
    *) echo "usage: $0 [--release] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
MATURIN_VERSION=1.16.0
WHEEL_VERSION=0.45.1
# glibc 2.34 is the oldest this build can honestly claim: linked on Debian 12 (glibc 2.36), the
# library takes pthread_create and friends at their GLIBC_2.34 versions (libpthread merged into libc).
# maturin's auditwheel check fails the build if a dependency ever needs more than this tag says.
COMPATIBILITY=manylinux_2_34

TOOLS="$CACHE/wheel-tools"
if ! "$TOOLS/bin/maturin" --version 2>/dev/null | grep -qx "maturin $MATURIN_VERSION" || [ ! -x "$TOOLS/bin/wheel" ]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "maturin==$MATURIN_VERSION" "wheel==$WHEEL_VERSION"
fi

# maturin runs `uniffi-bindgen` from PATH for `bindings = "uniffi"`: ours, at the library's uniffi version.
cargo build -q --manifest-path bindings/uniffi-bindgen/Cargo.toml
BINDGEN_DIR="$CARGO_TARGET_DIR/debug"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd bindings/python && PATH="$BINDGEN_DIR:$PATH" "$TOOLS/bin/maturin" build --profile "$PROFILE" \
  --compatibility "$COMPATIBILITY" --out "$WORK/built")

# Strip after maturin: uniffi-bindgen reads metadata symbols from the unstripped library (maturin's
# --strip would strip before it generates, and fail). `wheel pack` rewrites RECORD with the new hash.
"$TOOLS/bin/wheel" unpack -d "$WORK/unpacked" "$WORK"/built/*.whl >/dev/null
# maturin puts the generated module and the library in frontdesk/frontdesk/, beside our __init__.py.
for f in __init__.py py.typed frontdesk/__init__.py frontdesk/frontdesk.py frontdesk/libfrontdesk_uniffi.so; do
  [ -f "$(echo "$WORK"/unpacked/*/frontdesk/"$f")" ] || { echo "the wheel lacks frontdesk/$f" >&2; exit 1; }
done
strip --strip-unneeded "$WORK"/unpacked/*/frontdesk/frontdesk/libfrontdesk_uniffi.so
mkdir -p "$OUT"
"$TOOLS/bin/wheel" pack -d "$OUT" "$WORK"/unpacked/* >/dev/null
WHEEL="$(ls -t "$OUT"/frontdesk-*-"$COMPATIBILITY"_*.whl | head -1)"
echo "built $(du -h "$WHEEL" | cut -f1) ($PROFILE profile)"
echo "$WHEEL"
