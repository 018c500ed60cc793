#!/usr/bin/env bash
# The syslog collector for development and tests: rsyslog with its Kafka output (Debian packages
# rsyslog, rsyslog-kafka, rsyslog-openssl), run in the foreground as one of our own processes,
# with deploy/rsyslog/collector.conf, its own work folder, no system configuration and no systemd.
#
#   scripts/syslog.sh start|stop|status|wait
#
# It listens on 127.0.0.1: SYSLOG_PORT (5514) over UDP and TCP (newline or octet-counted
# framing) and SYSLOG_TLS_PORT (6514) over TLS, and publishes every message in a JSON envelope to
# the utm-events topic of KAFKA_BOOTSTRAP_SERVERS, keyed by the sender's IP. The TLS listener's
# development certificate (a self-signed CA and a server certificate for 127.0.0.1/localhost) is
# made under $STATE_DIR/syslog/tls/ when missing; senders verify it with ca.pem there.
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SYSLOG_DIR="$STATE_DIR/syslog"
TLS_DIR="$SYSLOG_DIR/tls"
CONFIG="$ROOT/deploy/rsyslog/collector.conf"
RSYSLOGD="${RSYSLOGD:-$(command -v rsyslogd || echo /usr/sbin/rsyslogd)}"

export SYSLOG_BIND="${SYSLOG_BIND:-127.0.0.1}"
export SYSLOG_WORK_DIR="$SYSLOG_DIR/work"
export SYSLOG_KAFKA_BROKERS="$KAFKA_BOOTSTRAP_SERVERS"
export SYSLOG_KAFKA_TOPIC="${SYSLOG_KAFKA_TOPIC:-utm-events}"
export SYSLOG_TLS_CA="$TLS_DIR/ca.pem" SYSLOG_TLS_CERT="$TLS_DIR/server.pem" SYSLOG_TLS_KEY="$TLS_DIR/server.key"

start() {
  if pid="$(running_pid syslog)"; then
    log "syslog collector already running (pid $pid)"
    return 0
  fi
  [[ -x "$RSYSLOGD" ]] || die "rsyslogd not found (scripts/deps.sh installs rsyslog, rsyslog-kafka, rsyslog-openssl)"
  ensure_port_free syslog "$SYSLOG_PORT"
  ensure_port_free syslog "$SYSLOG_TLS_PORT"
  mkdir -p "$SYSLOG_WORK_DIR"
  [[ -s "$SYSLOG_TLS_CERT" ]] || log "making the collector's development TLS certificate in ${TLS_DIR#"$ROOT"/}"
  "$ROOT/deploy/rsyslog/dev-cert.sh" "$TLS_DIR" 2>>"$LOG_DIR/syslog.log" || die "could not make the TLS certificate"
  "$RSYSLOGD" -N1 -f "$CONFIG" >>"$LOG_DIR/syslog.log" 2>&1 \
    || { tail -n 20 "$LOG_DIR/syslog.log" >&2; die "rsyslog refused $CONFIG"; }
  # -n: foreground (start_bg keeps the PID), -iNONE: no PID file of its own, -f: only our file.
  start_bg syslog "$RSYSLOGD" -n -iNONE -f "$CONFIG"
}

case "${1:-}" in
  start) start ;;
  stop) stop_bg syslog 10 ;;
  status)
    if status_bg syslog; then
      echo "syslog: udp+tcp $SYSLOG_BIND:$SYSLOG_PORT, tls $SYSLOG_BIND:$SYSLOG_TLS_PORT (CA ${SYSLOG_TLS_CA#"$ROOT"/})"
    else
      exit 1
    fi ;;
  wait)
    wait_ready syslog 1 "${SYSLOG_WAIT_TIMEOUT:-30}" tcp "$SYSLOG_BIND" "$SYSLOG_PORT"
    wait_ready syslog 1 "${SYSLOG_WAIT_TIMEOUT:-30}" tls "$SYSLOG_BIND" "$SYSLOG_TLS_PORT" "$SYSLOG_TLS_CA" ;;
  *) echo "usage: $0 start|stop|status|wait" >&2; exit 2 ;;
esac
