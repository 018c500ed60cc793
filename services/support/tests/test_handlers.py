"""The support desk's Kafka subscriber through FastStream's TestKafkaBroker: only ★★★ alerts are kept."""

from datetime import UTC, datetime
from typing import Any, cast

from faststream.kafka import TestKafkaBroker

from shared.app import create_runtime
from shared.events import AlertDetected
from support.handlers import UseCases
from support_desk import handlers
from support_desk.settings import Settings


def _alert(alert_id: str, severity: int) -> AlertDetected:
    return AlertDetected(
        alert_id=alert_id, company_id="C-1", unit_id="U-1", unit_name="本社 UTM-1",
        mac_address="00:09:0F:AA:BB:CC", category="C&C/ボット通信", severity=severity,
        signature="Mirai.Botnet", source="192.168.1.10", destination="c2.mirai.example", action="blocked",
        summary="UTMがボット通信をブロックしました。", explanation="説明", remedy="対処",
        detected_at=datetime(2026, 11, 25, 3, 4, 5, tzinfo=UTC),
    )  # fmt: skip


async def test_a_batch_of_alerts_keeps_only_the_serious_ones() -> None:
    runtime, desk = create_runtime("support", Settings()), UseCases()
    handlers.register(runtime, cast(Any, desk), group="support")
    serious, minor, medium = _alert("ALT-1", 3), _alert("ALT-2", 1), _alert("ALT-3", 2)
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish_batch(
            *(a.model_dump(mode="json") for a in (minor, serious, medium)), topic="alert-detected"
        )

    assert desk.calls == [("record_serious_alerts", [serious])]
