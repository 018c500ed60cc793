"""Grouping repeats of one alert, so a burst makes one mail and one follow-up, not a mail each.

Two alerts are "the same" when they share company, unit, category, signature and source. The first
occurrence opens a group and is mailed at once; occurrences within the window (from that first mail)
are counted in the group; when the window closes, one follow-up reports the count if there was any.
Groups live in MongoDB, so a restart neither loses a count nor mails twice.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.events import AlertDetected


def group_key(alert: AlertDetected) -> str:
    """What makes two alerts repeats of each other."""
    parts = (alert.company_id, alert.unit_id, alert.category, alert.signature.strip(), alert.source.strip())
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """One window of repeats of an alert."""

    group_id: str
    key: str
    first: AlertDetected
    opened_at: datetime
    window_ends_at: datetime
    repeat_count: int
    latest: AlertDetected | None

    @property
    def latest_or_first(self) -> AlertDetected:
        return self.latest or self.first


@dataclass(frozen=True, slots=True)
class Observation:
    """What to do with an alert: mail it now (``first``), or it was counted in ``group_id``."""

    first: bool
    group_id: str


class AlertGroupStore(Protocol):
    async def add_repeat(self, key: str, alert: AlertDetected, *, now: datetime) -> str | None:
        """Count ``alert`` in the open group of ``key`` (not the group it opened); its id, or None."""

    async def open(self, group: AlertGroup) -> bool:
        """Store a new group; False if that group exists already (the first alert came again)."""

    async def due(self, *, now: datetime) -> list[AlertGroup]:
        """Open groups whose window has ended."""

    async def close(self, group_id: str) -> None: ...


class AlertGrouper:
    """The grouping rules over a store, with the clock injected."""

    def __init__(self, store: AlertGroupStore, *, window: timedelta, clock: Any) -> None:
        self._store = store
        self._window = window
        self._clock = clock

    async def observe(self, alert: AlertDetected) -> Observation:
        """Place ``alert``: the first of its kind in the window, or a repeat that is only counted."""
        now = self._clock()
        key = group_key(alert)
        group_id = await self._store.add_repeat(key, alert, now=now)
        if group_id is not None:
            return Observation(first=False, group_id=group_id)
        group = AlertGroup(
            group_id=f"{key}:{alert.event_id}",
            key=key,
            first=alert,
            opened_at=now,
            window_ends_at=now + self._window,
            repeat_count=0,
            latest=None,
        )
        # A group that already exists means this very alert was delivered again: still "first", and
        # the deliveries (idempotent per event and recipient) make sure it is mailed only once.
        await self._store.open(group)
        return Observation(first=True, group_id=group.group_id)

    async def due(self) -> list[AlertGroup]:
        return await self._store.due(now=self._clock())

    async def close(self, group_id: str) -> None:
        await self._store.close(group_id)


class InMemoryAlertGroupStore:
    """A store for unit tests, with the same rules as the MongoDB one."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {}

    async def add_repeat(self, key: str, alert: AlertDetected, *, now: datetime) -> str | None:
        for group_id, doc in self.groups.items():
            if (
                doc["key"] == key
                and doc["status"] == "open"
                and doc["window_ends_at"] > now
                and doc["first"].event_id != alert.event_id
            ):
                doc["repeats"].add(alert.event_id)
                doc["latest"] = alert
                return group_id
        return None

    async def open(self, group: AlertGroup) -> bool:
        if group.group_id in self.groups:
            return False
        self.groups[group.group_id] = {
            "key": group.key,
            "status": "open",
            "first": group.first,
            "opened_at": group.opened_at,
            "window_ends_at": group.window_ends_at,
            "repeats": set(),
            "latest": None,
        }
        return True

    async def due(self, *, now: datetime) -> list[AlertGroup]:
        return [
            AlertGroup(
                group_id=group_id,
                key=doc["key"],
                first=doc["first"],
                opened_at=doc["opened_at"],
                window_ends_at=doc["window_ends_at"],
                repeat_count=len(doc["repeats"]),
                latest=doc["latest"],
            )
            for group_id, doc in self.groups.items()
            if doc["status"] == "open" and doc["window_ends_at"] <= now
        ]

    async def close(self, group_id: str) -> None:
        self.groups[group_id]["status"] = "closed"


class MongoAlertGroupStore:
    """Groups in the ``alert_groups`` collection."""

    def __init__(self, database: AsyncDatabase) -> None:
        self._collection = database["alert_groups"]

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("key", ASCENDING), ("status", ASCENDING)])
        await self._collection.create_index([("status", ASCENDING), ("window_ends_at", ASCENDING)])

    async def add_repeat(self, key: str, alert: AlertDetected, *, now: datetime) -> str | None:
        doc = await self._collection.find_one_and_update(
            {
                "key": key,
                "status": "open",
                "window_ends_at": {"$gt": now},
                "first_event_id": {"$ne": str(alert.event_id)},
            },
            {
                "$addToSet": {"repeat_event_ids": str(alert.event_id)},
                "$set": {"latest": alert.model_dump(mode="json")},
            },
            projection={"_id": 1},
        )
        return None if doc is None else str(doc["_id"])

    async def open(self, group: AlertGroup) -> bool:
        try:
            await self._collection.insert_one(
                {
                    "_id": group.group_id,
                    "key": group.key,
                    "status": "open",
                    "company_id": group.first.company_id,
                    "first_event_id": str(group.first.event_id),
                    "first": group.first.model_dump(mode="json"),
                    "opened_at": group.opened_at,
                    "window_ends_at": group.window_ends_at,
                    "repeat_event_ids": [],
                    "latest": None,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def due(self, *, now: datetime) -> list[AlertGroup]:
        cursor = self._collection.find(
            {"status": "open", "window_ends_at": {"$lte": now}},
            sort=[("window_ends_at", ASCENDING)],
            limit=500,
        )
        return [
            AlertGroup(
                group_id=str(doc["_id"]),
                key=doc["key"],
                first=AlertDetected.model_validate(doc["first"]),
                opened_at=doc["opened_at"],
                window_ends_at=doc["window_ends_at"],
                repeat_count=len(doc.get("repeat_event_ids", [])),
                latest=AlertDetected.model_validate(doc["latest"]) if doc.get("latest") else None,
            )
            async for doc in cursor
        ]

    async def close(self, group_id: str) -> None:
        await self._collection.update_one({"_id": group_id}, {"$set": {"status": "closed"}})
