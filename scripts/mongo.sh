#!/usr/bin/env bash
# The MongoDB server for development and tests: SecantusDB (a MongoDB wire-protocol
# server from PyPI; presents itself as a one-node replica set, so transactions and
# change streams work). Installed in the helper venv, not in the project workspace.
#
#   scripts/mongo.sh start|stop|status|wait
#
# Environment: MONGODB_PORT (27017); MONGODB_URI set = external server, nothing started.
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DATA="$STATE_DIR/mongo"

start() {
  if [[ "$MONGO_EXTERNAL" == 1 ]]; then
    log "using external MongoDB at $MONGODB_URI: nothing to start"
    return 0
  fi
  if pid="$(running_pid mongo)"; then
    log "mongo already running (pid $pid)"
    return 0
  fi
  ensure_port_free mongo "$MONGODB_PORT"
  ensure_tools
  mkdir -p "$DATA"
  # An explicit (empty) config file: otherwise a secantusd.toml found by auto-discovery
  # (./, ~/.secantus, /etc/secantus) could silently change how the dev server behaves.
  local config="$STATE_DIR/secantusd.toml"
  [[ -f "$config" ]] || echo "# settings come from the command line in scripts/mongo.sh" >"$config"
  start_bg mongo "$TOOLS_VENV/bin/secantusd-py" --config "$config" \
    --host 127.0.0.1 --port "$MONGODB_PORT" --storage-path "$DATA" --log-level WARNING
}

case "${1:-}" in
  start) start ;;
  # A clean stop flushes the storage engine and takes about 3 s.
  stop) [[ "$MONGO_EXTERNAL" == 1 ]] || stop_bg mongo 30 ;;
  status)
    if [[ "$MONGO_EXTERNAL" == 1 ]]; then echo "mongo: external ($MONGODB_URI)"; else status_bg mongo; fi ;;
  wait)
    managed=1; [[ "$MONGO_EXTERNAL" == 1 ]] && managed=0
    wait_ready mongo "$managed" "${MONGO_WAIT_TIMEOUT:-60}" mongo "$MONGODB_URI" ;;
  *) echo "usage: $0 start|stop|status|wait" >&2; exit 2 ;;
esac
