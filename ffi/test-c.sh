#!/usr/bin/env bash
# Builds libfrontdesk, fails on header drift and on JSON Schema drift (ffi/schemas/), validates real
# JSON against those schemas, compiles the header as C11 and C++17, builds the C
# tests and examples with -Werror, runs them all under valgrind, runs the network client against a
# real frontdesk-server (with a scripted agent), runs the agent console (fd_agent_connect) with a
# client against it, and checks the pkg-config install.
#   ffi/test-c.sh            everything above
#   ffi/test-c.sh --bench    also builds in release and prints ns per call
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A fresh CI machine may lack the C toolchain pieces; install them when we can.
missing=()
for tool in cc:gcc c++:g++ make:make pkg-config:pkg-config valgrind:valgrind readelf:binutils openssl:openssl; do
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

echo "== JSON Schema drift (ffi/schemas/ against the Rust types)"
# Like the header: regenerate into the committed directory, then fail on any difference or stray file.
cargo run -q -p frontdesk-ffi --features schema --bin fd-schemas
git diff --exit-code -- ffi/schemas || { echo "ffi/schemas drifted from the Rust types: commit the regenerated schemas" >&2; exit 1; }
untracked="$(git ls-files --others --exclude-standard -- ffi/schemas)"
[ -z "$untracked" ] || { echo "ffi/schemas has files that are not committed: $untracked" >&2; exit 1; }

echo "== JSON Schemas against real JSON (the C tests' literals, and what the library emits and accepts)"
cargo test -p frontdesk-ffi --features schema --test schemas

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

echo "== network client against frontdesk-server, with a scripted agent (valgrind)"
# The same packages (so the same features) as tests/run-all.sh's `cargo test`: its artifacts are
# reused, where `-p frontdesk-server` alone resolved other features and rebuilt 16 crates (71 s in CI).
cargo build --workspace --exclude frontdesk-uniffi --exclude frontdesk-ffi --bin frontdesk-server --example agent_bot
make -s -C bindings/c LIBDIR="$LIBDIR" net
BUILD="$LIBDIR/c"
NETDIR="$(mktemp -d)"
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$NETDIR"
}
trap stop_server EXIT
export FRONTDESK_SECRET="test-c-$$-$RANDOM"
# Port 0: the kernel picks a free port and the server prints it. A high message rate for the timing loop.
"$LIBDIR/frontdesk-server" --addr 127.0.0.1:0 --db "$NETDIR/fd.db" --no-sim --xmpp-addr off \
  --max-msgs-per-sec 100000 > "$NETDIR/server.out" 2>&1 &
SERVER_PID=$!
URL=""
for _ in $(seq 100); do
  URL="$(grep -oE 'ws://127\.0\.0\.1:[0-9]+' "$NETDIR/server.out" | head -1 || true)"
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$URL" ] || { cat "$NETDIR/server.out" >&2; echo "frontdesk-server did not start" >&2; exit 1; }
AGENT_TOKEN="$("$LIBDIR/frontdesk-server" token --agent ann)"
NET_VALGRIND="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1"

# Runs a C client in the background, starts the scripted agent once the client says it waits for
# an invitation, and fails unless both succeed. Everything is bounded by `timeout`.
with_agent() { # name client-id command...
  local name=$1 client=$2; shift 2
  local out="$NETDIR/$name.out" token
  token="$("$LIBDIR/frontdesk-server" token --client "$client")"
  echo "== $name (client $client)"
  timeout 180 "$@" "$URL" "$token" > "$out" 2>&1 &
  local pid=$! ok=1
  for _ in $(seq 1200); do
    grep -q "waiting for an invitation" "$out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q "waiting for an invitation" "$out"; then
    timeout 120 "$LIBDIR/examples/agent_bot" --url "$URL" --token "$AGENT_TOKEN" --invite "$client" > "$NETDIR/$name.agent.out" 2>&1 || ok=0
  else
    ok=0
  fi
  wait "$pid" || ok=0
  if [ "$ok" = 1 ]; then
    # The figures and the outcome, without the event log and the injected panic's message.
    grep -E '^(connect|unreachable|request|fd_|history|invitation|accepted|agent answered|chat ended|test_net:)' "$out"
  else
    echo "--- $name output:" >&2; cat "$out" >&2
    echo "--- agent_bot output:" >&2; cat "$NETDIR/$name.agent.out" >&2 2>/dev/null || true
    exit 1
  fi
}
with_agent client_net alice $NET_VALGRIND "$BUILD/client_net"
with_agent test_net bob $NET_VALGRIND "$BUILD/test_net"
# Once more without valgrind, for the figures it prints.
with_agent test_net_native carol "$BUILD/test_net"

