#!/usr/bin/env bash
# Runs every test of the project: Rust (unit, end-to-end, property), then the C ABI and the foreign
# language bindings when their parts are present. Installs what it needs on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use (xmllint for the PIDF schema test, valgrind and pkg-config for the C
# ABI, coturn for the TURN credential test, sipp and baresip for the SIP dialer test, PostgreSQL and
# nats-server for the PostgreSQL store and the cluster tests, which start their own instances on
# loopback); cheap when already present. The FRONTDESK_REQUIRE_* variables make those tests fail
# rather than skip without them.
need=""
for p in pkg-config valgrind libxml2-utils coturn sip-tester baresip-core postgresql-15 nats-server; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
if [ -n "$need" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "== installing Debian packages:$need"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $need >/dev/null
fi

# The XMPP interop test drives a standard client library (slixmpp) from Python.
venv="${FRONTDESK_VENV:-$HOME/.cache/frontdesk-test-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import slixmpp, aiosmtpd" 2>/dev/null; then
  echo "== preparing a Python venv with slixmpp in $venv"
  python3 -m venv "$venv" 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q --disable-pip-version-check "slixmpp==1.17.0" "aiosmtpd==1.4.6"
fi
export FRONTDESK_PYTHON="$venv/bin/python"
export FRONTDESK_REQUIRE_SIP=1 FRONTDESK_REQUIRE_PG=1 FRONTDESK_REQUIRE_CLUSTER=1

# Each stage prints its duration, so the stage that pushes CI past its time budget is visible.
t_last=$(date +%s)
lap() { local now; now=$(date +%s); echo "== $1 took $((now - t_last)) s"; t_last=$now; }

# Line tables are enough for backtraces and valgrind's reports; full debug info made every one of the
# ~60 test binaries slow to link and several GB larger.
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"

echo "== Rust: unit, end-to-end, property and network tests"
mkdir -p target
cargo test --workspace --exclude frontdesk-uniffi --exclude frontdesk-ffi
lap "Rust tests"
if [ -f fuzz/smoke.sh ]; then echo "== fuzz smoke (cargo-fuzz, bounded)"; bash fuzz/smoke.sh; lap "fuzz smoke"; fi

if [ -f ffi/test-c.sh ]; then
  echo "== C ABI"
  bash ffi/test-c.sh
  lap "C ABI"
fi

if [ -f bindings/mobile/check-targets.sh ]; then
  echo "== mobile targets: cargo check for Android (aarch64, x86_64) and iOS (aarch64)"
  bash bindings/mobile/check-targets.sh
  lap "mobile targets"
fi

if [ -f bindings/test-bindings.sh ]; then
  echo "== uniffi bindings (Python, Kotlin, Swift generation)"
  bash bindings/test-bindings.sh
  lap "uniffi bindings"
fi
if [ -f web/test-web.sh ]; then
  echo "== web: wasm bindings, widget size, end-to-end in headless Chromium"
  # Fails if everything a page loads (wasm, glue, client, widget) exceeds 100 KB gzipped.
  bash web/test-web.sh
  lap "web"
fi
echo "== all tests passed"
