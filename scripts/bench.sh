#!/usr/bin/env bash
# `make bench`: the alert-pipeline benchmark against servers of its own.
#
# Like scripts/test.sh: Kafka, MongoDB and SMTP get their own state folder (.state/bench, wiped
# at every run) and their own ports, so the figures never mix with development data and this can
# run while `make run` or `make test` is up. Whatever this script starts is stopped on exit.
#
#   scripts/bench.sh [benchmark args...]      e.g. --events 300000 --no-notifier
#   BENCH_SCRIPT=benchmarks/reports_bench.py scripts/bench.sh    (make bench-reports)
#
# Ports (override with BENCH_*): Kafka 29092 (+29093 controller), MongoDB 47017, SMTP 21025,
# syslog collector 25514 (UDP, TCP) and 26514 (TLS).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

export STATE_DIR="$ROOT/.state/bench"
export KAFKA_PORT="${BENCH_KAFKA_PORT:-29092}"
export KAFKA_CONTROLLER_PORT="${BENCH_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
export MONGODB_PORT="${BENCH_MONGODB_PORT:-47017}"
export SMTP_PORT="${BENCH_SMTP_PORT:-21025}"
export SYSLOG_PORT="${BENCH_SYSLOG_PORT:-25514}"
export SYSLOG_TLS_PORT="${BENCH_SYSLOG_TLS_PORT:-26514}"
export APP_ENV="${APP_ENV:-test}"
# Always local servers: the benchmark measures this machine, not someone else's stack.
unset KAFKA_BOOTSTRAP_SERVERS MONGODB_URI SMTP_HOST MAILDIR SMS_OUTBOX_DIR WATCH_STACK_ENV \
  WATCH_KAFKA_EXTERNAL WATCH_MONGO_EXTERNAL WATCH_SMTP_EXTERNAL
# shellcheck source=scripts/common.sh
source "$ROOT/scripts/common.sh"

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  "$ROOT/scripts/infra.sh" stop || true
  exit "$rc"
}

"$ROOT/scripts/infra.sh" stop >/dev/null 2>&1 || true
rm -rf "$STATE_DIR"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/scripts/infra.sh" start

echo "bench servers: kafka $KAFKA_BOOTSTRAP_SERVERS, mongodb $MONGODB_URI, smtp $SMTP_HOST:$SMTP_PORT"
cd "$ROOT"
"$ROOT/.venv/bin/python" "${BENCH_SCRIPT:-benchmarks/pipeline_bench.py}" "$@"
