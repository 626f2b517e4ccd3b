#!/usr/bin/env bash
# Builds libfrontdesk, fails on header drift, compiles the header as C11 and C++17, builds the C
# tests and examples with -Werror, runs them all under valgrind, and checks the pkg-config install.
#   ffi/test-c.sh            everything above
#   ffi/test-c.sh --bench    also builds in release and prints ns per call
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A fresh CI machine may lack the C toolchain pieces; install them when we can.
missing=()
for tool in cc:gcc c++:g++ make:make pkg-config:pkg-config valgrind:valgrind; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "missing tools: ${missing[*]} (install them or run as root)" >&2; exit 1
  fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LIBDIR="$CARGO_TARGET_DIR/debug"

echo "== cargo build -p frontdesk-ffi (regenerates bindings/c/frontdesk.h)"
cargo build -p frontdesk-ffi

echo "== header drift"
if ! git ls-files --error-unmatch bindings/c/frontdesk.h >/dev/null 2>&1; then
  echo "bindings/c/frontdesk.h is not committed" >&2; exit 1
fi
git diff --exit-code -- bindings/c/frontdesk.h || { echo "frontdesk.h drifted from ffi/src: commit the regenerated header" >&2; exit 1; }

echo "== header compiles as C11 and C++17 without warnings"
printf '#include "frontdesk.h"\nint main(void) { return fd_version() == 0; }\n' > "$CARGO_TARGET_DIR/hdr.c"
cc -std=c11 -Wall -Wextra -Werror -pedantic -Ibindings/c -c "$CARGO_TARGET_DIR/hdr.c" -o /dev/null
cp "$CARGO_TARGET_DIR/hdr.c" "$CARGO_TARGET_DIR/hdr.cpp"
g++ -std=c++17 -Wall -Wextra -Werror -pedantic -Ibindings/c -c "$CARGO_TARGET_DIR/hdr.cpp" -o /dev/null

echo "== every exported function is exercised by a C test"
untested=0
for f in $(grep -vE '^[[:space:]]*(\*|/\*)' bindings/c/frontdesk.h | grep -oE '\bfd_[a-z_]+\(' | tr -d '(' | sort -u); do
  grep -q "\b$f(" tests/c/*.c || { echo "untested: $f" >&2; untested=1; }
done
[ "$untested" = 0 ]

echo "== C tests and examples under valgrind"
make -s -C bindings/c LIBDIR="$LIBDIR" test

echo "== install + pkg-config"
PREFIX="$CARGO_TARGET_DIR/c-prefix"
rm -rf "$PREFIX"
make -s -C bindings/c LIBDIR="$LIBDIR" PREFIX="$PREFIX" install
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror examples/c/acd_bridge.c -o "$LIBDIR/c/acd_bridge_pc" $(pkg-config --cflags --libs frontdesk)
LD_LIBRARY_PATH="$PREFIX/lib" "$LIBDIR/c/acd_bridge_pc" > /dev/null
echo "pkg-config build of examples/c/acd_bridge.c runs"

if [ "${1:-}" = "--bench" ]; then
  echo "== bench (release)"
  cargo build -p frontdesk-ffi --release
  make -s -C bindings/c LIBDIR="$CARGO_TARGET_DIR/release" BUILD="$CARGO_TARGET_DIR/release/c" bench
fi
echo "ffi/test-c.sh: all C checks passed"
