"""The ingest use case: one batch of raw UTM records in, alerts, counters and notifications out.

One record, one fate: whatever a record does while it is checked, decoded, classified, built or
written, only that record is rejected (for the dead-letter topic) and the rest of its batch is
processed as if it were absent. Only an unreachable MongoDB or Kafka raises out of a batch; the
caller retries the same batch (``process_with_retries``), which is safe: alerts are idempotent by
alert ID and counters by topic-partition offset.
"""

import asyncio
import functools
import logging
import operator
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiokafka.errors import KafkaError
from pymongo.errors import ConnectionFailure, PyMongoError

from alert_pipeline.classifier import Classifier
from alert_pipeline.ingest_errors import RecordRejected
from alert_pipeline.models import Alert, Unit, hour_bucket, threat_alert
from alert_pipeline.parsing import ParsedEvent, ParseError, parse_record
from alert_pipeline.repository import CountBatch, PipelineStore, WriteOutcome
from alert_pipeline.storable import check_storable, normalise
from shared.events import AlertDetected

log = logging.getLogger(__name__)

UNKNOWN_COMPANY = ""
# A serial not found in the projection is looked up again after this long (it may just have registered).
NEGATIVE_CACHE_SECONDS = 5.0
DEFAULT_MAX_RECORD_BYTES = 64 * 1024
DEFAULT_MAX_JSON_DEPTH = 32
# A device clock before this, or later than a day ahead, is not believed: the broker's time is used.
EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_AHEAD = timedelta(days=1)

_SERIAL = re.compile(r"[\x21-\x7e]{1,64}")
_ALIAS = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
_COUNTER_WORD = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_BRACKETS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_STRING_FIELDS = ("serial_number", "kind", "event_key", "action", "level", "signature", "group",
                  "src_ip", "dst_ip", "url", "message", "source_format")  # fmt: skip
_STRINGS_OF = operator.attrgetter(*_STRING_FIELDS)


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


def is_infrastructure_failure(exc: BaseException) -> bool:
    """MongoDB or Kafka unreachable (worth retrying), as opposed to something a record did."""
    if isinstance(exc, ConnectionFailure | KafkaError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, PyMongoError) and (
        exc.has_error_label("TransientTransactionError") or exc.has_error_label("RetryableWriteError")
    )


def identity_of(event: ParsedEvent) -> str:
    """How a record names its unit: the serial, else ``devname:…`` or ``sender:…``."""
    if event.serial_number:
        return event.serial_number
    if event.device_name:
        return f"devname:{event.device_name}"
    if event.sender:
        return f"sender:{event.sender}"
    return ""


def _aliases_of(devname: str, sender: str) -> list[str]:
    return [
        f"{attribute}:{value}"
        for attribute, value in (("devname", devname), ("sender", sender))
        if value and _ALIAS.fullmatch(value)
    ]


class UnitDirectory:
    """Serial number (or a device name / sending host learnt from earlier lines) → registered unit."""

    def __init__(self, store: PipelineStore, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._known: dict[str, Unit] = {}
        self._missing: dict[str, float] = {}
        self._aliases: dict[str, str] = {}
        self._clock = clock

    def remember(self, unit: Unit) -> None:
        self._known[unit.serial_number] = unit
        self._missing.pop(unit.serial_number, None)

    async def resolve(self, identities: set[str]) -> dict[str, Unit]:
        """The registered units among ``identities`` (serials and aliases)."""
        now = self._clock()
        wanted = [i for i in identities if i not in self._known and self._missing.get(i, 0.0) <= now]
        if wanted:
            serials = [i for i in wanted if ":" not in i or i in self._aliases]
            aliases = [i for i in wanted if ":" in i and i not in self._aliases]
            learnt = await self._store.find_aliases(aliases) if aliases else {}
            self._aliases.update(learnt)
            targets = {i: self._aliases.get(i, i) for i in [*serials, *learnt]}
            found = await self._store.find_units(set(targets.values())) if targets else {}
            for identity in wanted:
                unit = found.get(targets.get(identity, ""))
                if unit is None:
                    self._missing[identity] = now + NEGATIVE_CACHE_SECONDS
                else:
                    self._known[identity] = unit
        return {i: self._known[i] for i in identities if i in self._known}

    async def learn(self, accepted: Sequence[tuple[Any, ParsedEvent, str]], units: dict[str, Unit]) -> None:
        """Remember the device names and sending hosts of lines that carried a registered serial."""
        seen = {
            (e.serial_number, e.device_name, e.sender) for _, e, _ in accepted if e.serial_number in units
        }
        new: dict[str, str] = {}
        for serial, devname, sender in seen:
            for alias in _aliases_of(devname, sender):
                if self._aliases.get(alias) != serial:
                    new[alias] = serial
        if new:
            await self._store.learn_aliases(new)
            self._aliases.update(new)
            for alias in new:
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


def exceeds_json_depth(raw: bytes, limit: int) -> bool:
    """True when brackets outside JSON strings nest deeper than ``limit`` (checked before decoding)."""
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return False
    depth = 0
    for match in _BRACKETS.finditer(raw):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"}", b"]"):
            depth -= 1
    return False


