#!/usr/bin/env bash
# The servers the services depend on: Kafka, MongoDB (SecantusDB) and SMTP (aiosmtpd), and the
# syslog collector (rsyslog) that feeds the UTMs' syslog into Kafka.
#
#   scripts/infra.sh start   start what is not running yet, wait until each answers,
#                            create the project's Kafka topics, start the syslog collector
#                            once its topic exists, write $STATE_DIR/env
#   scripts/infra.sh stop|status
#
# Servers given from outside (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI, SMTP_HOST) are not
# started, only waited for; topics are created on a given Kafka too.
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
S="$ROOT/scripts"

start() {
  ensure_tools
  # All three boot at the same time (the JVM is the slow one), then we wait for each.
  "$S/kafka.sh" start
  "$S/mongo.sh" start
  "$S/smtp.sh" start
  "$S/kafka.sh" wait
  "$S/mongo.sh" wait
  "$S/smtp.sh" wait
  [[ -x "$ROOT/.venv/bin/python" ]] || die ".venv missing: run 'uv sync --all-packages' (make run does)"
  "$ROOT/.venv/bin/python" "$S/create_topics.py" --bootstrap "$KAFKA_BOOTSTRAP_SERVERS"
  "$S/syslog.sh" start
  "$S/syslog.sh" wait
  write_env
  log "addresses written to ${STATE_DIR#"$ROOT"/}/env"
}

stop() {
  # The collector first, while Kafka still takes what it has queued.
  "$S/syslog.sh" stop
  # Independent of each other: stop them side by side (Kafka and Mongo take seconds).
  "$S/smtp.sh" stop &
  "$S/mongo.sh" stop &
  "$S/kafka.sh" stop &
  wait
}

status() {
  local rc=0
  "$S/kafka.sh" status || rc=1
  "$S/mongo.sh" status || rc=1
  "$S/smtp.sh" status || rc=1
  "$S/syslog.sh" status || rc=1
  return "$rc"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
