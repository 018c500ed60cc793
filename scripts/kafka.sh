#!/usr/bin/env bash
# Apache Kafka (KRaft, single node) for development and tests, without Docker and
# without the Apache tarball: the broker jars come from Maven Central.
#
#   scripts/kafka.sh start|stop|status|wait
#
# Environment:
#   KAFKA_VERSION            broker version (default below; must resolve on Maven Central)
#   KAFKA_PORT               client port (9092); the controller uses KAFKA_CONTROLLER_PORT (port+1)
#   KAFKA_LIBS_CACHE         where the jars are kept; default ~/.cache/watch-kafka/<version>,
#                            outside the repo so every clone on this machine (CI included)
#                            fetches them only once
#   KAFKA_HEAP_OPTS          JVM heap (default -Xms256m -Xmx512m)
#   KAFKA_BOOTSTRAP_SERVERS  if set, an external broker is used and nothing is started
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
LIBS="${KAFKA_LIBS_CACHE:-$HOME/.cache/watch-kafka/$KAFKA_VERSION}"
KAFKA_DIR="$STATE_DIR/kafka"
DATA="$KAFKA_DIR/data"
CONFIG="$KAFKA_DIR/server.properties"

fetch_libs() {
  [[ -f "$LIBS/.complete" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS (once)"
  # Into a temporary folder first: an interrupted download must not look complete.
  local tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  mvn -B -q --no-transfer-progress -Dstyle.color=never -f "$ROOT/deploy/maven/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$tmp" >&2
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "Kafka jar missing after mvn"
  touch "$tmp/.complete"
  rm -rf "$LIBS"
  mkdir -p "$(dirname "$LIBS")"
  mv "$tmp" "$LIBS"
}

# The data folder remembers the controller's address (KRaft voter set), so keep
# ports stable for a given state folder (`make clean-state` to change them).
render_config() {
  mkdir -p "$DATA"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@KAFKA_DATA_DIR@|$DATA|g" \
      "$ROOT/deploy/kafka/server.properties" >"$CONFIG"
  ln -sfn "$LIBS" "$KAFKA_DIR/libs"
}

# The JVM command line as an array: "$LIBS/*" must reach java unexpanded (a classpath
# wildcard), which an unquoted string would not guarantee.
read -r -a HEAP <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
JAVA=(java "${HEAP[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true "-Dlog4j2.configurationFile=$ROOT/deploy/kafka/log4j2.properties"
  -cp "$LIBS/*")

format_once() {
  # meta.properties is written by the format step: its presence means "formatted".
  [[ -f "$DATA/meta.properties" ]] && return 0
  local cluster_id
  cluster_id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/kafka.log" | tail -n 1)"
  log "formatting new KRaft storage (cluster id $cluster_id)"
  "${JAVA[@]}" kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$CONFIG" >>"$LOG_DIR/kafka.log" 2>&1 \
    || { tail -n 20 "$LOG_DIR/kafka.log" >&2; die "kafka storage format failed"; }
}

start() {
  if [[ "$KAFKA_EXTERNAL" == 1 ]]; then
    log "using external Kafka at $KAFKA_BOOTSTRAP_SERVERS: nothing to start"
    return 0
  fi
  if pid="$(running_pid kafka)"; then
    log "kafka already running (pid $pid)"
    return 0
  fi
  ensure_port_free kafka "$KAFKA_PORT"
  ensure_port_free kafka "$KAFKA_CONTROLLER_PORT"
  fetch_libs
  render_config
  format_once
  start_bg kafka "${JAVA[@]}" kafka.Kafka "$CONFIG"
}

case "${1:-}" in
  start) start ;;
  stop) [[ "$KAFKA_EXTERNAL" == 1 ]] || stop_bg kafka 20 ;;
  status)
    if [[ "$KAFKA_EXTERNAL" == 1 ]]; then echo "kafka: external ($KAFKA_BOOTSTRAP_SERVERS)"; else status_bg kafka; fi ;;
  wait)
    managed=1; [[ "$KAFKA_EXTERNAL" == 1 ]] && managed=0
    wait_ready kafka "$managed" "${KAFKA_WAIT_TIMEOUT:-90}" kafka "$KAFKA_BOOTSTRAP_SERVERS" ;;
  *) echo "usage: $0 start|stop|status|wait" >&2; exit 2 ;;
esac
