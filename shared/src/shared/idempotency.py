"""Remembering which events a consumer has already applied, so a redelivery changes nothing."""

import contextlib

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.events import utc_now


class ProcessedEvents:
    """The ids of events already handled by this service, in its own database."""

    def __init__(self, database: AsyncDatabase) -> None:
        self._collection = database["processed_events"]

    async def seen(self, event_id: object) -> bool:
        """Whether ``event_id`` was already applied."""
        return await self._collection.find_one({"_id": str(event_id)}, {"_id": 1}) is not None

    async def mark(self, event_id: object, *, kind: str = "") -> None:
        """Record that ``event_id`` has been applied (a second mark is harmless)."""
        with contextlib.suppress(DuplicateKeyError):
            await self._collection.insert_one({"_id": str(event_id), "kind": kind, "at": utc_now()})
