#!/usr/bin/env bash
# A cluster on this machine under load: PostgreSQL and NATS on loopback, NODES frontdesk-server
# nodes, and WORKERS frontdesk-load processes (one process may hold at most 20,000 sockets here)
# opening SESSIONS sessions spread over all nodes. Prints connect time, memory per session over all
# nodes, status fan-out across nodes and request round trips. A benchmark, not a test: run it by hand
# after `cargo build --release -p frontdesk-server --bins`.
#
#   bash server/bench/cluster-bench.sh [SESSIONS=100000] [NODES=6] [WORKERS=6]
#
# NODE_ARGS adds flags to every node (e.g. `--idle-timeout-secs 20`), LOAD_ARGS to every load process
# (e.g. `--ping-secs 0`); KEEP_LOGS=DIR keeps the logs; NATS_TAP=1 counts NATS messages by subject.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FRONTDESK_BIN:-$ROOT/target/release}
SESSIONS=${1:-100000}
NODES=${2:-6}
WORKERS=${3:-6}
PG_BIN=/usr/lib/postgresql/15/bin
SECRET=bench-secret
TMP=$(mktemp -d /tmp/frontdesk-cluster-bench.XXXXXX)
pids=()
cleanup() {
  if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS"; cp "$TMP"/*.log "$TMP"/*.out "$KEEP_LOGS"/ 2>/dev/null || true; echo "logs kept in $KEEP_LOGS"; fi
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -d "$TMP/pg" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$TMP/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
ulimit -n 20000

# PostgreSQL as shipped (fsync on: every commit waits for the disk) and NATS.
chown postgres "$TMP"
runuser -u postgres -- "$PG_BIN/initdb" -D "$TMP/pg" -A trust -U postgres >/dev/null
PGPORT=$(free_port)
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$TMP/pg" -o "-p $PGPORT -k $TMP/pg -c listen_addresses=127.0.0.1" -l "$TMP/pg/log" -w start >/dev/null
NATSPORT=$(free_port)
# A node that falls behind a burst is disconnected as a slow consumer at NATS's 64 MB default
# (and its sockets then dropped): give the bus room for every session's frames at once.
printf 'max_pending: 1GB\nwrite_deadline: "30s"\n' > "$TMP/nats.conf"
MONPORT=$(free_port)
nats-server -c "$TMP/nats.conf" -a 127.0.0.1 -p "$NATSPORT" -m "$MONPORT" >"$TMP/nats.log" 2>&1 & pids+=($!)
# NATS's own counters (messages and bytes published, all subjects), read before and after the fan-out.
varz() { python3 -c 'import json,sys,urllib.request; v=json.load(urllib.request.urlopen(sys.argv[1])); print(v["in_msgs"], v["in_bytes"])' "http://127.0.0.1:$MONPORT/varz"; }

# NATS_TAP=1: a subscriber to every subject counts the fan-out's messages by subject (and fd.in by kind).
cat > "$TMP/natstap.py" <<'TAP'
# Counts NATS messages and payload bytes by subject (fd.out.* folded) until the stop file appears.
import socket, sys, os, collections
port, stop = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b'CONNECT {"verbose":false,"headers":true,"no_responders":false}\r\nSUB > 1\r\nPING\r\n')
s.settimeout(0.2)
buf = b""; cnt = collections.Counter(); byt = collections.Counter()
while not os.path.exists(stop):
    try:
        d = s.recv(1 << 20)
    except socket.timeout:
        continue
    if not d: break
    buf += d
    while True:
        i = buf.find(b"\r\n")
        if i < 0: break
        line = buf[:i].split()
        if not line: buf = buf[i+2:]; continue
        op = line[0]
        if op in (b"MSG", b"HMSG"):
            total = int(line[-1])
            if len(buf) < i + 2 + total + 2: break
            subj = line[1].decode()
            if subj.startswith("fd.out."): subj = "fd.out.*"
            if subj == "fd.in" and op == b"HMSG":
                hdr = buf[i+2:i+2+int(line[-2])].decode(errors="replace")
                kind = [l[3:] for l in hdr.split("\r\n") if l.startswith("k: ")]
                subj += " " + (kind[0] if kind else "?")
            cnt[subj] += 1; byt[subj] += total
            buf = buf[i + 2 + total + 2:]
        else:
            if op == b"PING": s.sendall(b"PONG\r\n")
            buf = buf[i+2:]
for k in sorted(cnt): print(f"tap: {k}: {cnt[k]} messages, {byt[k]} bytes (headers included)")
TAP

