# shellcheck shell=bash
# Shared settings and helpers for the scripts in this folder. Source it; don't run it.
#
# Everything a local run needs lives under one state folder so that a clean clone
# starts from nothing and `make clean-state` resets it:
#   $STATE_DIR/{kafka,mongo,mail,sms}   data, kept across restarts
#   $STATE_DIR/logs/<name>.log          output of each background process
#   $STATE_DIR/pids/<name>.pid          PID of each background process
#   $STATE_DIR/env                      sourceable: the addresses in use
# STATE_DIR defaults to <repo>/.state; `make test` points it at .state/test and uses
# other ports, so tests never see development data and can run beside `make run`.
#
# A server given from outside (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI, SMTP_HOST set in
# the environment) is used as is: the scripts then start nothing for that part.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${STATE_DIR:-$ROOT/.state}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"   # services get absolute paths
LOG_DIR="$STATE_DIR/logs"
PID_DIR="$STATE_DIR/pids"
mkdir -p "$LOG_DIR" "$PID_DIR"

# Helper tools (SecantusDB, aiosmtpd, the readiness probes) get their own venv,
# apart from the project's uv workspace, and shared by the dev and test state folders.
TOOLS_VENV="${TOOLS_VENV:-$ROOT/.state/tools/venv}"
TOOLS_PY="$TOOLS_VENV/bin/python"
SECANTUSDB_VERSION="0.7.0b3"
AIOSMTPD_VERSION="1.4.6"
AIOKAFKA_VERSION="0.14.0"
PYMONGO_VERSION="4.20.1"

# $STATE_DIR/env, when sourced into the caller's shell, must not make our own servers
# look "external" on the next run: forget the addresses it exported for local servers
# (they are recomputed below from the ports), keep the ones that were external.
if [[ -n "${WATCH_STACK_ENV:-}" ]]; then
  [[ "${WATCH_KAFKA_EXTERNAL:-0}" == 1 ]] || unset KAFKA_BOOTSTRAP_SERVERS
  [[ "${WATCH_MONGO_EXTERNAL:-0}" == 1 ]] || unset MONGODB_URI
  [[ "${WATCH_SMTP_EXTERNAL:-0}" == 1 ]] || unset SMTP_HOST
  unset MAILDIR SMS_OUTBOX_DIR WATCH_STACK_ENV WATCH_KAFKA_EXTERNAL WATCH_MONGO_EXTERNAL WATCH_SMTP_EXTERNAL
fi

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
MONGODB_PORT="${MONGODB_PORT:-27017}"
SMTP_PORT="${SMTP_PORT:-1025}"
export KAFKA_PORT KAFKA_CONTROLLER_PORT MONGODB_PORT
# The syslog collector (scripts/syslog.sh): UDP and TCP on SYSLOG_PORT, TLS on SYSLOG_TLS_PORT.
export SYSLOG_PORT="${SYSLOG_PORT:-5514}"
export SYSLOG_TLS_PORT="${SYSLOG_TLS_PORT:-6514}"

# External = the address was given before any of our scripts ran. The decision is
# exported, so that scripts called by another script (which exported the local
# defaults below) keep it instead of mistaking our own servers for external ones.
is_set() { [[ -n "${!1:-}" ]] && echo 1 || echo 0; }
export WATCH_KAFKA_EXTERNAL="${WATCH_KAFKA_EXTERNAL:-$(is_set KAFKA_BOOTSTRAP_SERVERS)}"
export WATCH_MONGO_EXTERNAL="${WATCH_MONGO_EXTERNAL:-$(is_set MONGODB_URI)}"
export WATCH_SMTP_EXTERNAL="${WATCH_SMTP_EXTERNAL:-$(is_set SMTP_HOST)}"
KAFKA_EXTERNAL="$WATCH_KAFKA_EXTERNAL"
MONGO_EXTERNAL="$WATCH_MONGO_EXTERNAL"
SMTP_EXTERNAL="$WATCH_SMTP_EXTERNAL"

export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$KAFKA_PORT}"
export MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:$MONGODB_PORT/?directConnection=true}"
export SMTP_HOST="${SMTP_HOST:-127.0.0.1}"
export SMTP_PORT
export MAILDIR="${MAILDIR:-$STATE_DIR/mail}"
export SMS_OUTBOX_DIR="${SMS_OUTBOX_DIR:-$STATE_DIR/sms}"

# The services' ports, and name:python-package:port of each in start order (gateway
# last: it fronts the others).
export SIGNUP_PORT="${SIGNUP_PORT:-8001}"
export IDENTITY_PORT="${IDENTITY_PORT:-8002}"
export DEVICE_REGISTRY_PORT="${DEVICE_REGISTRY_PORT:-8003}"
export ALERT_PIPELINE_PORT="${ALERT_PIPELINE_PORT:-8004}"
export NOTIFIER_PORT="${NOTIFIER_PORT:-8005}"
export SUPPORT_PORT="${SUPPORT_PORT:-8007}"
export GATEWAY_PORT="${GATEWAY_PORT:-8000}"
# shellcheck disable=SC2034  # used by the scripts that source this file
SERVICES=(
  "signup:signup:$SIGNUP_PORT"
  "identity:identity:$IDENTITY_PORT"
  "device-registry:device_registry:$DEVICE_REGISTRY_PORT"
  "alert-pipeline:alert_pipeline:$ALERT_PIPELINE_PORT"
  "notifier:notifier:$NOTIFIER_PORT"
  "support:support_desk:$SUPPORT_PORT"
  "gateway:gateway:$GATEWAY_PORT"
)

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

