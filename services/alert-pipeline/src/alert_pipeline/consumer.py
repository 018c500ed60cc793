"""The raw stream's consumer: aiokafka directly, large batches, committed after each batch's work.

FastStream serves the small control topics; the raw stream is read with aiokafka's ``getmany`` so
that a batch reaches the ingest as the records themselves, with no per-record wrapping, and its
size and fetch settings are the pipeline's own. At-least-once: a batch's offsets are committed
only once its work is done (a batch cut short by a crash or a rebalance is delivered again, and the
ingest counts it exactly once).

Records are fetched ahead by a task of their own (``_Fetched``), which keeps aiokafka's buffer
drained: aiokafka fetches a partition again only once what it holds of it has been taken, so a batch
taken straight from it would start with records fetched when the batch before was taken, one turn
old. At most ``max_records`` wait there; a partition read again from an earlier offset (after a
rebalance) replaces what is held of it, and what is held of a partition no longer assigned is
dropped.

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
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence, Set
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
        fetched = _Fetched(self.max_records)
        fetching: asyncio.Task[None] | None = None
        try:
            await self._start(consumer)
            fetching = asyncio.create_task(fetched.fill(consumer, self.batch_timeout_ms))
            while True:
                # The next batch is taken once it can be stored (fewer than ``in_flight`` batches
                # and ``records_in_flight`` records being stored): what arrives meanwhile joins it
                # instead of waiting for the batch after.
                storing = _still_storing(storing, sizes)
                while storing and (
                    len(storing) >= self.in_flight or sum(sizes.values()) >= self.records_in_flight
                ):
                    await asyncio.wait(storing, return_when=asyncio.FIRST_COMPLETED)
                    storing = _still_storing(storing, sizes)
                records = await fetched.take(consumer.assignment, self.batch_timeout_ms / 1000)
                if not records:
                    continue
                try:
                    prepared = await self.prepare(records)
                except Exception:
                    log.exception("a batch was not prepared; it is processed whole")
                    prepared = None
                done = _next_offsets(records)
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
            if fetching is not None:
                fetching.cancel()
                await asyncio.gather(fetching, return_exceptions=True)
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


class _Fetched:
    """Records fetched ahead of the batches, in the order of each partition, ``limit`` at most."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.records: collections.deque[ConsumerRecord[Any, Any]] = collections.deque()
        # The last offset fetched of each partition: a fetch below it means the partition was read again.
        self.last: dict[TopicPartition, int] = {}
        self.failure: Exception | None = None
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    async def fill(self, consumer: AIOKafkaConsumer, timeout_ms: int) -> None:
        """Fetch while there is room, until cancelled; a failure is raised by the next ``take``."""
        try:
            while True:
                await self._room.wait()
                batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=self.limit)
                self.put(batches)
        except Exception as exc:
            self.failure = exc
            self._arrived.set()

    def put(self, batches: Mapping[TopicPartition, Records]) -> None:
        for tp, part in batches.items():
            if not part:
                continue
            if part[0].offset <= self.last.get(tp, -1):
                # Read again from an earlier offset (a rebalance): what is held of it comes again.
                self.records = collections.deque(r for r in self.records if _partition(r) != tp)
            self.records.extend(part)
            self.last[tp] = part[-1].offset
        if self.records:
            self._arrived.set()
        if len(self.records) >= self.limit:
            self._room.clear()

    async def take(
        self, assigned: Callable[[], Set[TopicPartition]], within: float
    ) -> list[ConsumerRecord[Any, Any]]:
        """Up to ``limit`` records, waiting ``within`` seconds at most for the first.

        What is held of a partition no longer ``assigned()`` (asked once the wait is over) is
        dropped: another member reads it from the committed offset, or this one again once the
        partition comes back (aiokafka starts an assigned partition from its committed offset).
        """
        if not self.records and self.failure is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await self._arrived.wait()
        if self.failure is not None:
            raise RuntimeError("fetching the raw stream failed") from self.failure
        current = assigned()
        if revoked := [tp for tp in self.last if tp not in current]:
            gone = set(revoked)
            self.records = collections.deque(r for r in self.records if _partition(r) not in gone)
            for tp in revoked:
                del self.last[tp]
        taken = [self.records.popleft() for _ in range(min(len(self.records), self.limit))]
        if not self.records:
            self._arrived.clear()
        if len(self.records) < self.limit:
            self._room.set()
        return taken


def _partition(record: ConsumerRecord[Any, Any]) -> tuple[str, int]:
    # Equal to the record's TopicPartition (a named tuple), and cheaper to make.
    return record.topic, record.partition


def _next_offsets(records: Records) -> dict[TopicPartition, int]:
    """The offset to commit for each partition: past the last of its records (in offset order)."""
    last = {_partition(record): record.offset for record in records}
    return {TopicPartition(topic, partition): offset + 1 for (topic, partition), offset in last.items()}


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
