#!/usr/bin/env bash
# Longer local fuzzing: every target (or those named) for FUZZ_SECONDS (default 600) each, with
# FUZZ_JOBS libFuzzer workers per target (default: the number of cores). New inputs are merged into
# corpus/<target>/ (review and commit the ones worth keeping); crashes land in artifacts/<target>/.
#   bash fuzz/run.sh                 # all targets, 10 minutes each
#   FUZZ_SECONDS=3600 bash fuzz/run.sh broker_frames
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SECONDS:-600}"
jobs="${FUZZ_JOBS:-$(nproc)}"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo fuzz build -s none -O -a
targets="${*:-$(cargo fuzz list)}"
status=0
for t in $targets; do
  echo "== $t: ${secs}s, $jobs jobs"
  mkdir -p "corpus/$t" "artifacts/$t"
  cargo fuzz run -s none -O -a "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    -jobs="$jobs" -workers="$jobs" -print_final_stats=1 || status=1
  cargo fuzz cmin -s none -O -a "$t" "corpus/$t" >/dev/null 2>&1 || true
done
exit $status
