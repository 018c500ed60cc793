"""The ingest use case: one batch of raw UTM records in, alerts, counters and notifications out.

The records of a batch go to the engine in one call (``hotpath.Engine.process``): it checks,
decodes and classifies them and returns the benign counts per unit and hour, the threats and the
rejected records, so that no Python runs for a benign record. Python works per distinct unit (its
registration, aliases, last-seen time), per threat (alert or quarantine) and per rejected record.

One record, one fate: whatever a record does while it is checked, decoded, classified, built or
written, only that record is rejected (for the dead-letter topic) and the rest of its batch is
processed as if it were absent. Only an unreachable MongoDB or Kafka raises out of a batch; the
caller retries the same batch (``retry_infrastructure``), which is safe: alerts are idempotent by
alert ID and counters by topic-partition offset.
"""

import asyncio
import itertools
import logging
import operator
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from aiokafka.errors import KafkaError
from pymongo.errors import ConnectionFailure, PyMongoError

from alert_pipeline.classifier import Classification, Classifier
from alert_pipeline.hotpath import BatchOutcome, Engine, Outcome, identity_of, make_engine
from alert_pipeline.ingest_errors import RecordRejected
from alert_pipeline.models import Alert, Unit, threat_alert
from alert_pipeline.parsing import ParsedEvent
from alert_pipeline.repository import (
    CountBatch,
    CounterKey,
    PipelineStore,
    Position,
    WriteOutcome,
    add_time,
    timed,
)
from alert_pipeline.storable import check_storable, normalise
from shared.events import AlertDetected

__all__ = ["identity_of"]

log = logging.getLogger(__name__)

UNKNOWN_COMPANY = ""
# A serial not found in the projection is looked up again after this long (it may just have registered).
NEGATIVE_CACHE_SECONDS = 5.0
# What an alias names is read again after this long: another instance may have seen it with another unit.
ALIAS_SECONDS = 60.0
DEFAULT_MAX_RECORD_BYTES = 64 * 1024
DEFAULT_MAX_JSON_DEPTH = 32

_ALIAS = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
_COUNTER_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]{0,40}")
_VALUE = operator.attrgetter("value")
_TIMESTAMP = operator.attrgetter("timestamp")
_OFFSET = operator.attrgetter("offset")
_POSITION = operator.attrgetter("topic", "partition")


class RawRecord(Protocol):
    """What the ingest reads from a Kafka record (aiokafka's ConsumerRecord fits)."""

    @property
    def value(self) -> bytes | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...


@dataclass(slots=True)
class Rejected:
    """A record for the dead-letter topic, with a reason code and the reason."""

    record: RawRecord
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Limits:
    """What a raw record may be."""

    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH


@dataclass(slots=True)
class BatchResult:
    """What one batch did."""

    events: int = 0
    benign: int = 0
    threats: int = 0
    new_alerts: int = 0
    duplicates: int = 0
    quarantined: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    published: int = 0
    # Where the batch's time went: the engine's call, and waiting for MongoDB.
    engine_seconds: float = 0.0
    store_seconds: float = 0.0
    # Seconds per step of the batch (see ``STEPS``); steps that run side by side overlap.
    steps: dict[str, float] = field(default_factory=dict)


# The steps of a batch whose time is measured (``BatchResult.steps``, the metric
# ``alert_pipeline_step_seconds``). Alerts and quarantine run side by side, and so do the counts'
# transaction and the announcements (unnotified, publish, mark_notified).
STEPS = (
    "units",  # registered units and aliases of the batch's identities (find and learn)
    "seen",  # latest time each unit was heard from (in memory, sent by utm-seen)
    "build",  # alert and quarantine documents of the threats (Python)
    "alerts",  # insert of the other alerts
    "alerts.important",  # insert of the important alerts (announced as soon as it is done)
    "quarantine",  # insert of threats of unknown units
    "counts",  # the counts' transaction, whole; its parts below
    "counts.read_progress",
    "counts.read_counted",
    "counts.insert_counted",
    "counts.counters",
    "counts.write_progress",
    "counts.commit",
    "unnotified",  # which redelivered important alerts were never announced
    "read_back",  # those found announced all the same, on the topic (``readback``)
    "publish",  # alert-detected of the important alerts
    "mark_notified",
)


