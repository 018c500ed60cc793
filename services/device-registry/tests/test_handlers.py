"""The device registry's Kafka subscribers through FastStream's TestKafkaBroker."""

from datetime import UTC, datetime
from typing import Any, cast

from faststream.kafka import TestKafkaBroker

from device_registry import handlers
from device_registry.settings import Settings
from shared.app import create_runtime
from shared.events import UtmSeen
from support.events import application_submitted
from support.handlers import UseCases, collect_dead_letters


async def test_a_utm_seen_summary_updates_the_last_seen_times() -> None:
    runtime, registry = create_runtime("device-registry", Settings()), UseCases()
    handlers.register(runtime, Settings(), cast(Any, registry))
    moment = datetime(2026, 11, 25, 3, 4, 5, tzinfo=UTC)
    seen = UtmSeen(last_seen={"FGT60FTK2109ABCD": moment})
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(seen.model_dump(mode="json"), topic="utm-seen", key=b"utm-seen")

    assert registry.calls == [("apply_seen", {"FGT60FTK2109ABCD": moment})]


async def test_an_invalid_application_is_a_dead_letter_and_creates_no_unit() -> None:
    runtime, registry = create_runtime("device-registry", Settings()), UseCases()
    handlers.register(runtime, Settings(), cast(Any, registry))
    letters = collect_dead_letters(runtime.broker)
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish({"event_type": "application-submitted"}, topic="application-submitted")

    assert registry.calls == []
    assert [(letter["reason_code"], letter["source_topic"]) for letter in letters] == [
        ("invalid-event", "application-submitted")
    ]


async def test_an_application_creates_the_expected_units_of_its_destinations() -> None:
    runtime, registry = create_runtime("device-registry", Settings()), UseCases(expect_units=2)
    handlers.register(runtime, Settings(), cast(Any, registry))
    submitted = application_submitted()
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(submitted.model_dump(mode="json"), topic="application-submitted", key=b"C-1")

    assert registry.calls == [("expect_units", submitted)]
