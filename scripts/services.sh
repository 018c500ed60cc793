#!/usr/bin/env bash
# The project's FastAPI services, each a uvicorn process in the background with its
# own log and PID file, run from the repo root with the workspace venv (.venv).
#
#   scripts/services.sh start|stop|status|wait|urls [service...]
#
# Without service names, all of them: signup, identity, device-registry,
# alert-pipeline, notifier, gateway (ports 8001-8005 and 8000, each overridable by
# SIGNUP_PORT, IDENTITY_PORT, DEVICE_REGISTRY_PORT, ALERT_PIPELINE_PORT,
# NOTIFIER_PORT, GATEWAY_PORT). They get the addresses of Kafka, MongoDB and SMTP
# from the environment computed in common.sh (local servers or external ones).
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

export APP_ENV="${APP_ENV:-development}"
# The gateway finds the other services through these (the defaults in its settings
# assume the default ports; an overridden port must reach it too).
export SIGNUP_URL="${SIGNUP_URL:-http://127.0.0.1:$SIGNUP_PORT}"
export IDENTITY_URL="${IDENTITY_URL:-http://127.0.0.1:$IDENTITY_PORT}"
export DEVICE_REGISTRY_URL="${DEVICE_REGISTRY_URL:-http://127.0.0.1:$DEVICE_REGISTRY_PORT}"
export ALERT_PIPELINE_URL="${ALERT_PIPELINE_URL:-http://127.0.0.1:$ALERT_PIPELINE_PORT}"
export NOTIFIER_URL="${NOTIFIER_URL:-http://127.0.0.1:$NOTIFIER_PORT}"
export SUPPORT_URL="${SUPPORT_URL:-http://127.0.0.1:$SUPPORT_PORT}"
UVICORN="$ROOT/.venv/bin/uvicorn"

# Prints "name package port" for the services selected on the command line.
selected() {
  local entry name pkg port want
  for entry in "${SERVICES[@]}"; do
    IFS=: read -r name pkg port <<<"$entry"
    if (($# == 0)); then echo "$name $pkg $port"; continue; fi
    for want in "$@"; do
      [[ "$want" == "$name" || "$want" == "$pkg" ]] && echo "$name $pkg $port"
    done
  done
}

start() {
  [[ -x "$UVICORN" ]] || die "$UVICORN not found: run 'uv sync --all-packages' (make run does)"
  mkdir -p "$MAILDIR"/{cur,new,tmp} "$SMS_OUTBOX_DIR"
  "$ROOT/scripts/keys.sh"
  cd "$ROOT" || exit 1
  local name pkg port pid
  while read -r name pkg port; do
    if pid="$(running_pid "$name")"; then
      log "$name already running (pid $pid)"
      continue
    fi
    ensure_port_free "$name" "$port"
    # No server header; client addresses come from the peer (the gateway decides which proxies to believe).
    start_bg "$name" "$UVICORN" "$pkg.main:create_app" --factory --host 127.0.0.1 --port "$port" \
      --no-server-header --no-proxy-headers
  done < <(selected "$@")
}

stop() {
  # In parallel: each one drains its connections and consumers on SIGTERM.
  local name pkg port
  while read -r name pkg port; do
    stop_bg "$name" 20 &
  done < <(selected "$@")
  wait
}

status() {
  local name pkg port rc=0
  while read -r name pkg port; do
    status_bg "$name" | sed "s|\$| port $port|" || rc=1
  done < <(selected "$@")
  return "$rc"
}

# Every service answers GET /health/ready with 200 once its dependencies are reachable.
wait_all() {
  local deadline=$((SECONDS + ${SERVICES_WAIT_TIMEOUT:-90})) name pkg port left
  while read -r name pkg port; do
    left=$((deadline - SECONDS))
    ((left > 0)) || left=1
    wait_ready "$name" 1 "$left" http "http://127.0.0.1:$port/health/ready" || {
      log "$name (port $port) is not ready"
      exit 1
    }
  done < <(selected "$@")
}

urls() {
  local name pkg port
  while read -r name pkg port; do
    printf '  %-16s http://127.0.0.1:%s/\n' "$name" "$port"
  done < <(selected "$@")
  printf '\n  portal           http://127.0.0.1:%s/\n' "$GATEWAY_PORT"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  status) status "$@" ;;
  wait) wait_all "$@" ;;
  urls) urls "$@" ;;
  *) echo "usage: $0 start|stop|status|wait|urls [service...]" >&2; exit 2 ;;
esac
