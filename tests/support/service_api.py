"""A service's HTTP API tested in process over a real MongoDB: a database of its own, a settable clock,
a stand-in for the Kafka publisher and access tokens."""

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import CommandListener

from shared.auth import Principal, issue_token
from shared.events import Event
from shared.settings import DEV_TOKEN_PRIVATE_KEY


class Clock:
    """The service's ``now``, set by the test; ``broker_down`` makes the ``Published`` publisher fail."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.broker_down = False

    def __call__(self) -> datetime:
        return self.now


class Published(list[Event]):
    """The service's publisher: the events it published, in order; a ConnectionError (Kafka
    unreachable) while ``clock.broker_down``."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    async def __call__(self, event: Event, key: str) -> None:
        if self.clock.broker_down:
            raise ConnectionError("Kafka unreachable")
        self.append(event)


def bearer(principal: Principal) -> dict[str, str]:
    """The Authorization header of an access token for ``principal``."""
    return {"Authorization": f"Bearer {issue_token(principal, private_key=DEV_TOKEN_PRIVATE_KEY)}"}


@asynccontextmanager
async def scratch_database(
    mongodb_uri: str, prefix: str, *, listeners: Sequence[CommandListener] = ()
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A database of its own (``<prefix>-<random>``), dropped afterwards; ``listeners`` see its commands."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongodb_uri, tz_aware=True, event_listeners=list(listeners)
    )
    db = client[f"{prefix}-{uuid.uuid4().hex[:8]}"]
    try:
        yield db
    finally:
        await client.drop_database(db.name)
        await client.close()
