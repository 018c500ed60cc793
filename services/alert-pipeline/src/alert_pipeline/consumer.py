"""The raw stream's consumer: aiokafka directly, large batches, committed after each batch's work.

FastStream serves the small control topics; the raw stream is read with aiokafka's ``getmany`` so
that a batch reaches the ingest as the records themselves, with no per-record wrapping, and its
size and fetch settings are the pipeline's own. At-least-once: a batch's offsets are committed
only once its work is done (a batch cut short by a crash or a rebalance is delivered again, and the
ingest counts it exactly once).

Batches overlap: while one is being stored (waiting for MongoDB), the next one is fetched and goes
through the engine (``prepare``, in a worker thread when the engine releases the GIL), then stores
and announces its alerts as soon as the one before has announced its own (``Turn``): an important
alert never waits for the counters of the batches before. The counters stay strictly in order: the
batches' counts go to one lane (``CountLane``) that applies them in order, those of the batches
waiting meanwhile in one transaction; offsets are committed in the same order. At most
``in_flight`` batches, and ``records_in_flight`` records, are being stored at once (a batch holds
its records until its counts are applied and its offsets committed).
"""

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from alert_pipeline.ingest import CountLane, Turn

log = logging.getLogger(__name__)

Records = Sequence[ConsumerRecord[Any, Any]]
BatchHandler = Callable[[Records, Any, Turn], Awaitable[None]]
BatchPreparer = Callable[[Records], Awaitable[Any]]
# After an unexpected failure the consumer is made anew (its batches are delivered again).
RESTART_PAUSE_SECONDS = 1.0


async def _nothing_prepared(records: Records) -> None:
    return None


class RawStream:
    """Reads one topic in a consumer group and hands each fetched batch to ``handle``."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        group: str,
        handle: BatchHandler,
        max_records: int,
        batch_timeout_ms: int,
        session_timeout_ms: int,
        fetch_max_bytes: int,
        max_partition_fetch_bytes: int,
        prepare: BatchPreparer = _nothing_prepared,
        ready: Callable[[], bool] = lambda: True,
        in_flight: int = 1_000,
        records_in_flight: int = 200_000,
        counts_interval: float = 0.0,
    ) -> None:
        self.topic = topic
        self.in_flight = in_flight
        self.records_in_flight = records_in_flight
        self.counts_interval = counts_interval
        self.handle = handle
        self.prepare = prepare
        self.max_records = max_records
        self.batch_timeout_ms = batch_timeout_ms
        self._ready = ready
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": group,
            "client_id": f"{group}-raw",
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": max(1_000, session_timeout_ms // 5),
            # A batch held by an outage (retried until MongoDB is back) must not cost the assignment.
            "max_poll_interval_ms": 3_600_000,
            "max_poll_records": max_records,
            "fetch_max_bytes": fetch_max_bytes,
            "max_partition_fetch_bytes": max_partition_fetch_bytes,
            "fetch_max_wait_ms": batch_timeout_ms,
        }

    async def run(self) -> None:
        """Consume until cancelled; an unexpected failure makes a new consumer after a pause."""
        while not self._ready():  # noqa: ASYNC110 - the broker's lifespan has no event to wait on
            await asyncio.sleep(0.1)
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("raw stream consumer failed; its uncommitted batches come again")
                await asyncio.sleep(RESTART_PAUSE_SECONDS)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(self.topic, **self._options)
        # The batches being stored, oldest first, with their sizes, and the latest one's turn.
        storing: list[asyncio.Task[None]] = []
        sizes: dict[asyncio.Task[None], int] = {}
        latest: Turn | None = None
        try:
            await self._start(consumer)
            while True:
                # The next batch is fetched once it can be stored (fewer than ``in_flight`` batches
                # and ``records_in_flight`` records being stored): what arrives meanwhile joins it
                # instead of waiting for the batch after.
                storing = _still_storing(storing, sizes)
                while storing and (
                    len(storing) >= self.in_flight or sum(sizes.values()) >= self.records_in_flight
                ):
                    await asyncio.wait(storing, return_when=asyncio.FIRST_COMPLETED)
                    storing = _still_storing(storing, sizes)
                batches = await consumer.getmany(
                    timeout_ms=self.batch_timeout_ms, max_records=self.max_records
                )
                if not batches:
                    continue
                records = list(itertools.chain.from_iterable(batches.values()))
                try:
                    prepared = await self.prepare(records)
                except Exception:
                    log.exception("a batch was not prepared; it is processed whole")
                    prepared = None
                done = {tp: part[-1].offset + 1 for tp, part in batches.items() if part}
                if latest is not None:
                    # Not before the batch before has announced its alerts: meanwhile what arrives
                    # joins this batch (fewer, larger batches when the database is slow).
                    await latest.front.wait()
                storing = _still_storing(storing, sizes)
                before = storing[-1] if storing else None
                if latest is None:
                    latest = Turn(before, lane=CountLane(self.counts_interval))
                else:
                    latest = latest.following(before)
                task = asyncio.create_task(self._finish(consumer, records, prepared, done, latest))
                storing.append(task)
                sizes[task] = len(records)
        finally:
            if latest is not None:
                latest.lane.abandon()
            for task in storing:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*storing, return_exceptions=True)
            await consumer.stop()

    async def _finish(
        self,
        consumer: AIOKafkaConsumer,
        records: Records,
        prepared: Any,
        done: dict[TopicPartition, int],
        turn: Turn,
    ) -> None:
        try:
            await self.handle(records, prepared, turn)
        except BaseException:
            turn.lane.abandon()  # the batches after it wait for its counts, which will not come
            raise
        finally:
            turn.announced()
        await turn.wait_before()  # offsets are committed in order
        try:
            await consumer.commit(done)
        except (CommitFailedError, KafkaError) as exc:
            # The partitions moved to another member (or Kafka is away): the batch is delivered
            # again, which the ingest absorbs (alerts by ID, counters by offset).
            log.warning("raw stream offsets not committed", extra={"error": repr(exc)[:300]})

    @staticmethod
    async def _start(consumer: AIOKafkaConsumer) -> None:
        pause = 0.5
        while True:
            try:
                await consumer.start()
                return
            except KafkaError as exc:
                log.warning("raw stream consumer not started; retrying", extra={"error": repr(exc)[:300]})
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)


def _still_storing(
    tasks: list[asyncio.Task[None]], sizes: dict[asyncio.Task[None], int]
) -> list[asyncio.Task[None]]:
    """The tasks not done yet (``sizes`` keeps theirs); a batch that failed raises here (the
    consumer is made anew)."""
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise RuntimeError("a batch failed") from task.exception()
    for task in [t for t in sizes if t.done()]:
        del sizes[task]
    return [task for task in tasks if not task.done()]
