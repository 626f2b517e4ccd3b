#!/usr/bin/env bash
# Builds the uniffi library, regenerates the Kotlin, Swift and Python bindings (failing if the committed
# ones are stale), installs the Python package with pip in a venv and runs its tests, then compiles and
# runs the Kotlin test on the JVM. Works from nothing on Debian 12 as root; tools it installs are cached
# under $FRONTDESK_CACHE (default ~/.cache/frontdesk-bindings).
#
#   bash bindings/test-bindings.sh            # everything
#   bash bindings/test-bindings.sh generate   # only regenerate the bindings (after changing the API)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
MODE="${1:-all}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export CARGO_TARGET_DIR="$TARGET"
CACHE="${FRONTDESK_CACHE:-$HOME/.cache/frontdesk-bindings}"
KOTLIN_COMPILER_VERSION=2.4.20
mkdir -p "$CACHE"
declare -A RESULT

step() { printf '\n==> %s\n' "$*"; }

step "build libfrontdesk (debug) and uniffi-bindgen"
cargo build -p frontdesk-uniffi
cargo build --manifest-path bindings/uniffi-bindgen/Cargo.toml
LIB="$TARGET/debug/libfrontdesk.so"
BINDGEN="$TARGET/debug/uniffi-bindgen"

step "generate bindings"
# Start from empty folders so a renamed or removed type leaves no file behind.
rm -rf bindings/python/generated bindings/kotlin/generated bindings/swift/generated
"$BINDGEN" generate --library "$LIB" --language python --out-dir bindings/python/generated
"$BINDGEN" generate --library "$LIB" --language kotlin --no-format --out-dir bindings/kotlin/generated
"$BINDGEN" generate --library "$LIB" --language swift --out-dir bindings/swift/generated
[ "$MODE" = generate ] && exit 0

step "check the committed bindings are current"
if git diff --exit-code --stat -- bindings/python/generated bindings/kotlin/generated bindings/swift/generated \
  && [ -z "$(git status --porcelain -- bindings/python/generated bindings/kotlin/generated bindings/swift/generated)" ]; then
  RESULT[generated]="ok: python, kotlin, swift bindings match the library"
else
  echo "Bindings are stale: run 'bash bindings/test-bindings.sh generate' and commit bindings/*/generated." >&2
  RESULT[generated]="FAILED: stale bindings"
fi
