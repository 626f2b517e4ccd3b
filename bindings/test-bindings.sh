#!/usr/bin/env bash
# Builds the uniffi library, regenerates the Kotlin, Swift and Python bindings (failing if the committed
# ones are stale), runs the crate's Rust tests, builds the Python wheel (bindings/python/build-wheel.sh),
# installs it into a fresh venv with no cargo or rustc on PATH and runs the Python tests from that
# install, then compiles the Kotlin bindings with a test program and runs it on the JVM. Works from
# nothing on Debian 12 as root (it apt/npm/pip-installs what is missing); tools are cached under $FRONTDESK_CACHE.
#
#   bash bindings/test-bindings.sh            # everything
#   bash bindings/test-bindings.sh generate   # only regenerate the bindings (after changing the API)
#
# Env: CARGO_TARGET_DIR (default ./target), FRONTDESK_CACHE (default ~/.cache/frontdesk-bindings),
#      FRONTDESK_PY_PROFILE (cargo profile of the wheel: dev, the default, reuses the debug build;
#      release tests the wheel as shipped).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
MODE="${1:-all}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CACHE="${FRONTDESK_CACHE:-$HOME/.cache/frontdesk-bindings}"
PY_PROFILE="${FRONTDESK_PY_PROFILE:-dev}"
KOTLIN_COMPILER_VERSION=2.4.20
GENERATED=(bindings/python/generated bindings/kotlin/generated bindings/swift/generated)
mkdir -p "$CACHE"
STATUS=0
SUMMARY=()

step() { printf '\n==> %s\n' "$*"; }
note() { SUMMARY+=("$1"); }
fail() { SUMMARY+=("$1"); STATUS=1; }
apt_install() {
  # A fresh machine has no package lists yet: update once, only when an install needs it.
  apt-get install -y --no-install-recommends "$@" || { apt-get update && apt-get install -y --no-install-recommends "$@"; }
}

step "build libfrontdesk_uniffi (debug) and uniffi-bindgen"
cargo build -p frontdesk-uniffi || exit 1
cargo build --manifest-path bindings/uniffi-bindgen/Cargo.toml || exit 1
# Its own name (libfrontdesk_uniffi), so it never overwrites the C ABI's libfrontdesk.so.
LIB="$CARGO_TARGET_DIR/debug/libfrontdesk_uniffi.so"
BINDGEN="$CARGO_TARGET_DIR/debug/uniffi-bindgen"

step "generate bindings"
# Start from empty folders so a renamed or removed type leaves no file behind.
rm -rf "${GENERATED[@]}"
"$BINDGEN" generate --library "$LIB" --language python --out-dir bindings/python/generated || exit 1
"$BINDGEN" generate --library "$LIB" --language kotlin --no-format --out-dir bindings/kotlin/generated || exit 1
# swift-format is absent here; the unformatted output is what we commit.
"$BINDGEN" generate --library "$LIB" --language swift --out-dir bindings/swift/generated 2>&1 | grep -v swift-format
[ "$MODE" = generate ] && exit 0

step "check the committed bindings are current"
if git diff --exit-code --stat -- "${GENERATED[@]}" && [ -z "$(git status --porcelain -- "${GENERATED[@]}")" ]; then
  note "bindings: ok (python, kotlin, swift generated code matches the library)"
else
  echo "Bindings are stale: run 'bash bindings/test-bindings.sh generate' and commit bindings/*/generated." >&2
  fail "bindings: FAILED (committed generated code is stale)"
fi

step "rust: the exported API without FFI (cargo test -p frontdesk-uniffi)"
if cargo test -p frontdesk-uniffi; then
  note "rust: ok (cargo test -p frontdesk-uniffi)"
else
  fail "rust: FAILED (cargo test -p frontdesk-uniffi)"
fi

step "python: build the wheel, install it into a fresh venv with no Rust on PATH, run pytest from it"
# The network tests start this server on a free port, in memory, with its bot agents.
cargo build -p frontdesk-server --bin frontdesk-server || exit 1
export FRONTDESK_SERVER="$CARGO_TARGET_DIR/debug/frontdesk-server"
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then apt_install python3-venv python3-pip; fi
PYWORK="$(mktemp -d)"
WHEEL_ARGS=(--out "$PYWORK/dist")
[ "$PY_PROFILE" = release ] && WHEEL_ARGS+=(--release)
# What a user's machine has: PATH without any folder holding cargo or rustc.
NO_RUST_PATH=""
IFS=: read -ra PATH_DIRS <<< "$PATH"
for d in "${PATH_DIRS[@]}"; do
  [ -e "$d/cargo" ] || [ -e "$d/rustc" ] || NO_RUST_PATH="${NO_RUST_PATH:+$NO_RUST_PATH:}$d"
