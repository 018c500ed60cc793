#!/usr/bin/env bash
# The scale-out Kafka setting tried on this machine, without Docker: three KRaft nodes (each broker
# and controller, static voters, one cluster id), configured from deploy/kafka/server.properties
# with the settings docker-compose.scale.yml gives its brokers, then scripts/kafka_cluster_check.py:
# topics created by scripts/create_topics.py with replication factor 3 and min.insync.replicas=2,
# every partition on three in-sync brokers, writes (acks=all) going on with one broker down and
# refused, not lost, with two down. Everything it starts is stopped on exit.
#
#   scripts/kafka-cluster.sh        (ports: KAFKA_CLUSTER_PORT, default 39092: 39092/39093,
#                                    39094/39095, 39096/39097 for client/controller of nodes 1-3)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export STATE_DIR="$ROOT/.state/kafka-cluster"
unset KAFKA_BOOTSTRAP_SERVERS MONGODB_URI SMTP_HOST WATCH_STACK_ENV
# shellcheck source=scripts/common.sh
source "$ROOT/scripts/common.sh"

BASE="${KAFKA_CLUSTER_PORT:-39092}"
KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
LIBS="${KAFKA_LIBS_CACHE:-$HOME/.cache/watch-kafka/$KAFKA_VERSION}"
[[ -f "$LIBS/.complete" ]] || die "Kafka jars missing in $LIBS: run scripts/kafka.sh start once (make run / make test)"
JAVA=(java -Xms128m -Xmx384m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$ROOT/deploy/kafka/log4j2.properties" -cp "$LIBS/*")
client_port() { echo $((BASE + 2 * ($1 - 1))); }
controller_port() { echo $((BASE + 2 * ($1 - 1) + 1)); }
VOTERS="1@127.0.0.1:$(controller_port 1),2@127.0.0.1:$(controller_port 2),3@127.0.0.1:$(controller_port 3)"
BOOTSTRAP="127.0.0.1:$(client_port 1),127.0.0.1:$(client_port 2),127.0.0.1:$(client_port 3)"

# The single-node template with the cluster's settings (the same values as docker-compose.scale.yml).
render() {
  local node="$1" dir="$STATE_DIR/node-$1"
  mkdir -p "$dir/data"
  sed -e "s|@KAFKA_PORT@|$(client_port "$node")|g" \
      -e "s|@KAFKA_CONTROLLER_PORT@|$(controller_port "$node")|g" \
      -e "s|@KAFKA_DATA_DIR@|$dir/data|g" \
      -e "s|^node.id=.*|node.id=$node|" \
      -e "s|^controller.quorum.bootstrap.servers=.*|controller.quorum.voters=$VOTERS|" \
      -e "s|^offsets.topic.replication.factor=.*|offsets.topic.replication.factor=3|" \
      -e "s|^transaction.state.log.replication.factor=.*|transaction.state.log.replication.factor=3|" \
      -e "s|^transaction.state.log.min.isr=.*|transaction.state.log.min.isr=2|" \
      -e "s|^share.coordinator.state.topic.replication.factor=.*|share.coordinator.state.topic.replication.factor=3|" \
      -e "s|^share.coordinator.state.topic.min.isr=.*|share.coordinator.state.topic.min.isr=2|" \
      -e "s|^default.replication.factor=.*|default.replication.factor=3|" \
      -e "s|^min.insync.replicas=.*|min.insync.replicas=2|" \
      -e "s|^auto.create.topics.enable=.*|auto.create.topics.enable=false|" \
      "$ROOT/deploy/kafka/server.properties" >"$dir/server.properties"
  echo "unclean.leader.election.enable=false" >>"$dir/server.properties"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for node in 1 2 3; do stop_bg "kafka-$node" 20 || true; done
  exit "$rc"
}

for node in 1 2 3; do
  stop_bg "kafka-$node" 20 >/dev/null 2>&1 || true
done
rm -rf "$STATE_DIR"/node-*
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cluster_id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
for node in 1 2 3; do
  ensure_port_free "kafka-$node" "$(client_port "$node")"
  ensure_port_free "kafka-$node" "$(controller_port "$node")"
  render "$node"
  "${JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$STATE_DIR/node-$node/server.properties" \
    >>"$LOG_DIR/kafka-$node.log" 2>&1 || die "format of node $node failed (see $LOG_DIR/kafka-$node.log)"
done
log "cluster $cluster_id, voters $VOTERS"
grep -E '^(node.id|controller.quorum.voters|default.replication.factor|min.insync.replicas|offsets.topic.replication.factor|transaction.state.log.min.isr)=' \
  "$STATE_DIR/node-2/server.properties" | sed 's/^/  node-2: /' >&2
for node in 1 2 3; do
  start_bg "kafka-$node" "${JAVA[@]}" kafka.Kafka "$STATE_DIR/node-$node/server.properties"
done

"$ROOT/.venv/bin/python" "$ROOT/scripts/kafka_cluster_check.py" --bootstrap "$BOOTSTRAP" \
  --pid-dir "$PID_DIR"
