#!/usr/bin/env bash
# `make profile`: the pipeline benchmark with py-spy recording the pipeline that reads the filled
# topic (the pipeline_eps phase), summarised as text in benchmarks/profiles/pipeline.txt.
#
#   benchmarks/profile.sh [benchmark args...]    (default: --syslog-events 0)
#
# The raw collapsed stacks stay in .state/bench-profile/pipeline.raw (py-spy's --format raw; any
# flame graph tool reads them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RAW_DIR="$ROOT/.state/bench-profile"
mkdir -p "$RAW_DIR" "$ROOT/benchmarks/profiles"
rm -f "$RAW_DIR/pipeline.raw"
(($#)) || set -- --syslog-events 0

BENCH_PROFILE="$RAW_DIR/pipeline.raw" "$ROOT/scripts/bench.sh" "$@" | tee "$RAW_DIR/bench.out"
{
  echo "# py-spy profile of the alert pipeline reading a filled topic (make profile)"
  echo "# $(tail -n 1 "$RAW_DIR/bench.out")"
  echo
  "$ROOT/.venv/bin/python" "$ROOT/benchmarks/profile_summary.py" "$RAW_DIR/pipeline.raw" --top 30
} >"$ROOT/benchmarks/profiles/pipeline.txt"
echo "profile summary: benchmarks/profiles/pipeline.txt"
