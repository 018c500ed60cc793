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
# shellcheck source=scripts/common.sh
source "$ROOT/scripts/common.sh"

own_servers faults "FAULTS BENCH" 29192 47117 21125 25614 26614
cd "$ROOT"
"$ROOT/.venv/bin/python" benchmarks/faults.py "$@"