def is_infrastructure_failure(exc: BaseException) -> bool:
    """MongoDB or Kafka unreachable (worth retrying), as opposed to something a record did."""
    if isinstance(exc, ConnectionFailure | KafkaError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, PyMongoError) and (
        exc.has_error_label("TransientTransactionError") or exc.has_error_label("RetryableWriteError")
    )


def rules_text(path: str | Path | None = None) -> str:
    """The text of the rules file ``path``, or of the one shipped with the package."""
    if path:
        return Path(path).read_text(encoding="utf-8")
    return resources.files("alert_pipeline").joinpath("rules.toml").read_text("utf-8")


def _aliases_of(devname: str, sender: str) -> list[str]:
    return [
        f"{attribute}:{value}"
        for attribute, value in (("devname", devname), ("sender", sender))
        if value and _ALIAS.fullmatch(value)
    ]


class UnitDirectory:
    """Serial number (or a device name / sending host learnt from earlier lines) → registered unit.

    A device name or a sending host names a unit only while one serial has been seen with it. Units
    often share one: a model's default host name, several units behind one relay or one NAT address.
    Such an alias names none of them (a line carrying only it is quarantined, as one of an unknown
    unit is): never a guess, which could show one customer's line to another.
    """

    def __init__(self, store: PipelineStore, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._known: dict[str, Unit] = {}
        self._missing: dict[str, float] = {}
        # alias → the serials seen with it (as far as this process knows), and until when it is kept.
        self._aliases: dict[str, set[str]] = {}
        self._alias_until: dict[str, float] = {}
        self._clock = clock

    def remember(self, unit: Unit) -> None:
        self._known[unit.serial_number] = unit
        self._missing.pop(unit.serial_number, None)

    def _serial_of(self, identity: str) -> str | None:
        if ":" not in identity:
            return identity
        serials = self._aliases.get(identity, set())
        return next(iter(serials)) if len(serials) == 1 else None

    async def resolve(self, identities: set[str]) -> dict[str, Unit]:
        """The registered units among ``identities`` (serials and aliases)."""
        now = self._clock()
        for identity in [i for i in identities if self._alias_until.get(i, now + 1) <= now]:
            self._forget_alias(identity)
        wanted = [i for i in identities if i not in self._known and self._missing.get(i, 0.0) <= now]
        if wanted:
            unread = [i for i in wanted if ":" in i and i not in self._aliases]
            self._keep_aliases(await self._store.find_aliases(unread) if unread else {}, now)
            targets = {i: serial for i in wanted if (serial := self._serial_of(i)) is not None}
            found = await self._store.find_units(set(targets.values())) if targets else {}
            for identity in wanted:
                unit = found.get(targets.get(identity, ""))
                if unit is None:
                    self._missing[identity] = now + NEGATIVE_CACHE_SECONDS
                else:
                    self._known[identity] = unit
        return {i: self._known[i] for i in identities if i in self._known}

    async def learn(self, aliases: Sequence[tuple[str, str, str]], units: Mapping[str, Unit]) -> None:
        """Remember the device names and sending hosts of lines that carried a registered serial.

        ``aliases``: the distinct (serial, device name, sending host) of a batch's records. Only a
        pair not known yet is written (once per process at most).
        """
        new: dict[str, set[str]] = {}
        for serial, devname, sender in aliases:
            if serial not in units:
                continue
            for alias in _aliases_of(devname, sender):
                if serial not in self._aliases.get(alias, ()):
                    new.setdefault(alias, set()).add(serial)
        if not new:
            return
        learnt = await self._store.learn_aliases(new)
        for alias, serials in learnt.items():
            if len(serials) > 1 and len(self._aliases.get(alias, ())) <= 1:
                log.warning(
                    "units share a device name or sending host: lines carrying only it are quarantined",
                    extra={"alias": alias, "serials": sorted(serials)},
                )
            self._forget_alias(alias)
        self._keep_aliases(learnt, self._clock())

    def _keep_aliases(self, aliases: Mapping[str, set[str]], now: float) -> None:
        self._aliases.update(aliases)
        self._alias_until.update(dict.fromkeys(aliases, now + ALIAS_SECONDS))

    def _forget_alias(self, alias: str) -> None:
        self._aliases.pop(alias, None)
        self._alias_until.pop(alias, None)
        self._known.pop(alias, None)
        self._missing.pop(alias, None)


class SeenTracker:
    """The latest time each serial was heard from, until the next ``utm-seen`` summary."""

    def __init__(self) -> None:
        self.pending: dict[str, datetime] = {}

    def note(self, serial: str, moment: datetime) -> None:
        current = self.pending.get(serial)
        if current is None or moment > current:
            self.pending[serial] = moment

    def take(self) -> dict[str, datetime]:
        taken, self.pending = self.pending, {}
        return taken


AlertPublisher = Callable[[AlertDetected], Awaitable[None]]
# Which of these alerts, stored but not recorded as announced, were announced all the same.
AnnouncedCheck = Callable[[Sequence[Alert]], Awaitable[set[str]]]


class BatchAbandoned(Exception):
    """A batch before this one failed: this one stops short of its counts (both come again)."""


CountsApplier = Callable[[CountBatch], Awaitable[None]]


@dataclass(slots=True)
class _Waiting:
    counts: CountBatch
    last: bool
    apply: CountsApplier
    done: asyncio.Future[None]


class CountLane:
    """Applies the counts of the batches in flight in the batches' order, several per transaction.

    Batch ``seq`` is counted only after batch ``seq - 1``: the counters' per-partition watermark
    needs them in order. While one transaction runs, the counts of the batches that finish their
    alerts meanwhile wait, and go together into the next one: the number of transactions follows
    the time they take, not the number of batches. A failed transaction fails every batch in it
    (each tries again, and the lane waits for the first of them again). A batch split to isolate a
    record hands its parts one by one (``last`` false for all but the final one).

    ``interval``: the least time between the starts of two transactions. The counters feed reports,
    which need no second-by-second freshness, while each transaction costs the database about the
    same whatever it holds (one upsert per unit and hour): spacing them keeps the database free for
    the alerts and the portal at any ingest rate.
    """

    def __init__(self, interval: float = 0.0) -> None:
        self.interval = interval
        self._started = -float("inf")
        self._next = 0
        self._waiting: dict[int, _Waiting] = {}
        self._worker: asyncio.Task[None] | None = None
        self._abandoned = False

    async def apply(self, seq: int, counts: CountBatch, apply: CountsApplier, *, last: bool = True) -> None:
        """Until ``counts`` (of batch ``seq``) are applied; raises what their transaction raised."""
        if self._abandoned:
            raise BatchAbandoned("a batch before failed")
        if seq < self._next or seq in self._waiting:
            raise ValueError(f"batch {seq} is already counted or waiting")
        done = asyncio.get_running_loop().create_future()
        self._waiting[seq] = _Waiting(counts, last, apply, done)
        self._wake()
        await done

    def abandon(self) -> None:
        """A batch failed for good: those waiting behind it are abandoned (they all come again)."""
        self._abandoned = True
        for waiting in self._waiting.values():
            if not waiting.done.done():
                waiting.done.set_exception(BatchAbandoned("a batch before failed"))
        self._waiting.clear()

    def _wake(self) -> None:
        if (self._worker is None or self._worker.done()) and self._next in self._waiting:
            self._worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        while self._next in self._waiting:
            pause = self._started + self.interval - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)  # the batches finishing meanwhile join this transaction
                if self._next not in self._waiting:
                    break  # abandoned meanwhile
            self._started = time.monotonic()
            run: list[_Waiting] = []
            seq = self._next
            while seq in self._waiting:
                run.append(self._waiting.pop(seq))
                if not run[-1].last:
                    break  # a part of a batch: the rest of it comes after
                seq += 1
            merged = CountBatch.merged([w.counts for w in run])
            try:
                await run[0].apply(merged)
            except BaseException as exc:
                for waiting in run:
                    if not waiting.done.done():
                        waiting.done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            self._next += sum(1 for w in run if w.last)
            for waiting in run:
                if waiting.counts is not merged:
                    waiting.counts.timings.update(merged.timings)
                if not waiting.done.done():
                    waiting.done.set_result(None)