done
no_rust() { env PATH="$NO_RUST_PATH" CARGO_HOME=/nonexistent RUSTUP_HOME=/nonexistent FRONTDESK_NO_RUST=1 "$@"; }
if ! FRONTDESK_CACHE="$CACHE" bash bindings/python/build-wheel.sh "${WHEEL_ARGS[@]}"; then
  fail "python: FAILED (building the wheel)"
elif ! WHEEL="$(ls "$PYWORK"/dist/frontdesk-*.whl)" || no_rust sh -c 'command -v cargo || command -v rustc'; then
  fail "python: FAILED (no wheel, or Rust still on the stripped PATH)"
else
  t0=$(date +%s%N)
  # mypy: test_install.py checks that a type checker reads the hints (py.typed).
  python3 -m venv "$PYWORK/venv" && no_rust "$PYWORK/venv/bin/pip" install -q --disable-pip-version-check pytest "mypy==2.4.1"
  t1=$(date +%s%N)
  # --no-index: the wheel alone, no sdist or build fallback could slip in.
  if no_rust "$PYWORK/venv/bin/pip" install --no-index --disable-pip-version-check "$WHEEL"; then
    t2=$(date +%s%N)
    # Run from the tests folder so `import frontdesk` is the installed wheel, not a source folder.
    if (cd bindings/python/tests && no_rust "$PYWORK/venv/bin/python" -m pytest -q -p no:cacheprovider .); then
      t3=$(date +%s%N)
      ms() { echo $(( ($2 - $1) / 1000000 )); }
      note "python: ok ($(basename "$WHEEL"), $(du -h "$WHEEL" | cut -f1); fresh venv + pytest $(ms "$t0" "$t1") ms, wheel install $(ms "$t1" "$t2") ms, tests $(ms "$t2" "$t3") ms; no cargo/rustc on PATH)"
    else
      fail "python: FAILED (pytest against the installed wheel)"
    fi
  else
    fail "python: FAILED (pip install of the wheel without Rust)"
  fi
fi
rm -rf "$PYWORK"

step "kotlin: compile the bindings and bindings/kotlin/test/Main.kt, run on the JVM with JNA"
command -v java >/dev/null || apt_install default-jdk-headless
[ -f /usr/share/java/jna.jar ] || apt_install libjna-java
KH="$CACHE/kotlin/node_modules/kotlin-compiler"
if [ ! -f "$KH/lib/kotlin-compiler.jar" ]; then
  command -v npm >/dev/null || apt_install npm
  mkdir -p "$CACHE/kotlin"
  (cd "$CACHE/kotlin" && npm install --no-audit --no-fund --silent "kotlin-compiler@$KOTLIN_COMPILER_VERSION")
fi
KOUT="$CACHE/kotlin/out"
rm -rf "$KOUT" && mkdir -p "$KOUT/lib"
cp "$LIB" "$KOUT/lib/"
if java -cp "$KH/lib/kotlin-compiler.jar" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler -no-stdlib -nowarn \
     -cp "/usr/share/java/jna.jar:$KH/lib/kotlin-stdlib.jar" -d "$KOUT/classes" \
     bindings/kotlin/generated/frontdesk/frontdesk.kt bindings/kotlin/test/Main.kt; then
  if java -Djna.library.path="$KOUT/lib" -cp "$KOUT/classes:/usr/share/java/jna.jar:$KH/lib/kotlin-stdlib.jar" MainKt; then
    note "kotlin: ok (kotlinc $KOTLIN_COMPILER_VERSION + JVM + JNA)"
  else
    fail "kotlin: FAILED (test program)"
  fi
else
  fail "kotlin: FAILED (compile)"
fi

note "swift: generated and checked for staleness only (no Swift toolchain on these machines)"

printf '\n==> summary\n'
printf '%s\n' "${SUMMARY[@]}"
exit $STATUS