pid_file() { echo "$PID_DIR/$1.pid"; }

# PID of a running process we started under <name>, or nothing (and a stale file is removed).
running_pid() {
  local f pid
  f="$(pid_file "$1")"
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    echo "$pid"
    return 0
  fi
  rm -f "$f"
  return 1
}

# Starts a command in the background with its log and PID file.
# setsid puts it in its own session so that Ctrl-C on `make run` (or make itself
# ending) does not take the servers down with it; because the background child of a
# non-interactive shell is not a process-group leader, setsid execs in place and $!
# stays the server's own PID.
start_bg() {
  local name="$1"; shift
  local logf="$LOG_DIR/$name.log"
  printf '\n===== %s start %s: %s\n' "$(date '+%F %T')" "$name" "$*" >>"$logf"
  setsid "$@" </dev/null >>"$logf" 2>&1 &
  echo $! >"$(pid_file "$name")"
  log "$name started (pid $!, log ${logf#"$ROOT"/})"
}

# SIGTERM, wait until the process is gone, SIGKILL after a grace period. Signals go to
# the whole process group (start_bg made the server its leader), so helpers it may
# have spawned do not outlive it.
stop_bg() {
  local name="$1" grace="${2:-20}" pid i
  if ! pid="$(running_pid "$name")"; then
    log "$name not running"
    return 0
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) still alive after ${grace}s: SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$(pid_file "$name")"
  log "$name stopped"
}

status_bg() {
  local name="$1" pid
  if pid="$(running_pid "$name")"; then echo "$name: running (pid $pid)"; else echo "$name: stopped"; return 1; fi
}

# True when something accepts TCP connections on host:port.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Refuse to start a second server on a port that someone else already holds: it would
# die at bind time with a less obvious message in its log.
ensure_port_free() {
  local name="$1" port="$2"
  if tcp_open 127.0.0.1 "$port"; then
    die "port $port is already in use (not by our $name): stop that process, or set the port variable / give an external server"
  fi
}

# Dies with the tail of the log when a freshly started process has already exited.
check_alive() {
  local name="$1"
  if ! running_pid "$name" >/dev/null; then
    log "$name exited; last lines of its log:"
    tail -n 40 "$LOG_DIR/$name.log" >&2 || true
    exit 1
  fi
}

# The helper venv: created once, then only checked, once per command (the import check
# costs a second and every probe needs the venv).
ensure_tools() {
  [[ "${WATCH_TOOLS_READY:-}" == 1 ]] && return 0
  if [[ -x "$TOOLS_PY" ]] && "$TOOLS_PY" -c 'import secantus, aiosmtpd, aiokafka, pymongo' 2>/dev/null; then
    export WATCH_TOOLS_READY=1
    return 0
  fi
  ensure_uv
  log "installing helper tools into ${TOOLS_VENV#"$ROOT"/}"
  uv venv --quiet --allow-existing --python 3.11 "$TOOLS_VENV"
  uv pip install --quiet --python "$TOOLS_PY" \
    "secantusdb==$SECANTUSDB_VERSION" "aiosmtpd==$AIOSMTPD_VERSION" \
    "aiokafka==$AIOKAFKA_VERSION" "pymongo==$PYMONGO_VERSION"
  export WATCH_TOOLS_READY=1
}

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then return 0; fi
  [[ -x "$HOME/.local/bin/uv" ]] && { export PATH="$HOME/.local/bin:$PATH"; return 0; }
  log "installing uv with pip"
  python3 -m pip install --quiet --user uv || python3 -m pip install --quiet --break-system-packages --user uv
  export PATH="$HOME/.local/bin:$PATH"
  command -v uv >/dev/null 2>&1 || die "uv still not found after pip install"
}