class Turn:
    """A batch's place among the batches in flight (the raw stream works on several at once).

    A batch stores and announces its alerts once the batch before has announced its own
    (``announced``), so an important alert is never held up by the counters of the batches
    before; its counts go to the ``lane`` under its number ``seq``, which applies them in order;
    its offsets are committed once the batch before is completely done (``wait_before``).
    """

    def __init__(
        self, before: asyncio.Future[Any] | None = None, *, seq: int = 0, lane: CountLane | None = None
    ) -> None:
        self.before = before
        self.front = asyncio.Event()
        self.seq = seq
        self.lane = lane or CountLane()

    def following(self, before: asyncio.Future[Any] | None) -> "Turn":
        """The turn of the next batch (``before``: this batch's work)."""
        return Turn(before, seq=self.seq + 1, lane=self.lane)

    def announced(self) -> None:
        self.front.set()

    async def wait_before(self) -> None:
        """Until the batch before is done; raises ``BatchAbandoned`` if it failed."""
        if self.before is None:
            return
        await asyncio.wait([self.before])
        if self.before.cancelled() or self.before.exception() is not None:
            raise BatchAbandoned("the batch before failed")


@dataclass(slots=True)
class Prepared:
    """The engine's outcome for a batch, computed ahead (while the batch before it is stored)."""

    records: Sequence[RawRecord]
    values: list[bytes | None]
    stamps: list[int]
    now_ms: int
    outcome: BatchOutcome
    engine_seconds: float


