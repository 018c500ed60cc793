"""Kafka subscribers of identity."""

from identity.service import IdentityService
from shared.app import ServiceRuntime
from shared.events import ApplicationSubmitted
from shared.idempotency import ProcessedEvents
from shared.kafka import consumer_options


def register(runtime: ServiceRuntime, service: IdentityService) -> None:
    """Subscribe to application-submitted: provision the login users' accounts."""

    @runtime.broker.subscriber(
        ApplicationSubmitted.TOPIC, **consumer_options(runtime.name, runtime.settings.kafka)
    )
    async def on_application_submitted(event: ApplicationSubmitted) -> None:
        processed = ProcessedEvents(runtime.db)
        if await processed.seen(event.event_id):
            return
        await service.provision(event)
        await processed.mark(event.event_id, kind=event.event_type)
