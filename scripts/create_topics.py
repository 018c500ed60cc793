"""Create the project's Kafka topics, with their partition counts, if missing.

The list comes from the code (``shared.topics.ALL_TOPICS``: topic name -> partition
count), so a topic added there is created by the next ``make run`` / ``make test``.
Topics are created explicitly rather than left to broker auto-creation, which would
give every topic the broker's default partition count.

Replication (a cluster of several brokers, see docker-compose.scale.yml): ``--replication-factor``
(KAFKA_REPLICATION_FACTOR, default 1) copies of every partition, and ``--min-insync-replicas``
(KAFKA_MIN_INSYNC_REPLICAS, default: the broker's setting) copies that must have a write before an
``acks=all`` producer (every producer of the project) is told it is stored.

Idempotent: existing topics are left alone (a partition count lower than wanted is
reported, not changed: adding partitions moves keys to other partitions).

Run inside the project venv (it imports the project's ``shared`` package):

    .venv/bin/python scripts/create_topics.py [--bootstrap HOST:PORT]
    .venv/bin/python scripts/create_topics.py --topic demo=3 --topic other=1   # no shared/ needed
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

TOPIC_ALREADY_EXISTS = 36


def load_topics(module_name: str) -> dict[str, int]:
    module = importlib.import_module(module_name)
    topics = module.ALL_TOPICS
    return {str(name): int(partitions) for name, partitions in dict(topics).items()}


async def create_topics(
    bootstrap: str, wanted: dict[str, int], replication_factor: int, min_insync_replicas: int | None = None
) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
        missing = [name for name in wanted if name not in existing]
        for name in wanted:
            if name in existing and existing[name] < wanted[name]:
                print(
                    f"warning: topic {name} has {existing[name]} partitions, the code wants {wanted[name]}"
                    " (left as is; `make clean-state` to recreate)",
                    file=sys.stderr,
                )
        if not missing:
            print(f"topics: all {len(wanted)} present")
            return 0
        configs = {} if min_insync_replicas is None else {"min.insync.replicas": str(min_insync_replicas)}
        response = await admin.create_topics(
            [NewTopic(name, wanted[name], replication_factor, topic_configs=configs) for name in missing]
        )
        failed = 0
        for entry in response.topic_errors:
            name, code = entry[0], entry[1]
            # Another process may have created it between our describe and create.
            if code in (0, TOPIC_ALREADY_EXISTS):
                continue
            failed += 1
            message = entry[2] if len(entry) > 2 else ""
            print(f"error: topic {name}: {for_code(code).__name__} {message}", file=sys.stderr)
        created = len(missing) - failed
        present = len(wanted) - len(missing)
        print(f"topics: created {created} ({', '.join(missing)}), {present} already present")
        return 1 if failed else 0
    finally:
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--module", default="shared.topics", help="module exporting ALL_TOPICS")
    parser.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="NAME=PARTITIONS",
        help="create these instead of the module's topics",
    )
    parser.add_argument(
        "--replication-factor", type=int, default=int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1"))
    )
    parser.add_argument(
        "--min-insync-replicas",
        type=int,
        default=int(os.environ["KAFKA_MIN_INSYNC_REPLICAS"])
        if os.environ.get("KAFKA_MIN_INSYNC_REPLICAS")
        else None,
        help="topic setting min.insync.replicas (default: the broker's)",
    )
    args = parser.parse_args()
    if args.min_insync_replicas is not None and not 1 <= args.min_insync_replicas <= args.replication_factor:
        parser.error("--min-insync-replicas must be between 1 and the replication factor")

    if args.topic:
        wanted = {}
        for spec in args.topic:
            name, _, partitions = spec.partition("=")
            wanted[name] = int(partitions or 1)
    else:
        wanted = load_topics(args.module)
    if not wanted:
        print("topics: none declared")
        return 0
    return asyncio.run(
        create_topics(args.bootstrap, wanted, args.replication_factor, args.min_insync_replicas)
    )


if __name__ == "__main__":
    sys.exit(main())