# The agent console from C (fd_agent_connect) with a network client: no scripted agent, the test plays
# both sides. Under valgrind, then once natively for its figures.
for run in valgrind native; do
  echo "== test_agent_net ($run)"
  tess="$("$LIBDIR/frontdesk-server" token --agent "tess-$run")"
  dave="$("$LIBDIR/frontdesk-server" token --client "dave-$run")"
  if [ "$run" = valgrind ]; then wrap=$NET_VALGRIND; else wrap=""; fi
  # shellcheck disable=SC2086
  timeout 180 $wrap "$BUILD/test_agent_net" "$URL" "$tess" "dave-$run" "$dave" > "$NETDIR/agent_net.out" 2>&1 \
    || { cat "$NETDIR/agent_net.out" >&2; exit 1; }
  grep -E '^(fd_agent|agent request|test_agent_net:)' "$NETDIR/agent_net.out"
done

# wss:// with roots from C: a second server with a certificate for localhost from a private CA the
# test makes (and another CA the server does not use), on 127.0.0.1 and port 0 like the first.
echo "== test_tls (valgrind): fd_client_connect_tls / fd_agent_connect_tls against a TLS frontdesk-server"
TLSDIR="$NETDIR/tls"; mkdir -p "$TLSDIR"
for ca in ca other; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=frontdesk test $ca" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
    -keyout "$TLSDIR/$ca.key" -out "$TLSDIR/$ca.pem" 2>/dev/null
done
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$TLSDIR/leaf.key" -out "$TLSDIR/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$TLSDIR/leaf.ext"
openssl x509 -req -in "$TLSDIR/leaf.csr" -CA "$TLSDIR/ca.pem" -CAkey "$TLSDIR/ca.key" -CAcreateserial -days 2 \
  -extfile "$TLSDIR/leaf.ext" -out "$TLSDIR/leaf.pem" 2>/dev/null
"$LIBDIR/frontdesk-server" --addr 127.0.0.1:0 --db "$TLSDIR/fd.db" --no-sim --xmpp-addr off \
  --tls-cert "$TLSDIR/leaf.pem" --tls-key "$TLSDIR/leaf.key" > "$TLSDIR/server.out" 2>&1 &
TLS_PID=$!
TLS_PORT=""
for _ in $(seq 100); do
  TLS_PORT="$(grep -oE 'wss://127\.0\.0\.1:[0-9]+' "$TLSDIR/server.out" | head -1 | sed 's/.*://' || true)"
  [ -n "$TLS_PORT" ] && break
  kill -0 "$TLS_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$TLS_PORT" ] || { cat "$TLSDIR/server.out" >&2; kill "$TLS_PID" 2>/dev/null || true; echo "frontdesk-server (TLS) did not start" >&2; exit 1; }
tls_ok=1
# ring's assembly AES-GCM writes bytes memcheck cannot see defined (false "uninitialised" reports on
# every TLS record), so here valgrind checks leaks and invalid accesses without definedness tracking.
# shellcheck disable=SC2086
timeout 180 $NET_VALGRIND --undef-value-errors=no "$BUILD/test_tls" "wss://localhost:$TLS_PORT" "$("$LIBDIR/frontdesk-server" token --client tina)" \
  "$("$LIBDIR/frontdesk-server" token --agent tess-tls)" "$TLSDIR/ca.pem" "$TLSDIR/other.pem" > "$TLSDIR/test.out" 2>&1 || tls_ok=0
kill "$TLS_PID" 2>/dev/null || true; wait "$TLS_PID" 2>/dev/null || true
[ "$tls_ok" = 1 ] || { cat "$TLSDIR/test.out" >&2; exit 1; }
grep -E '^(fd_client_connect_tls|test_tls:)' "$TLSDIR/test.out"

echo "== install + pkg-config"
PREFIX="$CARGO_TARGET_DIR/c-prefix"
rm -rf "$PREFIX"
make -s -C bindings/c LIBDIR="$LIBDIR" PREFIX="$PREFIX" install
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror examples/c/acd_bridge.c -o "$LIBDIR/c/acd_bridge_pc" $(pkg-config --cflags --libs frontdesk)
LD_LIBRARY_PATH="$PREFIX/lib" "$LIBDIR/c/acd_bridge_pc" > /dev/null
# The program records the SONAME, and the install provides it (the development link points at it).
soname=$(readelf -d "$PREFIX/lib/libfrontdesk.so" | sed -n 's/.*soname: \[\(.*\)\]/\1/p')
[ -n "$soname" ] && [ -f "$PREFIX/lib/$soname" ] && readelf -d "$LIBDIR/c/acd_bridge_pc" | grep -q "NEEDED.*\[$soname\]" || { echo "libfrontdesk: SONAME missing or not what programs need" >&2; exit 1; }
echo "pkg-config build of examples/c/acd_bridge.c runs (needs $soname)"
# The schemas install beside the header, one per file the generator writes.
[ "$(ls "$PREFIX"/share/frontdesk/schemas/*.schema.json | wc -l)" = "$(ls ffi/schemas/*.schema.json | wc -l)" ] \
  || { echo "install: share/frontdesk/schemas lacks schema files" >&2; exit 1; }

if [ "${1:-}" = "--bench" ]; then
  echo "== bench (release)"
  cargo build -p frontdesk-ffi --release
  make -s -C bindings/c LIBDIR="$CARGO_TARGET_DIR/release" BUILD="$CARGO_TARGET_DIR/release/c" bench
fi
echo "ffi/test-c.sh: all C checks passed"
