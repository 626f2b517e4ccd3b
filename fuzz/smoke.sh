#!/usr/bin/env bash
# Fuzz smoke test: builds every cargo-fuzz target once and runs each for a bounded time, two at a
# time; fails on any crash, panic, leak or time-out. Installs cargo-fuzz if missing. Stable Rust
# (RUSTC_BOOTSTRAP=1 for the -Z flags cargo-fuzz passes), no sanitizer (-s none), release with
# debug assertions and overflow checks (-O -a).
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_TARGETS   space-separated subset (default: all)
#   FUZZ_JOBS      targets run at once (default 2)
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SECONDS:-20}"
jobs="${FUZZ_JOBS:-2}"
start=$(date +%s)
export RUSTC_BOOTSTRAP=1
# A debug build of the tool: it only drives cargo and libFuzzer, and builds in a fraction of the time.
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --debug
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
echo "== fuzz: building $(echo $targets | wc -w) targets"
cargo fuzz build -s none -O -a
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"
built=$(date +%s)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
run() {
  local t="$1"
  mkdir -p "$out/$t" "artifacts/$t"
  # New inputs go to a scratch directory; the committed seeds (corpus/$t) are only read.
  if "$bin/$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" "$out/$t" "corpus/$t" >"$out/$t.log" 2>&1; then
    local runs rate
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t.log")
    printf '   %-16s ok  %9s runs  %7s exec/s\n' "$t" "$runs" "$rate"
  else
    echo "   $t FAILED:"; grep -E 'panicked|ERROR|SUMMARY|Test unit written|assert' "$out/$t.log" | head -20 | sed 's/^/     /'
    return 1
  fi
}
echo "== fuzz: ${secs}s per target, $jobs at a time"
fail=0; running=0; pids=()
for t in $targets; do
  run "$t" & pids+=($!); running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || fail=1; running=$((running - 1)); fi
done
while [ "$running" -gt 0 ]; do wait -n || fail=1; running=$((running - 1)); done
end=$(date +%s)
echo "== fuzz: build $((built - start))s, runs $((end - built))s, total $((end - start))s"
if [ "$fail" != 0 ]; then echo "== fuzz: a target crashed; the input is under fuzz/artifacts/ (copy it to fuzz/regressions/<target>/)"; exit 1; fi
# Past findings stay fixed: every saved reproducer must now run clean.
for d in regressions/*/; do
  [ -d "$d" ] || continue
  t=$(basename "$d")
  if ls "$d"* >/dev/null 2>&1; then "$bin/$t" -runs=1 "$d"* >/dev/null 2>&1 || { echo "== fuzz: regression in $t ($d)"; exit 1; }; fi
done
echo "== fuzz: no crashes"
