"""Kafka subscribers of the device registry and its offline sweep."""

import asyncio
import logging

from device_registry.service import DeviceRegistry
from device_registry.settings import Settings
from shared.app import ServiceRuntime
from shared.events import ApplicationSubmitted, UtmSeen
from shared.kafka import consumer_options
from shared.topics import APPLICATION_SUBMITTED, UTM_SEEN

log = logging.getLogger(__name__)


def register(runtime: ServiceRuntime, settings: Settings, registry: DeviceRegistry) -> None:
    """Attach the subscribers to the runtime's broker."""
    broker = runtime.broker

    @broker.subscriber(APPLICATION_SUBMITTED, **consumer_options(runtime.name, settings.kafka))
    async def on_application_submitted(event: ApplicationSubmitted) -> None:
        """Create the expected units of each delivery destination."""
        created = await registry.expect_units(event)
        log.info("expected units created", extra={"company_id": event.company_id, "units_created": created})

    @broker.subscriber(UTM_SEEN, **consumer_options(runtime.name, settings.kafka))
    async def on_utm_seen(event: UtmSeen) -> None:
        """Update last-seen times (one bulk write per summary)."""
        await registry.apply_seen(event.last_seen)


async def sweep_offline(registry: DeviceRegistry, every_seconds: float) -> None:
    """Periodically mark silent units offline, and publish the shipments and registrations whose event
    did not go out with them (the outbox)."""
    while True:
        try:
            changed = await registry.sweep()
            if changed:
                log.info("units went offline", extra={"count": changed})
            published = await registry.publish_unannounced()
            if published:
                log.info("outbox drained", extra={"published": published})
        except Exception:
            log.exception("offline sweep failed; trying again next round")
        await asyncio.sleep(every_seconds)
