#!/usr/bin/env bash
# `make faults`: the fault scenarios (benchmarks/faults.py) against servers of their own.
#
# Like scripts/bench.sh: Kafka, MongoDB, SMTP and the syslog collector get their own state folder
# (.state/faults, wiped at every run) and their own ports; benchmarks/faults.py kills and restarts
# them through scripts/{kafka,mongo,smtp,syslog}.sh, which read the same environment. Whatever this
# script starts is stopped on exit.
#
#   scripts/faults.sh [faults.py args...]      e.g. --only kafka,smtp --smtp-down 20
#
# Ports: FAULTS_* if given, else BENCH_* (the benchmark's), else Kafka 29192 (+1 controller),
# MongoDB 47117, SMTP 21125, syslog collector 25614 (UDP, TCP) and 26614 (TLS).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

export STATE_DIR="$ROOT/.state/faults"
export KAFKA_PORT="${FAULTS_KAFKA_PORT:-${BENCH_KAFKA_PORT:-29192}}"
export KAFKA_CONTROLLER_PORT="${FAULTS_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
export MONGODB_PORT="${FAULTS_MONGODB_PORT:-${BENCH_MONGODB_PORT:-47117}}"
export SMTP_PORT="${FAULTS_SMTP_PORT:-${BENCH_SMTP_PORT:-21125}}"
export SYSLOG_PORT="${FAULTS_SYSLOG_PORT:-${BENCH_SYSLOG_PORT:-25614}}"
export SYSLOG_TLS_PORT="${FAULTS_SYSLOG_TLS_PORT:-${BENCH_SYSLOG_TLS_PORT:-26614}}"
export APP_ENV="${APP_ENV:-test}"
# Always local servers: the scenarios kill them.
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

echo "fault servers: kafka $KAFKA_BOOTSTRAP_SERVERS, mongodb $MONGODB_URI, smtp $SMTP_HOST:$SMTP_PORT," \
  "syslog 127.0.0.1:$SYSLOG_PORT"
cd "$ROOT"
"$ROOT/.venv/bin/python" benchmarks/faults.py "$@"