# The Rust toolchain that builds the compiled core (crates/utm-core) on `uv sync`: rustup's cargo in
# ~/.cargo/bin when there is one, else Debian's cargo and rustc (installed when neither is found).
ensure_cargo() {
  [[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"
  command -v cargo >/dev/null 2>&1 && return 0
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  log "installing Debian packages: cargo rustc (they build the compiled core, crates/utm-core)"
  { "${sudo[@]}" apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends cargo rustc >/dev/null; } ||
    true
  command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install Rust 1.82 or later (Debian: apt-get install cargo rustc, or https://rustup.rs) to build crates/utm-core"
}

# Rewrites $STATE_DIR/env with the addresses in use, for `source .state/env`.
write_env() {
  {
    echo "# Written by scripts/ on $(date '+%F %T'): addresses of the running stack."
    echo "export WATCH_STACK_ENV=1"
    printf 'export %s=%q\n' \
      WATCH_KAFKA_EXTERNAL "$KAFKA_EXTERNAL" \
      WATCH_MONGO_EXTERNAL "$MONGO_EXTERNAL" \
      WATCH_SMTP_EXTERNAL "$SMTP_EXTERNAL"
    printf 'export %s=%q\n' \
      KAFKA_BOOTSTRAP_SERVERS "$KAFKA_BOOTSTRAP_SERVERS" \
      MONGODB_URI "$MONGODB_URI" \
      SMTP_HOST "$SMTP_HOST" \
      SMTP_PORT "$SMTP_PORT" \
      MAILDIR "$MAILDIR" \
      SMS_OUTBOX_DIR "$SMS_OUTBOX_DIR" \
      SYSLOG_TLS_CA "$STATE_DIR/syslog/tls/ca.pem"
    local var
    for var in GATEWAY_PORT SIGNUP_PORT IDENTITY_PORT DEVICE_REGISTRY_PORT ALERT_PIPELINE_PORT NOTIFIER_PORT \
      SUPPORT_PORT SYSLOG_PORT SYSLOG_TLS_PORT; do
      printf 'export %s=%q\n' "$var" "${!var}"
    done
  } >"$STATE_DIR/env"
}

# Waits until <probe kind> <target...> answers (scripts/probe.py). While waiting, a
# server we started that dies is reported at once with its log, instead of after the
# whole timeout. managed=0 (external server) skips that check.
wait_ready() {
  local name="$1" managed="$2" timeout="$3"; shift 3
  ensure_tools
  "$TOOLS_PY" "$ROOT/scripts/probe.py" "$@" --timeout "$timeout" &
  local probe=$!
  while kill -0 "$probe" 2>/dev/null; do
    if [[ "$managed" == 1 ]] && ! running_pid "$name" >/dev/null; then
      kill "$probe" 2>/dev/null || true
      wait "$probe" 2>/dev/null || true
      log "$name is not running; last lines of its log:"
      tail -n 40 "$LOG_DIR/$name.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
  if ! wait "$probe"; then
    if [[ "$managed" == 1 ]]; then
      log "$name did not become ready; last lines of its log:"
      tail -n 40 "$LOG_DIR/$name.log" >&2 2>/dev/null || true
    fi
    return 1
  fi
  log "$name ready"
}

# For the scripts that run something against servers of their own (bench.sh, faults.sh): a state
# folder .state/<name> wiped at every run, local Kafka, MongoDB, SMTP and syslog collector on the
# first of <PREFIX>_KAFKA_PORT, <PREFIX>_MONGODB_PORT, ... set for the prefixes given (in that order),
# else the defaults given, never a server from outside (these runs measure this machine, and kill
# their servers). Starts them, and stops them when the calling script exits.
#   own_servers <name> "<PREFIX> [<PREFIX>...]" <kafka> <mongodb> <smtp> <syslog> <syslog tls>
own_servers() {
  local name="$1" prefixes="$2" defaults=("${@:3}") vars=(KAFKA MONGODB SMTP SYSLOG SYSLOG_TLS) i prefix var
  export STATE_DIR="$ROOT/.state/$name"
  for i in "${!vars[@]}"; do
    export "${vars[$i]}_PORT=${defaults[$i]}"
    for prefix in $prefixes; do
      var="${prefix}_${vars[$i]}_PORT"
      if [[ -n "${!var:-}" ]]; then
        export "${vars[$i]}_PORT=${!var}"
        break
      fi
    done
  done
  # The controller port goes with the script's own Kafka port setting only.
  var="${prefixes%% *}_KAFKA_CONTROLLER_PORT"
  export KAFKA_CONTROLLER_PORT="${!var:-$((KAFKA_PORT + 1))}"
  export APP_ENV="${APP_ENV:-test}"
  unset KAFKA_BOOTSTRAP_SERVERS MONGODB_URI SMTP_HOST MAILDIR SMS_OUTBOX_DIR WATCH_STACK_ENV \
    WATCH_KAFKA_EXTERNAL WATCH_MONGO_EXTERNAL WATCH_SMTP_EXTERNAL
  # Again, so that the addresses and folders above follow the new state folder and ports.
  # shellcheck source=scripts/common.sh
  source "$ROOT/scripts/common.sh"

  "$ROOT/scripts/infra.sh" stop >/dev/null 2>&1 || true
  rm -rf "$STATE_DIR"
  trap own_servers_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  "$ROOT/scripts/infra.sh" start
  echo "$name servers: kafka $KAFKA_BOOTSTRAP_SERVERS, mongodb $MONGODB_URI, smtp $SMTP_HOST:$SMTP_PORT," \
    "syslog 127.0.0.1:$SYSLOG_PORT"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap of own_servers
own_servers_stop() {
  local rc=$?
  trap - EXIT INT TERM
  "$ROOT/scripts/infra.sh" stop || true
  exit "$rc"
}