urls=""; node_pids=()
for i in $(seq 1 "$NODES"); do
  port=$(free_port)
  NO_COLOR=1 RUST_LOG=warn,frontdesk_server=info "$BIN/frontdesk-server" --addr "127.0.0.1:$port" --secret "$SECRET" --no-sim --xmpp-addr off \
    --postgres "host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres" --nats "nats://127.0.0.1:$NATSPORT" --node "n$i" \
    --max-msgs-per-sec 100000 --rate-burst 100000 --max-unauth-per-addr 100000 --max-sessions-per-token 100000 ${NODE_ARGS:-} >"$TMP/n$i.log" 2>&1 &
  pids+=($!); node_pids+=($!)
  urls+="${urls:+,}ws://127.0.0.1:$port"
  # The first node leads; the others start once it does, so the leader is known.
  if [ "$i" = 1 ]; then
    for _ in $(seq 1 200); do grep -q "this node leads" "$TMP/n1.log" && break; sleep 0.1; done
  fi
done
sleep 1
idle=0; for p in "${node_pids[@]}"; do idle=$((idle + $(rss "$p"))); done
echo "cluster: $NODES nodes (n1 leads), PostgreSQL (fsync on) and NATS on loopback; $WORKERS load processes, $SESSIONS sessions"

per=$((SESSIONS / WORKERS))
worker_pids=()
for w in $(seq 1 "$WORKERS"); do
  mode=--passive; [ "$w" = 1 ] && mode=""
  "$BIN/frontdesk-load" --connect "$urls" --clients "$per" --prefix "w$w-" --secret "$SECRET" --barrier "$TMP/barrier" --workers "$WORKERS" \
    --flips 10 --seconds 5 $mode ${LOAD_ARGS:-} >"$TMP/w$w.out" 2>&1 &
  worker_pids+=($!); pids+=($!)
done
# Memory once every session is there (all workers at the barrier).
for _ in $(seq 1 6000); do [ "$(ls "$TMP/barrier" 2>/dev/null | wc -l)" -ge "$WORKERS" ] && break; sleep 0.1; done
# The flips start 0.8 s after the load processes meet; the first one's fan-out line ends them.
read -r m0 b0 < <(varz)
[ -n "${NATS_TAP:-}" ] && { python3 "$TMP/natstap.py" "$NATSPORT" "$TMP/tap.stop" > "$TMP/tap.out" & pids+=($!); }
sleep 2
loaded=0; for p in "${node_pids[@]}"; do loaded=$((loaded + $(rss "$p"))); done
lead=$(rss "${node_pids[0]}")
for _ in $(seq 1 60000); do grep -q "fan-out:" "$TMP/w1.out" 2>/dev/null && break; kill -0 "${worker_pids[0]}" 2>/dev/null || break; sleep 0.05; done
read -r m1 b1 < <(varz)
[ -n "${NATS_TAP:-}" ] && { touch "$TMP/tap.stop"; sleep 0.5; cat "$TMP/tap.out"; }
status=0
for p in "${worker_pids[@]}"; do wait "$p" || status=1; done
cat "$TMP"/w*.out
echo "memory: nodes $((idle / 1024)) MiB idle, $((loaded / 1024)) MiB with $SESSIONS sessions → $(( (loaded - idle) / (per * WORKERS) )) KiB per session over all nodes (the leader alone: $((lead / 1024)) MiB)"
total=$(cat "$TMP"/w*.out | sed -n 's/.*→ \([0-9]*\) notifications\/s.*/\1/p' | awk "{s+=\$1} END {print s}")
echo "fan-out across nodes: ${total:-?} notifications/s delivered in all (sum over the load processes)"
flips=10
echo "NATS during the fan-out: $(( (m1 - m0) / flips )) messages and $(( (b1 - b0) / flips / 1024 )) KiB published per status change (all subjects; $SESSIONS watchers on $NODES nodes)"
# Whatever the bus lost or dropped is logged: say so here rather than leave it in a deleted log.
grep -h "fd.out totals" "$TMP/n1.log" | tail -n "$NODES" | sed 's/^.*INFO frontdesk_server::cluster: /leader: /' || true
for i in $(seq 1 "$NODES"); do
  w=$(grep -cE "lost: dropping|slow consumer|NATS connection lost|publish failed" "$TMP/n$i.log" || true)
  [ "$w" != 0 ] && { echo "node n$i: $w warnings about lost frames:"; grep -hE "lost: dropping|slow consumer|NATS connection lost|publish failed" "$TMP/n$i.log" | head -3; }
done
sc=$(grep -ci "slow consumer" "$TMP/nats.log" || true)
[ "$sc" != 0 ] && { echo "nats-server: $sc slow-consumer reports"; grep -i "slow consumer" "$TMP/nats.log" | head -3; }
exit $status
