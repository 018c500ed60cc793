"""Identity's Kafka subscriber through FastStream's TestKafkaBroker, on the real MongoDB: an application
delivered twice provisions its accounts once."""

import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from faststream.kafka import TestKafkaBroker

from identity import handlers
from identity.settings import Settings
from shared.app import ServiceRuntime, create_runtime
from shared.settings import MongoSettings
from support.events import application_submitted
from support.handlers import UseCases
from support.servers import Servers

pytestmark = pytest.mark.integration


@pytest.fixture
async def runtime(servers: Servers) -> AsyncIterator[ServiceRuntime]:
    settings = Settings(
        database=f"identity-handlers-{uuid.uuid4().hex[:8]}", mongo=MongoSettings(uri=servers.mongodb_uri)
    )
    runtime = create_runtime("identity", settings)
    try:
        yield runtime
    finally:
        await runtime.mongo.drop_database(settings.database)
        await runtime.mongo.close()


async def test_a_redelivered_application_provisions_its_accounts_once(runtime: ServiceRuntime) -> None:
    service = UseCases()
    handlers.register(runtime, cast(Any, service))
    submitted = application_submitted()
    other = application_submitted(number="AAP-TEST0002", company_id="C-TEST0002")
    async with TestKafkaBroker(runtime.broker) as broker:
        for event in (submitted, submitted, other):
            await broker.publish(event.model_dump(mode="json"), topic="application-submitted", key=b"C")

    assert service.calls == [("provision", submitted), ("provision", other)]
