"""Kafka subscribers of the support service: the ★★★ alerts of each company, for the operator console."""

from typing import Any

import shared.topics as topics
from shared.app import ServiceRuntime
from shared.events import AlertDetected
from shared.kafka import consumer_options
from support_desk.service import SupportDesk


def register(runtime: ServiceRuntime, desk: SupportDesk, *, group: str) -> None:
    """Keep the projection of serious alerts (severity 3) from the alert-detected topic."""
    options = consumer_options(group, runtime.settings.kafka)

    @runtime.broker.subscriber(topics.ALERT_DETECTED, batch=True, max_records=500, **options)
    async def on_alerts(payloads: list[dict[str, Any]]) -> None:
        serious = []
        for payload in payloads:
            if isinstance(payload, dict) and payload.get("severity") == 3:
                serious.append(AlertDetected.model_validate(payload))
        await desk.record_serious_alerts(serious)