class IngestService:
    """Processes batches of raw records; safe to run again on the same batch (at-least-once input)."""

    def __init__(
        self,
        *,
        store: PipelineStore,
        classifier: Classifier,
        publish_alert: AlertPublisher,
        announced: AnnouncedCheck | None = None,
        engine: Engine | None = None,
        seen: SeenTracker | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        limits: Limits | None = None,
        in_thread: bool = False,
    ) -> None:
        """``classifier`` gives the categories' texts of alerts; ``engine`` (default: the packaged
        rules) decides. ``in_thread``: run the engine in a worker thread (worth it when it releases
        the GIL, so that the event loop fetches the next batch meanwhile). ``announced``: which of
        the stored alerts not recorded as announced were announced all the same (``readback``);
        without it, they are announced."""
        self.store = store
        self.classifier = classifier
        self.publish_alert = publish_alert
        self.announced = announced
        self.engine = engine or make_engine(rules_text())
        self.units = UnitDirectory(store)
        self.seen = seen or SeenTracker()
        self.limits = limits or Limits()
        self.in_thread = in_thread
        self._now = now

    def _process(self, values: list[bytes | None], stamps: list[int], now_ms: int) -> BatchOutcome:
        limits = self.limits
        return self.engine.process(values, stamps, now_ms, limits.max_record_bytes, limits.max_json_depth)

    # --- a batch ---

    async def prepare(self, records: Sequence[RawRecord]) -> Prepared:
        """Run the engine on a batch (in a worker thread when ``in_thread``)."""
        values: list[bytes | None] = list(map(_VALUE, records))
        stamps: list[int] = list(map(_TIMESTAMP, records))
        now_ms = int(self._now().timestamp() * 1000)
        started = time.perf_counter()
        if self.in_thread:
            outcome = await asyncio.to_thread(self._process, values, stamps, now_ms)
        else:
            outcome = self._process(values, stamps, now_ms)
        return Prepared(records, values, stamps, now_ms, outcome, time.perf_counter() - started)

    async def process_batch(
        self,
        records: Sequence[RawRecord],
        prepared: Prepared | None = None,
        turn: Turn | None = None,
        *,
        last: bool = True,
    ) -> BatchResult:
        """Check, decode, classify, store and publish one batch; raises only for infrastructure.

        ``prepared``: the engine's outcome for exactly these records, when it was computed ahead.
        ``turn``: its place among the batches in flight (alone when absent). ``last``: false for
        a part of the turn's batch that is not its final part.
        """
        turn = turn or Turn()
        result = BatchResult(events=len(records))
        counts = _spanning(records)
        if prepared is None or prepared.records is not records:
            prepared = await self.prepare(records)
        values, stamps, now_ms, batch = prepared.values, prepared.stamps, prepared.now_ms, prepared.outcome
        result.engine_seconds = prepared.engine_seconds
        result.rejected.extend(Rejected(records[i], code, reason) for i, code, reason in batch.rejects)
        steps = result.steps
        if not batch.seen:
            turn.announced()
            await self._count(counts, result, turn, last=last)
            return result

        started = time.perf_counter()
        units = await self.units.resolve(set(batch.seen))
        await self.units.learn(batch.aliases, units)
        result.store_seconds += add_time(steps, "units", time.perf_counter() - started)
        started = time.perf_counter()
        for identity, micros in batch.seen.items():
            unit = units.get(identity)
            self.seen.note(unit.serial_number if unit else identity, _moment(micros))
        add_time(steps, "seen", time.perf_counter() - started)
        counts.benign = _cells(batch.counts, units)
        result.benign = sum(batch.counts.values())

        def recount(applied: Mapping[Position, int]) -> dict[CounterKey, dict[str, int]]:
            # Only after a redelivery: the records above the offsets already applied, counted again.
            keep = [i for i, r in enumerate(records) if r.offset > applied.get((r.topic, r.partition), -1)]
            again = self._process([values[i] for i in keep], [stamps[i] for i in keep], now_ms)
            return _cells(again.counts, units)

        counts.recount = recount
        received_at = self._now()
        started = time.perf_counter()
        alerts: dict[str, Alert] = {}
        alert_records: dict[str, list[RawRecord]] = {}
        quarantined: dict[str, dict[str, Any]] = {}
        quarantine_records: dict[str, list[RawRecord]] = {}
        for index, event, outcome in batch.threats:
            record = records[index]
            try:
                product = self._threat(event, outcome, units, received_at)
            except RecordRejected as exc:
                result.rejected.append(Rejected(record, exc.code, exc.reason))
                continue
            except Exception as exc:
                result.rejected.append(Rejected(record, "build-error", f"{type(exc).__name__}: {exc}"))
                continue
            result.threats += 1
            if isinstance(product, Alert):
                alerts.setdefault(product.alert_id, product)
                alert_records.setdefault(product.alert_id, []).append(record)
            else:
                quarantined.setdefault(product[0], product[1])
                quarantine_records.setdefault(product[0], []).append(record)

        add_time(steps, "build", time.perf_counter() - started)
        # The important alerts are stored apart and announced as soon as they are stored, while the
        # others and the quarantine are written; the counters follow, in the batches' order. (Each
        # is exact across a retry: alerts by id, announcements by the announced marker, counters by
        # offset and counted alert.)
        important = [a for a in alerts.values() if a.important]
        others = [a for a in alerts.values() if not a.important]
        first = {i: rs[0] for i, rs in alert_records.items()}
        origins = {i: (r.topic, r.partition, r.offset) for i, r in first.items()}

        async def store_and_announce() -> tuple[WriteOutcome, int]:
            try:
                written = await timed(steps, "alerts.important", self.store.insert_alerts(important, origins))
                stored = [a for a in important if a.alert_id in written.new or a.alert_id in written.existing]
                return written, await self._notify(stored, written.new, steps, turn)
            finally:
                turn.announced()

        started = time.perf_counter()
        (written_important, published), written_others, kept = await asyncio.gather(
            store_and_announce(),
            timed(steps, "alerts", self.store.insert_alerts(others, origins)),
            timed(steps, "quarantine", self.store.quarantine(quarantined)),
        )
        result.store_seconds += time.perf_counter() - started
        written = _joined(written_important, written_others)
        self._refuse(result, written, alert_records)
        self._refuse(result, kept, quarantine_records)
        result.quarantined = len(kept.new) + len(kept.existing)
        result.new_alerts = len(written.new)
        result.duplicates = len(written.existing)
        result.published = published
        counts.threats = [a for i, a in alerts.items() if i in written.new or i in written.existing]
        counts.new_alerts = written.new
        await self._count(counts, result, turn, last=last)
        return result

    async def _count(self, counts: CountBatch, result: BatchResult, turn: Turn, *, last: bool) -> None:
        """Hand the batch's counts to the turn's lane, until they are applied (in order)."""
        started = time.perf_counter()
        try:
            await turn.lane.apply(turn.seq, counts, self.store.apply_counts, last=last)
        finally:
            result.store_seconds += add_time(result.steps, "counts", time.perf_counter() - started)
            for step, seconds in counts.timings.items():
                add_time(result.steps, step, seconds)

    def _threat(
        self, event: Mapping[str, Any], outcome: Outcome, units: Mapping[str, Unit], received_at: datetime
    ) -> Alert | tuple[str, dict[str, Any]]:
        """A threat's product: an alert, or a quarantined threat (id, document) of an unknown unit."""
        parsed = _parsed(event, outcome)
        identity = identity_of(parsed.serial_number, parsed.device_name, parsed.sender)
        unit = units.get(identity)
        if unit is None:
            doc = normalise(_quarantine_doc(parsed, identity, received_at))
            check_storable(doc)
            return f"{identity}|{parsed.event_key or parsed.occurred_at.isoformat()}", doc
        code, severity, blocked, rule_id = outcome
        classification = Classification(
            category=self.classifier.categories[code], severity=severity, blocked=blocked, rule_id=rule_id
        )
        alert = threat_alert(parsed, unit, classification, received_at=received_at)
        alert = _with_details(alert, normalise(alert.details))
        check_storable(alert.document())
        return alert

    @staticmethod
    def _refuse(result: BatchResult, outcome: WriteOutcome, records: dict[str, list[RawRecord]]) -> None:
        for key, reason in outcome.refused.items():
            result.threats -= len(records[key])
            result.rejected.extend(Rejected(r, "unstorable", reason) for r in records[key])

    async def _notify(
        self, important: list[Alert], new_ids: set[str], steps: dict[str, float], turn: Turn
    ) -> int:
        """Announce the stored important alerts that are new, or stored but never announced (the
        batch after may announce its own once these are published)."""
        if not important:
            return 0
        due = [a for a in important if a.alert_id in new_ids]
        # A redelivered batch may hold alerts stored before a crash but never announced.
        redelivered = [a.alert_id for a in important if a.alert_id not in new_ids]
        unrecorded = (
            await timed(steps, "unnotified", self.store.unnotified(redelivered)) if redelivered else []
        )
        # Announced by a batch that did not live to record it (or is recording it now): read back.
        again = (
            await timed(steps, "read_back", self.announced(unrecorded))
            if unrecorded and self.announced
            else set()
        )
        due.extend(a for a in unrecorded if a.alert_id not in again)
        await timed(steps, "publish", asyncio.gather(*(self.publish_alert(a.detected_event()) for a in due)))
        turn.announced()
        await timed(steps, "mark_notified", self.store.mark_notified([*(a.alert_id for a in due), *again]))
        return len(due)

    async def process_isolating(
        self,
        records: Sequence[RawRecord],
        prepared: Prepared | None = None,
        turn: Turn | None = None,
        *,
        last: bool = True,
    ) -> BatchResult:
        """``process_batch``, splitting the batch when something unforeseen fails, down to the one
        record that caused it (rejected as ``internal-error``); infrastructure failures still raise."""
        turn = turn or Turn()
        try:
            return await self.process_batch(records, prepared, turn, last=last)
        except Exception as exc:
            if is_infrastructure_failure(exc) or isinstance(exc, BatchAbandoned):
                raise
            if len(records) == 1:
                log.exception("a record failed unexpectedly; sent to the dead-letter topic")
                reason = f"{type(exc).__name__}: {exc}"
                result = BatchResult(events=1, rejected=[Rejected(records[0], "internal-error", reason)])
                # Nothing of it is counted, but the counters' watermark (and the lane) pass it.
                await self._count(_spanning(records), result, turn, last=last)
                return result
            half = len(records) // 2
            first = await self.process_isolating(records[:half], turn=turn, last=False)
            second = await self.process_isolating(records[half:], turn=turn, last=last)
            return _merge(first, second)


