"""Kafka helpers of the integration and end-to-end tests: topics, an idempotent producer, sending."""

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

import shared.topics as topics

T = TypeVar("T")


def producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    """A producer as the services' own: idempotent, every record acknowledged by all replicas."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **options)


async def create_topic(
    bootstrap: str, topic: str, partitions: int = 3, configs: dict[str, str] | None = None
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        new = NewTopic(topic, num_partitions=partitions, replication_factor=1, topic_configs=configs or {})
        await admin.create_topics([new])
    finally:
        await admin.close()


async def send(bootstrap: str, items: Iterable[tuple[str, bytes, bytes]], *, rate: float = 0) -> None:
    """(topic, key, value) triples, in order; ``rate`` records a second at most when given."""
    sender = producer(bootstrap, linger_ms=5, max_request_size=4 * 1024 * 1024)
    await sender.start()
    started = time.monotonic()
    try:
        for i, (topic, key, value) in enumerate(items):
            await sender.send(topic, value, key=key)
            if rate and (ahead := (i + 1) / rate - (time.monotonic() - started)) > 0.005:
                await asyncio.sleep(ahead)
        await sender.flush()
    finally:
        await sender.stop()


async def start_group_at_end(bootstrap: str, group: str) -> None:
    """Commit the group's offsets at the end of every topic: it will only see new events."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic, count in topics.ALL_TOPICS.items()
            for partition in range(count)
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit(dict(ends.items()))
    finally:
        await consumer.stop()


async def collect(
    bootstrap: str,
    topic: str,
    pick: Callable[[ConsumerRecord[bytes, bytes]], T | None],
    count: int,
    within: float,
    *,
    max_records: int | None = None,
) -> list[T]:
    """What ``pick`` makes of the topic's records from its beginning (``None``: not wanted), until
    ``count`` were picked or ``within`` seconds passed."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[T] = []
    deadline = time.monotonic() + within
    try:
        while len(found) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=max_records)
            for records in batch.values():
                for record in records:
                    if (picked := pick(record)) is not None:
                        found.append(picked)
    finally:
        await consumer.stop()
    return found
