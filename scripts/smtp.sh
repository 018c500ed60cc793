#!/usr/bin/env bash
# A local SMTP server that keeps every message: aiosmtpd's Mailbox handler writes each
# one to the Maildir $MAILDIR (default .state/mail, folders cur/new/tmp), where tests
# and developers read them. SMTPUTF8 is on, so UTF-8 addresses and headers are accepted.
#
#   scripts/smtp.sh start|stop|status|wait
#
# Environment: SMTP_PORT (1025); SMTP_HOST set = external server, nothing started.
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start() {
  if [[ "$SMTP_EXTERNAL" == 1 ]]; then
    log "using external SMTP server at $SMTP_HOST:$SMTP_PORT: nothing to start"
    return 0
  fi
  if pid="$(running_pid smtp)"; then
    log "smtp already running (pid $pid)"
    return 0
  fi
  ensure_port_free smtp "$SMTP_PORT"
  ensure_tools
  mkdir -p "$MAILDIR"/{cur,new,tmp}
  # -n: we may run as root, and aiosmtpd would otherwise switch to user nobody, who
  # cannot write the Maildir.
  start_bg smtp "$TOOLS_PY" -m aiosmtpd -n --smtputf8 -l "127.0.0.1:$SMTP_PORT" \
    -c aiosmtpd.handlers.Mailbox "$MAILDIR"
}

case "${1:-}" in
  start) start ;;
  stop) [[ "$SMTP_EXTERNAL" == 1 ]] || stop_bg smtp 10 ;;
  status)
    if [[ "$SMTP_EXTERNAL" == 1 ]]; then echo "smtp: external ($SMTP_HOST:$SMTP_PORT)"; else status_bg smtp; fi ;;
  wait)
    managed=1; [[ "$SMTP_EXTERNAL" == 1 ]] && managed=0
    wait_ready smtp "$managed" "${SMTP_WAIT_TIMEOUT:-30}" smtp "$SMTP_HOST" "$SMTP_PORT" ;;
  *) echo "usage: $0 start|stop|status|wait" >&2; exit 2 ;;
esac