async def retry_infrastructure(
    action: Callable[[], Awaitable[Any]],
    *,
    what: str,
    first_pause: float = 0.5,
    longest_pause: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Any:
    """Run ``action`` until it succeeds, pausing (doubling, capped) after each infrastructure failure.

    Anything else propagates at once: only an unreachable MongoDB or Kafka is worth waiting for.
    """
    pause = first_pause
    while True:
        try:
            return await action()
        except Exception as exc:
            if not is_infrastructure_failure(exc):
                raise
            log.warning(
                "infrastructure unavailable; retrying",
                extra={"what": what, "error": repr(exc)[:300], "pause": pause},
            )
            await sleep(pause)
            pause = min(pause * 2, longest_pause)


def _spanning(records: Sequence[RawRecord]) -> CountBatch:
    """Counts (none yet) spanning the offsets of ``records`` in each topic-partition."""
    counts = CountBatch()
    for position, run in itertools.groupby(records, key=_POSITION):
        offsets = list(map(_OFFSET, run))
        low, high = min(offsets), max(offsets)
        counts.first[position] = min(low, counts.first.get(position, low))
        counts.reached[position] = max(high, counts.reached.get(position, high))
    return counts


def _merge(first: BatchResult, second: BatchResult) -> BatchResult:
    return BatchResult(
        events=first.events + second.events,
        benign=first.benign + second.benign,
        threats=first.threats + second.threats,
        new_alerts=first.new_alerts + second.new_alerts,
        duplicates=first.duplicates + second.duplicates,
        quarantined=first.quarantined + second.quarantined,
        rejected=first.rejected + second.rejected,
        published=first.published + second.published,
        engine_seconds=first.engine_seconds + second.engine_seconds,
        store_seconds=first.store_seconds + second.store_seconds,
        steps={s: first.steps.get(s, 0.0) + second.steps.get(s, 0.0) for s in {*first.steps, *second.steps}},
    )


def _joined(first: WriteOutcome, second: WriteOutcome) -> WriteOutcome:
    return WriteOutcome(
        new=first.new | second.new,
        existing=first.existing | second.existing,
        refused={**first.refused, **second.refused},
    )


def _with_details(alert: Alert, details: dict[str, Any]) -> Alert:
    return replace(alert, details=details)


_HOURS: dict[int, datetime] = {}


def _hour(start_s: int) -> datetime:
    hour = _HOURS.get(start_s)
    if hour is None:
        if len(_HOURS) > 10_000:
            _HOURS.clear()
        hour = _HOURS[start_s] = datetime.fromtimestamp(start_s, UTC)
    return hour


def _moment(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)


def _cells(
    counts: Mapping[tuple[str, int, str], int], units: Mapping[str, Unit]
) -> dict[CounterKey, dict[str, int]]:
    """The engine's counts (identity, hour, counter) as counter cells (company, serial, hour)."""
    cells: dict[CounterKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (identity, hour, name), n in counts.items():
        unit = units.get(identity)
        key = (unit.company_id, unit.serial_number) if unit else (UNKNOWN_COMPANY, identity)
        # A counter name is a field path of the counter document: one that is no plain word is "other".
        counter = name if _COUNTER_WORD.fullmatch(name) else "benign.other"
        cells[(*key, _hour(hour))][counter] += n
    return cells


def _parsed(event: Mapping[str, Any], outcome: Outcome) -> ParsedEvent:
    """The event of a threat as the alert factory reads it."""
    return ParsedEvent(
        serial_number=_text(event, "serial"),
        occurred_at=_moment(int(event["occurred_at"])),
        kind=outcome[0],
        event_key=_text(event, "event_key"),
        action=_text(event, "action"),
        level=_text(event, "level"),
        signature=_text(event, "signature"),
        group=_text(event, "group"),
        src_ip=_text(event, "src_ip"),
        dst_ip=_text(event, "dst_ip"),
        url=_text(event, "url"),
        message=_text(event, "message"),
        source_format=_text(event, "format"),
        details=dict(event.get("fields") or {}),
        device_name=_text(event, "device_name"),
        sender=_text(event, "sender"),
    )


def _text(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name, "")
    if not isinstance(value, str):
        raise RecordRejected("invalid-field", f"{name} not a string")
    return value


def _quarantine_doc(event: ParsedEvent, identity: str, received_at: datetime) -> dict[str, Any]:
    return {
        "serial_number": identity,
        "kind": event.kind,
        "action": event.action,
        "level": event.level,
        "signature": event.signature,
        "source": event.src_ip,
        "destination": event.url or event.dst_ip,
        "occurred_at": event.occurred_at,
        "received_at": received_at,
        "source_event": event.event_key,
    }
