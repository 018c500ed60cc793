"""The ingest use case: one batch of raw UTM records in, alerts, counters and notifications out."""

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from alert_pipeline.classifier import Classifier
from alert_pipeline.models import (
    IMPORTANT_SEVERITY,
    Unit,
    alert_detected,
    alert_document,
    hour_bucket,
)
from alert_pipeline.parsing import ParsedEvent, ParseError, parse_record
from alert_pipeline.repository import CounterKey, PipelineStore
from alert_pipeline.topn import add_top_counts
from shared.events import AlertDetected

log = logging.getLogger(__name__)

UNKNOWN_COMPANY = ""
# A serial not found in the projection is looked up again after this long (it may just have registered).
NEGATIVE_CACHE_SECONDS = 5.0


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
    """A record that could not be parsed, for the dead-letter topic."""

    record: RawRecord
    reason: str


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


class UnitDirectory:
    """Serial number → registered unit, cached in memory in front of the store's projection."""

    def __init__(self, store: PipelineStore, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._known: dict[str, Unit] = {}
        self._missing: dict[str, float] = {}
        self._clock = clock

    def remember(self, unit: Unit) -> None:
        self._known[unit.serial_number] = unit
        self._missing.pop(unit.serial_number, None)

    async def resolve(self, serials: set[str]) -> dict[str, Unit]:
        """The registered units among ``serials``."""
        now = self._clock()
        wanted = [s for s in serials if s not in self._known and self._missing.get(s, 0.0) <= now]
        if wanted:
            found = await self._store.find_units(wanted)
            for serial in wanted:
                unit = found.get(serial)
                if unit is None:
                    self._missing[serial] = now + NEGATIVE_CACHE_SECONDS
                else:
                    self.remember(unit)
        return {s: self._known[s] for s in serials if s in self._known}


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
    ) -> None:
        self.store = store
        self.classifier = classifier
        self.publish_alert = publish_alert
        self.units = UnitDirectory(store)
        self.seen = seen or SeenTracker()
        self._now = now

    async def process_batch(self, records: Sequence[RawRecord]) -> BatchResult:
        """Parse, classify, store and publish one batch."""
        result = BatchResult(events=len(records))
        parsed: list[ParsedEvent] = []
        for record in records:
            try:
                parsed.append(parse_record(record.value or b""))
            except ParseError as exc:
                result.rejected.append(Rejected(record, str(exc)))
        if not parsed:
            return result

        units = await self.units.resolve({e.serial_number for e in parsed})
        received_at = self._now()
        counts: dict[CounterKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        alerts_by_id: dict[str, dict[str, Any]] = {}
        quarantined: list[dict[str, Any]] = []
        note = self.seen.note
        classify = self.classifier.classify
        for event in parsed:
            serial = event.serial_number
            unit = units.get(serial)
            note(serial, event.occurred_at)
            if not event.is_threat:
                result.benign += 1
                company = unit.company_id if unit else UNKNOWN_COMPANY
                counts[(company, serial, hour_bucket(event.occurred_at))][f"benign.{event.kind}"] += 1
                continue
            result.threats += 1
            if unit is None:
                quarantined.append(_quarantine_doc(event, received_at))
                continue
            doc = alert_document(event, unit, classify(event), received_at=received_at)
            alerts_by_id.setdefault(doc["_id"], doc)

        alerts = list(alerts_by_id.values())
        # New alerts and the quarantine are independent writes: send them together.
        new_ids, _ = await asyncio.gather(
            self.store.insert_alerts(alerts), self.store.quarantine(quarantined)
        )
        result.quarantined = len(quarantined)
        result.new_alerts = len(new_ids)
        result.duplicates = len(alerts) - len(new_ids)
        # Threat counters follow the alerts actually stored, so a redelivered batch never counts them
        # twice; they share each unit-hour's document (and its one upsert) with the benign counts.
        for doc in alerts:
            if doc["_id"] in new_ids:
                fields = counts[(doc["company_id"], doc["serial_number"], hour_bucket(doc["detected_at"]))]
                prefix = f"threats.{doc['category_key']}"
                fields[f"{prefix}.count"] += 1
                fields[f"{prefix}.severity_{doc['severity']}"] += 1
                add_top_counts(fields, doc)
        await asyncio.gather(self.store.add_counts(counts), self._notify_into(result, alerts, new_ids))
        return result

    async def _notify_into(
        self, result: BatchResult, alerts: list[dict[str, Any]], new_ids: set[str]
    ) -> None:
        result.published = await self._notify(alerts, new_ids)

    async def _notify(self, alerts: list[dict[str, Any]], new_ids: set[str]) -> int:
        important = [d for d in alerts if d["severity"] >= IMPORTANT_SEVERITY]
        if not important:
            return 0
        due = [d for d in important if d["_id"] in new_ids]
        # A redelivered batch may hold alerts stored before a crash but never announced.
        redelivered = [d["_id"] for d in important if d["_id"] not in new_ids]
        if redelivered:
            due.extend(await self.store.unnotified(redelivered))
        await asyncio.gather(*(self.publish_alert(alert_detected(doc)) for doc in due))
        await self.store.mark_notified(d["_id"] for d in due)
        return len(due)


def _quarantine_doc(event: ParsedEvent, received_at: datetime) -> dict[str, Any]:
    return {
        "serial_number": event.serial_number,
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
