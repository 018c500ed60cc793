"""The ingest use case against an in-memory store: dedup, quarantine, counters, notifications."""

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alert_pipeline.classifier import Classifier
from alert_pipeline.ingest import IngestService
from alert_pipeline.models import Unit
from alert_pipeline.repository import CounterKey
from shared.events import AlertDetected

UNIT = Unit("FGT60FTK2109ABCD", "U-1", "C-1", "本社 UTM-1", "00:09:0F:AA:BB:CC")


class MemoryStore:
    def __init__(self, units: Iterable[Unit]) -> None:
        self.unit_map = {u.serial_number: u for u in units}
        self.alerts: dict[str, dict[str, Any]] = {}
        self.counters: dict[CounterKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.quarantined: list[dict[str, Any]] = []
        self.announced: set[str] = set()

    async def find_units(self, serials: Iterable[str]) -> dict[str, Unit]:
        return {s: self.unit_map[s] for s in serials if s in self.unit_map}

    async def insert_alerts(self, docs: Sequence[dict[str, Any]]) -> set[str]:
        new = {d["_id"] for d in docs if d["_id"] not in self.alerts}
        for d in docs:
            self.alerts.setdefault(d["_id"], dict(d))
        return new

    async def unnotified(self, alert_ids: Iterable[str]) -> list[dict[str, Any]]:
        return [self.alerts[i] for i in alert_ids if i in self.alerts and i not in self.announced]

    async def mark_notified(self, alert_ids: Iterable[str]) -> None:
        self.announced.update(alert_ids)

    async def add_counts(self, counts: Mapping[CounterKey, Mapping[str, int]]) -> None:
        for key, fields in counts.items():
            for name, n in fields.items():
                self.counters[key][name] += n

    async def quarantine(self, docs: Sequence[dict[str, Any]]) -> None:
        self.quarantined.extend(docs)


@dataclass
class Record:
    value: bytes
    topic: str = "utm-events"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None


def _json(event_id: str, kind: str, serial: str = UNIT.serial_number, **extra: Any) -> Record:
    body = {
        "event_id": event_id,
        "serial_number": serial,
        "occurred_at": "2026-01-05T03:04:05Z",
        "kind": kind,
    }
    body.update(extra)
    return Record(json.dumps(body).encode())


def _service(store: MemoryStore, published: list[AlertDetected]) -> IngestService:
    async def publish(event: AlertDetected) -> None:
        published.append(event)

    return IngestService(store=store, classifier=Classifier.load(), publish_alert=publish)


BATCH = [
    _json("t1", "traffic"),
    _json("t2", "traffic"),
    _json("h1", "heartbeat"),
    _json("w1", "webfilter", action="blocked", level="warning", signature="Malicious Websites"),
    _json("a1", "app-ctrl", action="pass", signature="Dropbox"),
    _json("x1", "virus", serial="UNKNOWN-UNIT", action="blocked", signature="EICAR"),
    Record(b"this is not a log line"),
]


async def test_a_batch_counts_benign_traffic_stores_threats_and_rejects_garbage() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    result = await _service(store, published).process_batch(BATCH)

    assert (result.events, result.benign, result.threats) == (7, 3, 3)
    assert result.new_alerts == 2
    assert result.quarantined == 1
    assert store.quarantined[0]["serial_number"] == "UNKNOWN-UNIT"
    assert [r.reason for r in result.rejected] == [
        "no known format (neither JSON, CEF, PAN-OS CSV nor key=value)"
    ]
    categories = sorted(d["category"] for d in store.alerts.values())
    assert categories == ["Webガード", "アプリケーション制御"]
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert unit_hour["benign.traffic"] == 2
    assert unit_hour["benign.system"] == 1
    assert unit_hour["threats.webfilter.count"] == 1
    assert unit_hour["threats.webfilter.severity_2"] == 1
    assert sum(f.get("benign.virus", 0) for f in store.counters.values()) == 0
    assert [e.category for e in published] == ["Webガード"]
    assert published[0].company_id == "C-1"
    assert published[0].mac_address == UNIT.mac_address


async def test_a_redelivered_batch_makes_no_second_alert_nor_notification() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    service = _service(store, published)
    await service.process_batch(BATCH)
    again = await service.process_batch(BATCH)

    assert again.new_alerts == 0
    assert again.duplicates == 2
    assert len(store.alerts) == 2
    assert len(published) == 1
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert unit_hour["threats.webfilter.count"] == 1


async def test_an_alert_stored_but_not_announced_before_a_crash_is_announced_on_redelivery() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    service = _service(store, published)

    async def crash(event: AlertDetected) -> None:
        raise ConnectionError("broker gone")

    service.publish_alert = crash
    with contextlib.suppress(ConnectionError):
        await service.process_batch(BATCH)
    service.publish_alert = _service(store, published).publish_alert
    await service.process_batch(BATCH)
    assert [e.category for e in published] == ["Webガード"]
    assert published[0].event_id == next(iter(published)).event_id


async def test_alert_ids_are_stable_and_event_ids_follow_them() -> None:
    first, second = MemoryStore([UNIT]), MemoryStore([UNIT])
    p1: list[AlertDetected] = []
    p2: list[AlertDetected] = []
    await _service(first, p1).process_batch(BATCH)
    await _service(second, p2).process_batch(BATCH)
    assert set(first.alerts) == set(second.alerts)
    assert p1[0].alert_id.startswith("ALT-20260105-")
    assert p1[0].event_id == p2[0].event_id
