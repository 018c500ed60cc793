#!/usr/bin/env bash
# `make test`: the test suite against real Kafka, MongoDB and SMTP servers.
#
# The servers get their own state folder (.state/test, wiped at every run, so tests
# never see development data) and their own ports, so this can run while `make run`
# is up. The services themselves are not started: tests start what they need, using
# the addresses exported here. Whatever this script starts is stopped on exit, and
# pytest's exit code is the script's (5, "no tests collected", counts as a failure).
#
#   scripts/test.sh [pytest args...]
#
# Test ports (override with TEST_*): Kafka 19092 (+19093 controller), MongoDB 37017,
# SMTP 11025, services 18000-18005, syslog collector 15514 (UDP+TCP) and 16514 (TLS).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

export STATE_DIR="$ROOT/.state/test"
export KAFKA_PORT="${TEST_KAFKA_PORT:-19092}"
export KAFKA_CONTROLLER_PORT="${TEST_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
export MONGODB_PORT="${TEST_MONGODB_PORT:-37017}"
# SMTP_PORT is both our local port and part of an external server's address: change
# it only when SMTP is local (an SMTP_HOST that came from a sourced .state/env, with
# WATCH_SMTP_EXTERNAL=0, was local too).
if [[ -n "${SMTP_HOST:-}" && ( -z "${WATCH_STACK_ENV:-}" || "${WATCH_SMTP_EXTERNAL:-0}" == 1 ) ]]; then
  : # external SMTP server: keep its port
else
  export SMTP_PORT="${TEST_SMTP_PORT:-11025}"
fi
export GATEWAY_PORT="${TEST_GATEWAY_PORT:-18000}"
export SIGNUP_PORT="${TEST_SIGNUP_PORT:-18001}"
export IDENTITY_PORT="${TEST_IDENTITY_PORT:-18002}"
export DEVICE_REGISTRY_PORT="${TEST_DEVICE_REGISTRY_PORT:-18003}"
export ALERT_PIPELINE_PORT="${TEST_ALERT_PIPELINE_PORT:-18004}"
export NOTIFIER_PORT="${TEST_NOTIFIER_PORT:-18005}"
export SYSLOG_PORT="${TEST_SYSLOG_PORT:-15514}"
export SYSLOG_TLS_PORT="${TEST_SYSLOG_TLS_PORT:-16514}"
export SUPPORT_PORT="${TEST_SUPPORT_PORT:-18007}"
export APP_ENV="${APP_ENV:-test}"
# Decides (and exports) local vs external servers and the addresses, for this script,
# the scripts it calls and pytest.
# shellcheck source=scripts/common.sh
source "$ROOT/scripts/common.sh"

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  "$ROOT/scripts/services.sh" stop >/dev/null 2>&1 || true
  "$ROOT/scripts/infra.sh" stop || true
  exit "$rc"
}

# Leftovers of an interrupted earlier run hold the ports and the folder: stop them
# (by their PID files) before wiping.
"$ROOT/scripts/services.sh" stop >/dev/null 2>&1 || true
"$ROOT/scripts/infra.sh" stop >/dev/null 2>&1 || true
rm -rf "$STATE_DIR"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/scripts/infra.sh" start
"$ROOT/scripts/keys.sh"

echo "test servers: kafka $KAFKA_BOOTSTRAP_SERVERS, mongodb $MONGODB_URI, smtp $SMTP_HOST:$SMTP_PORT," \
  "syslog 127.0.0.1:$SYSLOG_PORT (tls $SYSLOG_TLS_PORT)"
export SYSLOG_TLS_CA="$STATE_DIR/syslog/tls/ca.pem"
cd "$ROOT"
rc=0
"$ROOT/.venv/bin/pytest" "$@" || rc=$?
if ((rc == 5)); then
  echo "error: pytest collected no tests (exit 5): counted as a failure" >&2
fi
exit "$rc"