# A record that passed its checks: (record, event, how it names its unit).
_Accepted = tuple[RawRecord, ParsedEvent, str]


class IngestService:
    """Processes batches of raw records; safe to run again on the same batch (at-least-once input)."""

    def __init__(
        self,
        *,
        store: PipelineStore,
        classifier: Classifier,
        publish_alert: AlertPublisher,
        seen: SeenTracker | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        limits: Limits | None = None,
        decode: Callable[[bytes], ParsedEvent] | None = None,
    ) -> None:
        self.store = store
        self.classifier = classifier
        self.publish_alert = publish_alert
        self.units = UnitDirectory(store)
        self.seen = seen or SeenTracker()
        self.limits = limits or Limits()
        self._now = now
        # The same rules decide "threat or benign" at decoding and the alert's category afterwards.
        self._decode = decode or functools.partial(parse_record, classifier=classifier)

    # --- one record ---

    def check_and_decode(self, record: RawRecord, *, latest: datetime | None = None) -> ParsedEvent:
        """The decoded, type-checked event of one record, or ``RecordRejected``.

        ``latest`` is the latest device time believed (default: a day from now).
        """
        raw = record.value
        if type(raw) is not bytes:
            if not isinstance(raw, bytes | bytearray):
                raise RecordRejected("empty", "no record body")
            raw = bytes(raw)
        if not raw:
            raise RecordRejected("empty", "empty record")
        limits = self.limits
        if len(raw) > limits.max_record_bytes:
            raise RecordRejected("too-large", f"record of {len(raw)} bytes exceeds {limits.max_record_bytes}")
        depth = limits.max_json_depth
        if raw.count(b"{") + raw.count(b"[") > depth and exceeds_json_depth(raw, depth):
            raise RecordRejected("too-deep", f"nesting deeper than {limits.max_json_depth}")
        if not raw.isascii():
            try:
                raw.decode()
            except UnicodeDecodeError:
                # Bytes that are not UTF-8 are replaced, not a reason to drop the event.
                raw = raw.decode(errors="replace").encode()
        try:
            event = self._decode(raw)
        except ParseError as exc:
            raise RecordRejected("unparseable", str(exc)) from exc
        except RecursionError as exc:
            raise RecordRejected("too-deep", "nesting too deep to decode") from exc
        except Exception as exc:
            raise RecordRejected("decoder-error", f"{type(exc).__name__}: {exc}") from exc
        # Every field's type is checked: a decoder is code that reads what an attacker wrote.
        if not isinstance(event, ParsedEvent):
            raise RecordRejected("invalid-field", "the decoder returned no event")
        try:
            # One C-level pass: joining fails when any of these is not a string.
            "".join(_STRINGS_OF(event))
            "".join((event.device_name, event.sender))
        except TypeError:
            names = (*_STRING_FIELDS, "device_name", "sender")
            wrong = [n for n in names if not isinstance(getattr(event, n, ""), str)]
            raise RecordRejected("invalid-field", f"{', '.join(wrong)} not a string") from None
        serial = event.serial_number
        if serial:
            if not _SERIAL.fullmatch(serial):
                raise RecordRejected("invalid-field", "serial number is not 1-64 printable ASCII characters")
        elif not identity_of(event):
            raise RecordRejected("invalid-field", "no serial number, device name or sending host")
        if type(event.details) is not dict:
            raise RecordRejected("invalid-field", "details is not an object")
        moment = event.occurred_at
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise RecordRejected("invalid-field", "occurred_at is not an aware datetime")
        if not EARLIEST_PLAUSIBLE <= moment <= (latest or self._now() + CLOCK_AHEAD):
            # A unit whose clock was reset still reports real threats: keep the broker's time
            # (stable across redelivery, so the alert ID stays the same) and the device's own.
            event.details = {**event.details, "device_time": moment.isoformat()}
            event.occurred_at = _broker_time(record) or self._now()
        return event

    # --- a batch ---

    async def process_batch(self, records: Sequence[RawRecord]) -> BatchResult:
        """Check, decode, classify, store and publish one batch; raises only for infrastructure."""
        result = BatchResult(events=len(records))
        counts = CountBatch()
        reached = counts.reached
        accepted: list[_Accepted] = []
        latest = self._now() + CLOCK_AHEAD
        decode = self.check_and_decode
        for record in records:
            position = (record.topic, record.partition)
            if record.offset > reached.get(position, -1):
                reached[position] = record.offset
            try:
                event = decode(record, latest=latest)
            except RecordRejected as exc:
                result.rejected.append(Rejected(record, exc.code, exc.reason))
                continue
            accepted.append((record, event, event.serial_number or identity_of(event)))
        if not accepted:
            await self.store.apply_counts(counts)
            return result

        units = await self.units.resolve({identity for _, _, identity in accepted})
        await self.units.learn(accepted, units)
        received_at = self._now()
        alerts: dict[str, Alert] = {}
        alert_records: dict[str, list[RawRecord]] = {}
        quarantined: dict[str, dict[str, Any]] = {}
        quarantine_records: dict[str, list[RawRecord]] = {}
        note, add_benign, cells_of = self.seen.note, counts.add_benign, counts.benign
        benign = 0
        for item in accepted:
            record, event, identity = item
            unit = units.get(identity)
            serial = unit.serial_number if unit else identity
            if not event.is_threat:
                # The hot path: most records are benign traffic that is only counted.
                moment = event.occurred_at
                note(serial, moment)
                benign += 1
                position = (record.topic, record.partition)
                cells = cells_of.get(position)
                if cells is None:
                    cells = cells_of[position] = {}
                cell = (
                    (unit.company_id if unit else UNKNOWN_COMPANY, serial, hour_bucket(moment)),
                    _BENIGN_FIELDS.get(event.kind) or _benign_field(event.kind),
                )
                offsets = cells.get(cell)
                if offsets is None:
                    cells[cell] = [record.offset]
                else:
                    offsets.append(record.offset)
                continue
            try:
                outcome = self._threat(item, unit, received_at)
            except RecordRejected as exc:
                result.rejected.append(Rejected(record, exc.code, exc.reason))
                continue
            except Exception as exc:
                result.rejected.append(Rejected(record, "build-error", f"{type(exc).__name__}: {exc}"))
                continue
            note(serial, event.occurred_at)
            if isinstance(outcome, Alert):
                result.threats += 1
                alerts.setdefault(outcome.alert_id, outcome)
                alert_records.setdefault(outcome.alert_id, []).append(record)
            elif isinstance(outcome, tuple):
                result.threats += 1
                quarantined.setdefault(outcome[0], outcome[1])
                quarantine_records.setdefault(outcome[0], []).append(record)
            else:
                benign += 1
                company = unit.company_id if unit else UNKNOWN_COMPANY
                add_benign(
                    (record.topic, record.partition),
                    record.offset,
                    (company, serial, hour_bucket(event.occurred_at)),
                    _benign_field(outcome),
                )
        result.benign = benign

        written, kept = await asyncio.gather(
            self.store.insert_alerts(list(alerts.values())), self.store.quarantine(quarantined)
        )
        self._refuse(result, written, alert_records)
        self._refuse(result, kept, quarantine_records)
        result.quarantined = len(kept.new) + len(kept.existing)
        result.new_alerts = len(written.new)
        result.duplicates = len(written.existing)
        stored = [a for i, a in alerts.items() if i in written.new or i in written.existing]
        counts.threats = stored
        await self.store.apply_counts(counts)
        result.published = await self._notify(stored, written.new)
        return result

    def _threat(
        self, item: _Accepted, unit: Unit | None, received_at: datetime
    ) -> Alert | tuple[str, dict[str, Any]] | str:
        """A threat's product: an alert, a quarantined threat (id, document) or a benign counter word."""
        _, event, identity = item
        if unit is None:
            doc = normalise(_quarantine_doc(event, identity, received_at))
            check_storable(doc)
            return f"{identity}|{event.event_key or event.occurred_at.isoformat()}", doc
        outcome = self.classifier.classify(event)
        if outcome.severity < 1:
            # An allowed informational event: counted, never an alert.
            return outcome.category.key
        alert = threat_alert(event, unit, outcome, received_at=received_at)
        alert = _with_details(alert, normalise(alert.details))
        check_storable(alert.document())
        return alert

    @staticmethod
    def _refuse(result: BatchResult, outcome: WriteOutcome, records: dict[str, list[RawRecord]]) -> None:
        for key, reason in outcome.refused.items():
            result.threats -= len(records[key])
            result.rejected.extend(Rejected(r, "unstorable", reason) for r in records[key])

    async def _notify(self, alerts: list[Alert], new_ids: set[str]) -> int:
        important = [a for a in alerts if a.important]
        if not important:
            return 0
        due = [a for a in important if a.alert_id in new_ids]
        # A redelivered batch may hold alerts stored before a crash but never announced.
        redelivered = [a.alert_id for a in important if a.alert_id not in new_ids]
        if redelivered:
            due.extend(await self.store.unnotified(redelivered))
        await asyncio.gather(*(self.publish_alert(a.detected_event()) for a in due))
        await self.store.mark_notified(a.alert_id for a in due)
        return len(due)

    async def process_isolating(self, records: Sequence[RawRecord]) -> BatchResult:
        """``process_batch``, splitting the batch when something unforeseen fails, down to the one
        record that caused it (rejected as ``internal-error``); infrastructure failures still raise."""
        try:
            return await self.process_batch(records)
        except Exception as exc:
            if is_infrastructure_failure(exc):
                raise
            if len(records) == 1:
                log.exception("a record failed unexpectedly; sent to the dead-letter topic")
                reason = f"{type(exc).__name__}: {exc}"
                return BatchResult(events=1, rejected=[Rejected(records[0], "internal-error", reason)])
            half = len(records) // 2
            first = await self.process_isolating(records[:half])
            second = await self.process_isolating(records[half:])
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
    )


def _with_details(alert: Alert, details: dict[str, Any]) -> Alert:
    return replace(alert, details=details)


_BENIGN_FIELDS: dict[str, str] = {}


def _benign_field(word: str) -> str:
    """``benign.<word>`` for a counter; a word that is no plain name is counted as ``other``."""
    name = _BENIGN_FIELDS.get(word)
    if name is None:
        name = f"benign.{word}" if _COUNTER_WORD.fullmatch(word) else "benign.other"
        if len(_BENIGN_FIELDS) < 1000:
            _BENIGN_FIELDS[word] = name
    return name


def _broker_time(record: RawRecord) -> datetime | None:
    stamp = getattr(record, "timestamp", None)
    if isinstance(stamp, int) and stamp > 0:
        return datetime.fromtimestamp(stamp / 1000, UTC)
    return None


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
