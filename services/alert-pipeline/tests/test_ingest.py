"""The ingest use case against an in-memory store: dedup, quarantine, counters, notifications."""

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from alert_pipeline.classifier import Classifier
from alert_pipeline.hotpath import make_engine
from alert_pipeline.ingest import (
    ALIAS_SECONDS,
    BatchAbandoned,
    CountLane,
    IngestService,
    Turn,
    UnitDirectory,
    retry_infrastructure,
    rules_text,
)
from alert_pipeline.models import Alert, Unit, hour_bucket
from alert_pipeline.repository import CountBatch, CounterKey, WriteOutcome, threat_fields
from alert_pipeline.storable import normalise
from shared.events import AlertDetected

UNIT = Unit("FGT60FTK2109ABCD", "U-1", "C-1", "本社 UTM-1", "00:09:0F:AA:BB:CC")


class MemoryStore:
    """The store's contract in memory, with the same exactness rules as the MongoDB store."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self.unit_map = {u.serial_number: u for u in units}
        self.alias_map: dict[str, set[str]] = {}
        self.alerts: dict[str, Alert] = {}
        self.counted: set[str] = set()
        self.progress: dict[tuple[str, int], int] = {}
        self.counters: dict[CounterKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.quarantined: dict[str, dict[str, Any]] = {}
        self.announced: set[str] = set()
        self.refuse: set[str] = set()

    async def find_units(self, serials: Iterable[str]) -> dict[str, Unit]:
        return {s: self.unit_map[s] for s in serials if s in self.unit_map}

    async def find_aliases(self, aliases: Iterable[str]) -> dict[str, set[str]]:
        return {a: set(self.alias_map[a]) for a in aliases if a in self.alias_map}

    async def learn_aliases(self, aliases: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
        for alias, serials in aliases.items():
            self.alias_map.setdefault(alias, set()).update(serials)
        return await self.find_aliases(aliases)

    async def insert_alerts(
        self, alerts: Sequence[Alert], origins: Mapping[str, tuple[str, int, int]] | None = None
    ) -> WriteOutcome:
        outcome = WriteOutcome()
        for alert in alerts:
            if alert.signature in self.refuse:
                outcome.refused[alert.alert_id] = "refused by the test"
            elif alert.alert_id in self.alerts:
                outcome.existing.add(alert.alert_id)
            else:
                self.alerts[alert.alert_id] = alert
                outcome.new.add(alert.alert_id)
        return outcome

    async def unnotified(self, alert_ids: Iterable[str]) -> list[Alert]:
        return [self.alerts[i] for i in alert_ids if i in self.alerts and i not in self.announced]

    async def mark_notified(self, alert_ids: Iterable[str]) -> None:
        self.announced.update(alert_ids)

    async def apply_counts(self, batch: CountBatch) -> None:
        for key, fields in batch.benign_counts(self.progress).items():
            for name, n in fields.items():
                self.counters[key][name] += n
        for alert in {a.alert_id: a for a in batch.threats}.values():
            if alert.alert_id not in self.counted:
                self.counted.add(alert.alert_id)
                key = (alert.company_id, alert.serial_number, hour_bucket(alert.detected_at))
                for name, n in threat_fields(alert).items():
                    self.counters[key][name] += n
        for position, offset in batch.reached.items():
            self.progress[position] = max(offset, self.progress.get(position, -1))

    async def quarantine(self, docs: Mapping[str, dict[str, Any]]) -> WriteOutcome:
        outcome = WriteOutcome()
        for key, doc in docs.items():
            (outcome.existing if key in self.quarantined else outcome.new).add(key)
            self.quarantined.setdefault(key, doc)
        return outcome


@dataclass
class Record:
    value: bytes
    topic: str = "utm-events"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    timestamp: int = 0


def _json(event_id: str, kind: str, serial: str = UNIT.serial_number, **extra: Any) -> Record:
    body = {
        "event_id": event_id,
        "serial_number": serial,
        "occurred_at": "2026-01-05T03:04:05Z",
        "kind": kind,
    }
    body.update(extra)
    return Record(json.dumps(body).encode())


def _offsets(*records: Record, start: int = 0) -> list[Record]:
    return [replace(r, offset=start + i) for i, r in enumerate(records)]


def _service(store: MemoryStore, published: list[AlertDetected]) -> IngestService:
    async def publish(event: AlertDetected) -> None:
        published.append(event)

    return IngestService(store=store, classifier=Classifier.load(), publish_alert=publish)


BATCH = _offsets(
    _json("t1", "traffic"),
    _json("t2", "traffic"),
    _json("h1", "heartbeat"),
    _json("w1", "webfilter", action="blocked", level="warning", signature="Malicious Websites"),
    _json("a1", "app-ctrl", action="pass", signature="Dropbox"),
    _json("x1", "virus", serial="UNKNOWN-UNIT", action="blocked", signature="EICAR"),
    Record(b"this is not a log line"),
)


async def test_a_batch_counts_benign_traffic_stores_threats_and_rejects_garbage() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    result = await _service(store, published).process_batch(BATCH)

    assert (result.events, result.benign, result.threats) == (7, 3, 3)
    assert result.new_alerts == 2
    assert result.quarantined == 1
    assert [d["serial_number"] for d in store.quarantined.values()] == ["UNKNOWN-UNIT"]
    assert [r.reason for r in result.rejected] == [
        "no known format (neither JSON, CEF, PAN-OS CSV nor key=value)"
    ]
    categories = sorted(a.category for a in store.alerts.values())
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
    # The late announcement is the very event a run without a crash makes (same alert, same event id).
    clean: list[AlertDetected] = []
    await _service(MemoryStore([UNIT]), clean).process_batch(BATCH)
    assert (published[0].alert_id, published[0].event_id) == (clean[0].alert_id, clean[0].event_id)


async def test_alert_ids_are_stable_and_event_ids_follow_them() -> None:
    first, second = MemoryStore([UNIT]), MemoryStore([UNIT])
    p1: list[AlertDetected] = []
    p2: list[AlertDetected] = []
    await _service(first, p1).process_batch(BATCH)
    await _service(second, p2).process_batch(BATCH)
    assert set(first.alerts) == set(second.alerts)
    assert p1[0].alert_id.startswith("ALT-20260105-")
    assert p1[0].event_id == p2[0].event_id


# --- one record, one fate ---------------------------------------------------------------------


class Sabotaged:
    """The engine of the packaged rules, except that a threat signed ``BOOM`` comes back with a
    category the alert texts do not know, as a bug in a rule would make it."""

    def __init__(self) -> None:
        self.engine = make_engine(rules_text())

    def process(self, *args: Any) -> Any:
        batch = self.engine.process(*args)
        threats = [
            (index, event, ("no-such-category", *outcome[1:]) if event["signature"] == "BOOM" else outcome)
            for index, event, outcome in batch.threats
        ]
        return SimpleNamespace(
            events=batch.events, counts=batch.counts, threats=threats, rejects=batch.rejects,
            seen=batch.seen, aliases=batch.aliases,
        )  # fmt: skip


def _fortigate(serial: str, **fields: str) -> Record:
    base = {"date": "2026-01-05", "time": "12:04:05", "devid": serial, "type": "utm", "subtype": "ips"}
    base.update(fields)
    line = " ".join(f'{k}="{v}"' if " " in v else f"{k}={v}" for k, v in base.items())
    return Record(line.encode())


def _invalid_utf8(record: Record) -> Record:
    return replace(record, value=record.value.replace(b"MARK", b"\xff"))


HOSTILE = _offsets(
    _json("w1", "webfilter", action="blocked", level="warning", signature="Malicious Websites"),
    Record(b"CRASH: no log line at all"),
    _json("b1", "ips", action="dropped", level="critical", signature="BOOM"),
    Record(b'{"serial_number": "' + b"A" * 70_000 + b'"}'),
    Record(b"[" * 30_000 + b"]" * 30_000),
    _json("l1", "ips", action=["dropped"], signature="list where a string belongs"),
    _json("o1", "ips", occurred_at="0000-12-31T23:00:00Z", signature="before year 1"),
    _fortigate(UNIT.serial_number, eventtime="-99999999999999999999999", attack="negative epoch"),
    _json("v1", "virus", action="blocked", signature="EICAR", details={"big": 2**70, "k\u0000ey": 1}),
    _invalid_utf8(_json("i1", "ips", action="dropped", level="critical", signature="Valid MARK attack")),
    _json("t1", "traffic"),
)


async def test_each_hostile_record_is_rejected_alone_and_the_rest_is_processed() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    service = IngestService(
        store=store, classifier=Classifier.load(), publish_alert=_collect(published), engine=Sabotaged()
    )
    result = await service.process_batch(HOSTILE)

    fates = {r.record.offset: r.code for r in result.rejected}
    assert fates == {
        1: "unparseable",
        2: "build-error",
        3: "too-large",
        4: "too-deep",
        5: "unparseable",
        6: "unparseable",
        7: "unparseable",
    }
    signatures = sorted(a.signature for a in store.alerts.values())
    assert signatures == ["EICAR", "Malicious Websites", "Valid \ufffd attack"]
    eicar = next(a for a in store.alerts.values() if a.signature == "EICAR")
    assert eicar.details == {"big": str(2**70)}
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert unit_hour["benign.traffic"] == 1
    assert unit_hour["threats.webfilter.count"] == 1
    assert store.progress == {("utm-events", 0): 10}


async def test_a_document_the_store_refuses_rejects_only_its_record() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    store.refuse.add("Unstorable")
    batch = _offsets(
        _json("i1", "ips", action="dropped", level="critical", signature="Unstorable"),
        _json("i2", "ips", action="dropped", level="critical", signature="Storable"),
    )
    result = await _service(store, published).process_batch(batch)

    assert [(r.record.offset, r.code) for r in result.rejected] == [(0, "unstorable")]
    assert [a.signature for a in store.alerts.values()] == ["Storable"]
    assert [e.signature for e in published] == ["Storable"]
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert unit_hour["threats.ips.count"] == 1


def _fail_on_trigger(store: MemoryStore) -> None:
    """Make storing any alert signed "Trigger" fail as nothing foreseen would."""
    insert = store.insert_alerts

    async def insert_failing(alerts: Sequence[Alert], origins: Any = None) -> WriteOutcome:
        if any(a.signature == "Trigger" for a in alerts):
            raise RuntimeError("unexpected")
        return await insert(alerts, origins)

    store.insert_alerts = insert_failing  # type: ignore[method-assign]


async def test_an_unforeseen_failure_of_the_batch_is_narrowed_down_to_its_record() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    _fail_on_trigger(store)
    batch = _offsets(
        _json("i1", "ips", action="dropped", level="critical", signature="Before"),
        _json("t1", "traffic"),
        _json("i2", "ips", action="dropped", level="critical", signature="Trigger"),
        _json("t2", "traffic"),
        _json("i3", "ips", action="dropped", level="critical", signature="After"),
    )
    result = await _service(store, published).process_isolating(batch)

    assert [(r.record.offset, r.code) for r in result.rejected] == [(2, "internal-error")]
    assert sorted(a.signature for a in store.alerts.values()) == ["After", "Before"]
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert unit_hour["benign.traffic"] == 2
    assert unit_hour["threats.ips.count"] == 2


async def test_counters_stay_exact_when_overlapping_batches_are_redelivered() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    service = _service(store, published)
    stream = _offsets(*[_json(f"t{i}", "traffic") for i in range(8)], start=100)
    stream[3] = replace(_json("w1", "webfilter", action="blocked", level="warning"), offset=103)
    await service.process_batch(stream[:5])
    await service.process_batch(stream[2:])  # redelivered from offset 102 after a crash
    await service.process_batch(stream)  # and the whole stream once more

    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert dict(unit_hour) == {
        "benign.traffic": 7,
        "threats.webfilter.count": 1,
        "threats.webfilter.severity_2": 1,
    }


async def test_a_redelivered_batch_spanning_partitions_counts_only_what_each_had_not_applied() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    service = _service(store, published)
    first = [replace(_json(f"a{i}", "traffic"), partition=0, offset=i) for i in range(4)]
    await service.process_batch(first)
    # Partition 0 again from offset 0 (4 records applied, 2 new) together with 3 new of partition 1.
    again = [replace(_json(f"a{i}", "traffic"), partition=0, offset=i) for i in range(6)]
    again += [replace(_json(f"b{i}", "traffic"), partition=1, offset=10 + i) for i in range(3)]
    await service.process_batch(again)

    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert dict(unit_hour) == {"benign.traffic": 9}
    assert store.progress == {("utm-events", 0): 5, ("utm-events", 1): 12}


async def test_an_unreachable_database_is_retried_with_backoff_and_counts_once() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    service = _service(store, published)
    apply = store.apply_counts
    failures = [AutoReconnect("down"), ServerSelectionTimeoutError("still down")]

    async def flaky(batch: CountBatch) -> None:
        await apply(batch)  # written, then the connection drops before the reply
        if failures:
            raise failures.pop(0)

    store.apply_counts = flaky  # type: ignore[method-assign]
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    # The engine's outcome computed ahead, as the consumer does, serves every attempt.
    prepared = await service.prepare(BATCH)
    await retry_infrastructure(lambda: service.process_isolating(BATCH, prepared), what="test", sleep=sleep)

    assert pauses == [0.5, 1.0]
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert unit_hour["benign.traffic"] == 2
    assert unit_hour["threats.webfilter.count"] == 1
    assert [e.category for e in published] == ["Webガード"]


async def test_a_record_error_is_not_retried_as_infrastructure() -> None:
    async def broken() -> None:
        raise ValueError("a record's fault")

    with pytest.raises(ValueError, match="record"):
        await retry_infrastructure(broken, what="test")


async def test_a_line_without_serial_is_tied_to_its_unit_by_a_name_learnt_earlier() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    service = _service(store, published)
    nameless = (
        b"date=2026-01-05 time=12:04:05 devname=HQ-FW type=utm subtype=ips level=alert "
        b"severity=critical action=dropped attack=Attack"
    )
    named = f"date=2026-01-05 time=12:04:06 devname=HQ-FW devid={UNIT.serial_number} type=traffic"
    await service.process_batch(_offsets(Record(nameless)))
    assert not store.alerts  # nothing learnt yet: quarantined
    assert [d["serial_number"] for d in store.quarantined.values()] == ["devname:HQ-FW"]
    await service.process_batch(_offsets(Record(named.encode()), start=1))
    await service.process_batch(_offsets(Record(nameless), start=2))

    assert store.alias_map == {"devname:HQ-FW": {UNIT.serial_number}}
    assert [(a.unit_id, a.signature) for a in store.alerts.values()] == [("U-1", "Attack")]
    # 12:04 in Japan time (FortiGate's default zone) is 03:04 UTC.
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert dict(unit_hour) == {"benign.traffic": 1, "threats.ips.count": 1, "threats.ips.severity_3": 1}


async def test_a_name_shared_by_units_of_two_companies_names_neither() -> None:
    other = Unit("FGT60FTK2109WXYZ", "U-9", "C-2", "他社 UTM", "00:09:0F:11:22:33")
    store, published = MemoryStore([UNIT, other]), list[AlertDetected]()
    writes: list[Mapping[str, Iterable[str]]] = []
    learn = store.learn_aliases

    async def counted_learn(aliases: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
        writes.append(aliases)
        return await learn(aliases)

    store.learn_aliases = counted_learn  # type: ignore[method-assign]
    service = _service(store, published)

    def named(serial: str, second: int) -> bytes:
        line = f"date=2026-01-05 time=12:04:{second:02} devname=FortiGate-60F devid={serial} type=traffic"
        return line.encode()

    nameless = (
        b"date=2026-01-05 time=12:05:00 devname=FortiGate-60F type=utm subtype=ips level=alert "
        b"severity=critical action=dropped attack=Attack"
    )
    await service.process_batch(_offsets(Record(named(UNIT.serial_number, 1))))
    await service.process_batch(_offsets(Record(named(other.serial_number, 2)), start=1))
    # Both units go on sending their default name: nothing more is written.
    for n in range(3):
        await service.process_batch(
            _offsets(
                Record(named(UNIT.serial_number, 3)), Record(named(other.serial_number, 4)), start=2 + 2 * n
            )
        )
    await service.process_batch(_offsets(Record(nameless), start=8))

    assert store.alias_map == {"devname:FortiGate-60F": {UNIT.serial_number, other.serial_number}}
    assert len(writes) == 2
    assert not store.alerts
    assert not published
    assert [d["serial_number"] for d in store.quarantined.values()] == ["devname:FortiGate-60F"]


async def test_a_name_another_instance_saw_with_another_unit_stops_naming_its_unit_within_a_minute() -> None:
    other = Unit("FGT60FTK2109WXYZ", "U-9", "C-2", "他社 UTM", "00:09:0F:11:22:33")
    store = MemoryStore([UNIT, other])
    now = [0.0]
    here, there = UnitDirectory(store, clock=lambda: now[0]), UnitDirectory(store, clock=lambda: now[0])
    alias = "devname:FortiGate-60F"
    await here.learn([(UNIT.serial_number, "FortiGate-60F", "")], {UNIT.serial_number: UNIT})
    assert await here.resolve({alias}) == {alias: UNIT}

    await there.learn([(other.serial_number, "FortiGate-60F", "")], {other.serial_number: other})
    assert await there.resolve({alias}) == {}
    now[0] = ALIAS_SECONDS - 1
    assert await here.resolve({alias}) == {alias: UNIT}  # what it read is kept a while
    now[0] = ALIAS_SECONDS
    assert await here.resolve({alias}) == {}


def test_values_mongodb_cannot_store_are_normalised() -> None:
    assert normalise({"$where": 1, "a.b": -(2**64), "n\x00ul": "x\x00y", "deep": [[[[[[[[[[1]]]]]]]]]]}) == {
        "_where": 1,
        "a_b": str(-(2**64)),
        "nul": "xy",
        "deep": [[[[[[["…"]]]]]]],
    }


def _collect(published: list[AlertDetected]) -> Callable[[AlertDetected], Awaitable[None]]:
    async def publish(event: AlertDetected) -> None:
        published.append(event)

    return publish


# --- batches in flight ------------------------------------------------------------------------


def _watched() -> tuple[MemoryStore, list[AlertDetected], IngestService, list[str]]:
    """A service on a store of one unit; ``happened`` notes each announcement and each counts'
    transaction (with its offsets) in order."""
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    service = _service(store, published)
    happened: list[str] = []
    publish, apply_counts = service.publish_alert, store.apply_counts

    async def announce(event: AlertDetected) -> None:
        happened.append(f"announced {event.signature}")
        await publish(event)

    async def count(batch: CountBatch) -> None:
        happened.append(f"counted {sorted(batch.reached.values())}")
        await apply_counts(batch)

    service.publish_alert = announce
    store.apply_counts = count  # type: ignore[method-assign]
    return store, published, service, happened


def _warning(event_id: str, offset: int) -> Record:
    return replace(
        _json(event_id, "webfilter", action="blocked", level="warning", signature=event_id), offset=offset
    )


async def test_batches_announce_before_the_batch_ahead_is_counted_and_are_counted_after_it_together() -> None:
    store, _published, service, happened = _watched()
    first = Turn()
    second = first.following(None)
    third = second.following(None)

    later = [
        asyncio.create_task(
            service.process_batch([replace(_json("t2", "traffic"), offset=2), _warning("W3", 3)], turn=second)
        ),
        asyncio.create_task(service.process_batch([_warning("W4", 4), _warning("W5", 5)], turn=third)),
    ]
    await second.front.wait()
    await third.front.wait()
    await asyncio.sleep(0.01)
    assert happened == ["announced W3", "announced W4", "announced W5"]  # nothing counted yet

    await service.process_batch([replace(_json("t0", "traffic"), offset=0), _warning("W1", 1)], turn=first)
    await asyncio.gather(*later)

    # The three batches' counts in one transaction, once the first batch's came.
    assert happened[3:] == ["announced W1", "counted [5]"]
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert dict(unit_hour) == {
        "benign.traffic": 2,
        "threats.webfilter.count": 4,
        "threats.webfilter.severity_2": 4,
    }
    assert store.progress == {("utm-events", 0): 5}


async def test_counts_transactions_are_spaced_and_the_batches_meanwhile_go_in_the_next_one() -> None:
    store, _published, service, happened = _watched()
    apply_counts = store.apply_counts
    started: list[float] = []

    async def timed_count(batch: CountBatch) -> None:
        started.append(time.monotonic())
        await apply_counts(batch)

    store.apply_counts = timed_count  # type: ignore[method-assign]
    turn = Turn(lane=CountLane(interval=0.3))
    await service.process_batch([_warning("W0", 0)], turn=turn)
    turns = [turn.following(None)]
    turns.append(turns[0].following(None))
    await asyncio.gather(
        service.process_batch([_warning("W1", 1)], turn=turns[0]),
        service.process_batch([_warning("W2", 2)], turn=turns[1]),
    )

    assert [h for h in happened if h.startswith("counted")] == ["counted [0]", "counted [2]"]
    assert started[1] - started[0] >= 0.3
    assert store.progress == {("utm-events", 0): 2}


async def test_a_failed_transaction_fails_every_batch_in_it_and_each_tried_again_is_counted_once() -> None:
    store, published, service, _happened = _watched()
    apply_counts = store.apply_counts
    failures = iter([AutoReconnect("MongoDB went away")])

    async def failing_once(batch: CountBatch) -> None:
        if (failure := next(failures, None)) is not None:
            raise failure
        await apply_counts(batch)

    store.apply_counts = failing_once  # type: ignore[method-assign]

    async def no_pause(seconds: float) -> None:
        await asyncio.sleep(0)

    first = Turn()
    second = first.following(None)
    waiting = asyncio.create_task(
        retry_infrastructure(
            lambda: service.process_isolating([_warning("W2", 2), _warning("W3", 3)], turn=second),
            what="test",
            sleep=no_pause,
        )
    )
    await second.front.wait()
    await retry_infrastructure(
        lambda: service.process_isolating([_warning("W0", 0), _warning("W1", 1)], turn=first),
        what="test",
        sleep=no_pause,
    )
    await waiting

    assert sorted(e.signature for e in published) == ["W0", "W1", "W2", "W3"]  # once each
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert unit_hour["threats.webfilter.count"] == 4
    assert store.progress == {("utm-events", 0): 3}


async def test_a_batch_split_to_isolate_a_record_keeps_the_batch_after_it_waiting_until_its_last_part() -> (
    None
):
    store, _published, service, happened = _watched()
    _fail_on_trigger(store)
    first = Turn()
    second = first.following(None)
    after = asyncio.create_task(service.process_isolating([_warning("W9", 9)], turn=second))
    await second.front.wait()
    split = [
        _warning("W0", 0),
        _warning("Trigger", 1),
        replace(_json("t2", "traffic"), offset=2),
        _warning("W3", 3),
    ]
    result = await service.process_isolating(split, turn=first)
    await after

    assert [(r.record.offset, r.code) for r in result.rejected] == [(1, "internal-error")]
    # The parts of the split batch one by one; the batch after it only with (or after) its last part.
    assert [h for h in happened if h.startswith("counted")] == ["counted [0]", "counted [1]", "counted [9]"]
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert unit_hour["threats.webfilter.count"] == 3
    assert unit_hour["benign.traffic"] == 1
    assert store.progress == {("utm-events", 0): 9}


async def test_batches_waiting_behind_a_batch_that_failed_are_abandoned_before_their_counts() -> None:
    store, published = MemoryStore([UNIT]), list[AlertDetected]()
    service = _service(store, published)
    first = Turn()
    batch = _offsets(*BATCH, start=50)
    waiting = asyncio.create_task(service.process_isolating(batch, turn=first.following(None)))
    await asyncio.sleep(0.01)
    first.lane.abandon()  # the batch of ``first`` failed

    with pytest.raises(BatchAbandoned):
        await waiting
    assert store.counters == {}
    assert store.progress == {}
    with pytest.raises(BatchAbandoned):  # nor can one join the lane after
        await service.process_isolating(batch, turn=first.following(None).following(None))
    # Delivered again (with the batch ahead), it is counted once and announced once.
    await service.process_batch(batch)
    await service.process_batch(batch)
    assert len(published) == 1
    unit_hour = store.counters[("C-1", UNIT.serial_number, datetime(2026, 1, 5, 3, tzinfo=UTC))]
    assert unit_hour["threats.webfilter.count"] == 1
    assert unit_hour["benign.traffic"] == 2
