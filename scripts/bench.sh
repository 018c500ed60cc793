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
# shellcheck source=scripts/common.sh
source "$ROOT/scripts/common.sh"

own_servers bench BENCH 29092 47017 21025 25514 26514
cd "$ROOT"
"$ROOT/.venv/bin/python" "${BENCH_SCRIPT:-benchmarks/pipeline_bench.py}" "$@"
