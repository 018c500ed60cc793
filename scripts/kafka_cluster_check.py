"""Checks of a three-broker cluster started by scripts/kafka-cluster.sh (run by it).

1. the three brokers form one cluster;
2. scripts/create_topics.py with replication factor 3 and min.insync.replicas=2 gives every topic
   of shared/topics.py its partition count, three replicas in sync and the min.insync.replicas setting;
3. one broker killed (SIGKILL): an idempotent acks=all producer still writes, and every record is there;
4. a second broker killed: the write is refused (not enough in-sync replicas), never acknowledged.

Prints what it found and, last, one JSON object; exits 1 when a check fails.
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared" / "src"))
from shared.topics import ALL_TOPICS, UTM_EVENTS  # noqa: E402


async def _brokers(bootstrap: str, wait_s: float = 120) -> int:
    deadline = time.monotonic() + wait_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            if len(cluster["brokers"]) == 3 or time.monotonic() > deadline:
                return len(cluster["brokers"])
        except KafkaError:
            if time.monotonic() > deadline:
                return 0
        finally:
            await admin.close()
        await asyncio.sleep(1)


async def _layout(bootstrap: str) -> dict[str, Any]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        topics = {t["topic"]: t for t in await admin.describe_topics(list(ALL_TOPICS))}
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in ALL_TOPICS]
        )
    finally:
        await admin.close()
    min_isr: dict[str, str] = {}
    for response in configs:
        for resource in response.resources:
            for entry in resource[4]:
                if entry[0] == "min.insync.replicas":
                    min_isr[resource[3]] = entry[1]
    layout = {}
    for name, wanted in ALL_TOPICS.items():
        partitions = topics[name]["partitions"]
        layout[name] = {
            "partitions": len(partitions),
            "wanted": wanted,
            "replicas": sorted({len(p["replicas"]) for p in partitions}),
            "in_sync": sorted({len(p["isr"]) for p in partitions}),
            "min_insync_replicas": min_isr.get(name),
        }
    return layout


def _kill(pid_dir: Path, node: int) -> None:
    pid = int((pid_dir / f"kafka-{node}.pid").read_text())
    os.killpg(pid, signal.SIGKILL)


async def _write(
    bootstrap: str, n: int, tag: str, timeout_ms: int, *, idempotent: bool = True
) -> tuple[int, str]:
    """Records acknowledged of ``n`` sent with acks=all, and the error of the first one refused."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=idempotent, request_timeout_ms=timeout_ms
    )
    await producer.start()
    acknowledged, error = 0, ""
    try:
        for i in range(n):
            try:
                await producer.send_and_wait(UTM_EVENTS, f"{tag}-{i}".encode(), key=f"unit-{i % 12}".encode())
                acknowledged += 1
            except KafkaError as exc:
                error = type(exc).__name__
                break
    finally:
        await producer.stop()
    return acknowledged, error


async def _count(bootstrap: str, tag: str) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(UTM_EVENTS, p) for p in range(ALL_TOPICS[UTM_EVENTS])]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        found = 0

        async def behind() -> bool:
            for tp in partitions:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        while await behind():
            batch = await consumer.getmany(timeout_ms=2000)
            found += sum(1 for records in batch.values() for r in records if r.value.startswith(tag.encode()))
        return found
    finally:
        await consumer.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--pid-dir", type=Path, required=True)
    args = parser.parse_args()
    failures = []

    brokers = await _brokers(args.bootstrap)
    print(f"brokers in the cluster: {brokers}", flush=True)
    if brokers != 3:
        print(json.dumps({"brokers": brokers, "ok": False}))
        return 1
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "scripts" / "create_topics.py"), "--bootstrap", args.bootstrap,
         "--replication-factor", "3", "--min-insync-replicas", "2"],
        check=True, cwd=ROOT,
    )  # fmt: skip
    layout = await _layout(args.bootstrap)
    print(f"{'topic':36} {'partitions':>10} {'replicas':>8} {'in sync':>8} {'min.insync':>10}")
    for name, t in layout.items():
        print(
            f"{name:36} {t['partitions']:>10} {t['replicas']!s:>8} {t['in_sync']!s:>8}"
            f" {t['min_insync_replicas']!s:>10}"
        )
        if t["partitions"] != t["wanted"] or t["replicas"] != [3] or t["in_sync"] != [3]:
            failures.append(f"{name}: layout {t}")
        if t["min_insync_replicas"] != "2":
            failures.append(f"{name}: min.insync.replicas {t['min_insync_replicas']}")

    _kill(args.pid_dir, 3)
    print("broker 3 killed (SIGKILL)", flush=True)
    written, error = await _write(args.bootstrap, 200, "one-down", timeout_ms=30000)
    stored = await _count(args.bootstrap, "one-down")
    print(
        f"one broker down: {written}/200 acknowledged ({error or 'no error'}), {stored} read back", flush=True
    )
    if written != 200 or stored != 200:
        failures.append(f"one broker down: {written} acknowledged, {stored} stored")

    _kill(args.pid_dir, 2)
    print("broker 2 killed (SIGKILL)", flush=True)
    # An idempotent producer keeps retrying while the partition lacks in-sync replicas; a plain one
    # gives up when its batch expires: either way nothing may be acknowledged.
    refused_written, refused_error = await _write(
        args.bootstrap, 1, "two-down", timeout_ms=10000, idempotent=False
    )
    print(f"two brokers down: {refused_written}/1 acknowledged ({refused_error or 'no error'})", flush=True)
    if refused_written:
        failures.append("two brokers down: a write was acknowledged with one in-sync replica")

    for failure in failures:
        print(f"FAILED: {failure}")
    print(
        json.dumps(
            {
                "brokers": brokers,
                "topics": len(layout),
                "one_down_acknowledged": written,
                "one_down_read_back": stored,
                "two_down_refused_with": refused_error,
                "ok": not failures,
            }
        )
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
