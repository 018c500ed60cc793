"""The alert pipeline's Kafka subscribers through FastStream's TestKafkaBroker: the raw stream reaches
the ingest as Kafka records, what it rejects goes to the dead-letter topic, registrations and status
changes reach the monitoring."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from faststream.kafka import TestKafkaBroker
from prometheus_client import generate_latest

from alert_pipeline import handlers
from alert_pipeline.consumer import RawStream
from alert_pipeline.ingest import BatchResult, RawRecord, Rejected, Turn
from alert_pipeline.settings import Settings
from shared.app import ServiceRuntime, create_runtime
from shared.events import UtmRegistered, UtmStatusChanged
from support.handlers import UseCases, collect_dead_letters


class Units:
    def __init__(self) -> None:
        self.remembered: list[Any] = []

    def remember(self, unit: Any) -> None:
        self.remembered.append(unit)


@dataclass
class Record:
    value: bytes
    topic: str = "utm-events"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    timestamp: int = 0


class Ingest:
    """Takes every batch and rejects the records whose value is ``b"garbage"``."""

    def __init__(self) -> None:
        self.batches: list[list[bytes | None]] = []
        self.prepared: list[object] = []
        self.units = Units()

    async def prepare(self, records: Sequence[RawRecord]) -> str:
        return f"prepared {len(records)}"

    async def process_isolating(
        self, records: Sequence[RawRecord], prepared: object = None, turn: object = None
    ) -> BatchResult:
        self.batches.append([r.value for r in records])
        self.prepared.append(prepared)
        rejected = [Rejected(r, "no-format", "not a log line") for r in records if r.value == b"garbage"]
        return BatchResult(events=len(records), rejected=rejected)


def _wired() -> tuple[ServiceRuntime, Ingest, UseCases, RawStream]:
    settings = Settings()
    runtime, ingest = create_runtime("alert-pipeline", settings), Ingest()
    monitoring = UseCases(
        unit_registered="the unit as the projection stores it", registration_seen="the unit seen by all"
    )
    raw = handlers.register(runtime, settings, cast(Any, ingest), cast(Any, monitoring))
    return runtime, ingest, monitoring, raw


async def test_a_raw_batch_reaches_the_ingest_and_a_rejected_record_becomes_a_dead_letter() -> None:
    runtime, ingest, _, raw = _wired()
    letters = collect_dead_letters(runtime.broker)
    async with TestKafkaBroker(runtime.broker):
        batch = [Record(b"date=2026-11-25 devid=FGT1"), Record(b"garbage", partition=2, offset=7)]
        await raw.handle(batch, await raw.prepare(batch), Turn())

    assert ingest.batches == [[b"date=2026-11-25 devid=FGT1", b"garbage"]]
    assert ingest.prepared == ["prepared 2"]
    assert [(letter["reason_code"], letter["source_topic"]) for letter in letters] == [
        ("no-format", "utm-events")
    ]
    assert (letters[0]["payload"], letters[0]["partition"], letters[0]["offset"]) == ("garbage", 2, 7)
    assert "alert_pipeline_rejected_total 1.0" in generate_latest(runtime.registry).decode()


async def test_a_registration_is_remembered_and_a_status_change_reaches_the_monitoring() -> None:
    runtime, ingest, monitoring, _ = _wired()
    unit = {
        "company_id": "C-1", "unit_id": "U-1", "serial_number": "FGT60FTK2109ABCD",
        "mac_address": "00:09:0F:AA:BB:CC", "name": "本社 UTM-1",
    }  # fmt: skip
    registered = UtmRegistered(**unit)
    offline = UtmStatusChanged(**unit, status="offline", last_seen_at=datetime(2026, 11, 25, tzinfo=UTC))
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(registered.model_dump(mode="json"), topic="utm-registered", key=b"FGT")
        await broker.publish(offline.model_dump(mode="json"), topic="utm-status-changed", key=b"FGT")

    # The group's subscriber applies it once for certain; every instance's own reader applies it too.
    assert sorted(monitoring.calls, key=lambda call: call[0]) == [
        ("registration_seen", registered), ("status_changed", offline), ("unit_registered", registered)
    ]  # fmt: skip
    assert sorted(ingest.units.remembered) == ["the unit as the projection stores it", "the unit seen by all"]


async def test_a_bad_registration_is_one_dead_letter_and_every_instance_s_reader_passes_over_it() -> None:
    runtime, _, monitoring, _ = _wired()
    letters = collect_dead_letters(runtime.broker)
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish({"company_id": "C-1"}, topic="utm-registered", key=b"FGT")
        await broker.publish(b"\xff not json", topic="utm-registered", key=b"FGT")

    assert monitoring.calls == []
    assert [(letter["reason_code"], letter["source_topic"]) for letter in letters] == [
        ("invalid-event", "utm-registered"), ("invalid-event", "utm-registered")
    ]  # fmt: skip
