"""docker-compose.scale.yml: three brokers in one KRaft quorum, a three-member replica set, replicated
topics and several pipeline and notifier instances (`docker compose config` validates the merge)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCALE = yaml.safe_load((ROOT / "docker-compose.scale.yml").read_text())
BASE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
BROKERS = {"kafka": 1, "kafka-2": 2, "kafka-3": 3}


def test_three_brokers_share_one_quorum_and_replicate_internal_topics_three_times() -> None:
    for name, node_id in BROKERS.items():
        env = SCALE["services"][name]["environment"]
        assert env["KAFKA_NODE_ID"] == node_id
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 3
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
        assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    ids = {SCALE["services"][name]["environment"]["CLUSTER_ID"] for name in BROKERS}
    assert len(ids) == 1
    volumes = {SCALE["services"][name].get("volumes", ["kafka-data"])[0] for name in BROKERS}
    assert len(volumes) == 3


def test_topics_are_created_with_replication_three_and_two_in_sync() -> None:
    topics = SCALE["services"]["topics"]
    assert topics["environment"]["KAFKA_REPLICATION_FACTOR"] == "3"
    assert topics["environment"]["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert topics["command"][-1] == "kafka:9092,kafka-2:9092,kafka-3:9092"


def test_every_service_reads_the_whole_cluster_and_replica_set() -> None:
    apps = [
        name for name, spec in BASE["services"].items() if "/health/ready" in str(spec.get("healthcheck"))
    ]
    assert len(apps) == 7
    for name in apps:
        env = SCALE["services"][name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092,kafka-2:9092,kafka-3:9092"
        assert (
            env["MONGODB_URI"]
            == "mongodb://mongo:27017,mongo-2:27017,mongo-3:27017/?replicaSet=rs0&w=majority"
        )


def test_the_replica_set_has_three_members_and_pipeline_and_notifier_run_several_instances() -> None:
    init = " ".join(SCALE["services"]["mongo-init"]["command"])
    for host in ("mongo:27017", "mongo-2:27017", "mongo-3:27017"):
        assert f"host: '{host}'" in init
    assert SCALE["services"]["alert-pipeline"]["deploy"]["replicas"] == "${ALERT_PIPELINE_INSTANCES:-3}"
    assert SCALE["services"]["notifier"]["deploy"]["replicas"] == "${NOTIFIER_INSTANCES:-2}"
