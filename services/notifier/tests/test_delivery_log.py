"""Sent/failed outcomes are written together, and none is lost at shutdown."""

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from notifier.deliveries import BufferedDeliveryLog, DeliveryRepository

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


class FakeRepository:
    def __init__(self) -> None:
        self.writes: list[list[dict[str, Any]]] = []

    async def record_outcomes(self, outcomes: list[dict[str, Any]]) -> None:
        if outcomes:
            self.writes.append(outcomes)


async def test_outcomes_are_written_in_one_bulk_write_per_interval_and_flushed_at_stop() -> None:
    repository = FakeRepository()
    log = BufferedDeliveryLog(cast(DeliveryRepository, repository), interval=0.05)
    log.start()
    await log.mark_sent("d1", attempts=1, now=NOW, message_id="<d1@x>")
    await log.mark_failed("d2", attempts=5, now=NOW, error="550")
    await asyncio.sleep(0.2)
    assert [[o["_id"] for o in write] for write in repository.writes] == [["d1", "d2"]]
    assert repository.writes[0][1]["status"] == "failed"

    await log.mark_sent("d3", attempts=1, now=NOW, message_id="<d3@x>")
    await log.stop()
    assert repository.writes[-1] == [
        {"_id": "d3", "status": "sent", "sent_at": NOW, "attempts": 1, "message_id": "<d3@x>"}
    ]
