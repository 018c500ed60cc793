"""Consumer lag per partition, and the stall detector behind the pipeline's readiness.

A partition is stalled when it has lag (records written that the consumer group has not committed)
and its committed offset has not moved for ``stall_seconds``: the pipeline is not keeping its
promise for that partition, whatever the reason (a database outage, a record retried forever).
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PartitionState:
    """What the detector knows of one partition."""

    committed: int
    end: int
    progress_at: float

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


class StallDetector:
    """Keeps per-partition committed/end offsets and says which partitions are stalled."""

    def __init__(
        self, *, consumer: str, stall_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.consumer = consumer
        self.stall_seconds = stall_seconds
        self.partitions: dict[tuple[str, int], PartitionState] = {}
        self._clock = clock

    def observe(self, topic: str, partition: int, *, committed: int, end: int) -> PartitionState:
        """Record one sample of a partition."""
        now = self._clock()
        key = (topic, partition)
        state = self.partitions.get(key)
        if state is None or committed != state.committed or committed >= end:
            state = PartitionState(committed=committed, end=end, progress_at=now)
            self.partitions[key] = state
        else:
            state.end = end
        return state

    def stalled(self) -> list[str]:
        """Descriptions of the stalled partitions (empty when all is well)."""
        now = self._clock()
        return [
            f"{topic}[{partition}]: lag {state.lag}, no progress for {now - state.progress_at:.0f} s"
            for (topic, partition), state in sorted(self.partitions.items())
            if state.lag > 0 and now - state.progress_at >= self.stall_seconds
        ]

    def problem(self) -> str | None:
        """None when every partition progresses; else what the readiness check reports."""
        stalled = self.stalled()
        if not stalled:
            return None
        return f"consumer {self.consumer} stalled: " + "; ".join(stalled)


class LagMonitor:
    """Samples a consumer group's lag on one topic from Kafka, for /metrics and readiness."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group: str,
        topic: str,
        stall_seconds: float,
        registry: CollectorRegistry,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group = group
        self.topic = topic
        self.detector = StallDetector(consumer=group, stall_seconds=stall_seconds)
        self.lag = Gauge(
            "alert_pipeline_consumer_lag",
            "Records of the raw topic not yet committed by the pipeline's consumer group",
            ["topic", "partition"],
            registry=registry,
        )
        self.stalled = Gauge(
            "alert_pipeline_consumer_stalled",
            "1 when the partition has lag and made no progress for the stall time",
            ["topic", "partition"],
            registry=registry,
        )

    def problem(self) -> str | None:
        return self.detector.problem()

    async def run(self, every_seconds: float) -> None:
        """Sample forever; an unreachable Kafka only delays the next sample."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, group_id=None, enable_auto_commit=False
        )
        started = False
        try:
            while True:
                try:
                    if not started:
                        await admin.start()
                        await consumer.start()
                        started = True
                    await self.sample(admin, consumer)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("consumer lag not sampled", extra={"error": repr(exc)[:300]})
                await asyncio.sleep(every_seconds)
        finally:
            await asyncio.gather(admin.close(), consumer.stop(), return_exceptions=True)

    async def sample(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> None:
        """One sample of every partition of the topic."""
        partitions = await partitions_of(admin, self.topic)
        if not partitions:
            return
        committed = await admin.list_consumer_group_offsets(self.group, partitions=partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        for tp in partitions:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
            state = self.detector.observe(tp.topic, tp.partition, committed=position, end=ends[tp])
            self.lag.labels(tp.topic, str(tp.partition)).set(state.lag)
        stalled = {s.split(":")[0] for s in self.detector.stalled()}
        for tp in partitions:
            flag = 1 if f"{tp.topic}[{tp.partition}]" in stalled else 0
            self.stalled.labels(tp.topic, str(tp.partition)).set(flag)


async def partitions_of(admin: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` (none when it does not exist)."""
    numbers: set[int] = set()
    for found in await admin.describe_topics([topic]):
        if found.get("topic") == topic and not found.get("error_code"):
            for part in found.get("partitions", []):
                number = part.get("partition", part.get("partition_index"))
                if isinstance(number, int):
                    numbers.add(number)
    return [TopicPartition(topic, p) for p in sorted(numbers)]
