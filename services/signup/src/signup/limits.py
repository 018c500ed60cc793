"""Limits that keep the application form from being used to mail strangers.

Each confirmation mail counts against the client that asked for it and against the address it goes
to (fixed windows, counted in MongoDB so every signup process shares them), and an address holds at
most one pending application at a time.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


@dataclass(frozen=True, slots=True)
class Quota:
    """At most ``limit`` mails per ``window`` for one key."""

    limit: int
    window: timedelta


class RateLimited(Exception):
    """Too many confirmation mails for this client or address; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class PendingApplicationExists(Exception):
    """The address already has an application waiting for its confirmation link."""

    def __init__(self, expires_at: datetime) -> None:
        super().__init__("pending application for this address")
        self.expires_at = expires_at


def email_key(email: str) -> str:
    """The key of an address in the limit collections (hashed: no addresses in the counters)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _window(now: datetime, quota: Quota) -> tuple[int, int]:
    """The window's number and the seconds left in it."""
    seconds = quota.window.total_seconds()
    index = math.floor(now.timestamp() / seconds)
    left = (index + 1) * seconds - now.timestamp()
    return index, max(1, math.ceil(left))


class SubmissionLimits(Protocol):
    """Counters and the pending-address claims."""

    async def hit(self, bucket: str, key: str, quota: Quota, now: datetime) -> None:
        """Count one mail; raises ``RateLimited`` once the window's quota is used up."""

    async def claim_email(self, email: str, number: str, expires_at: datetime, now: datetime) -> None:
        """Reserve the address for this application; raises ``PendingApplicationExists``."""

    async def release_email(self, email: str, number: str) -> None:
        """Free the address (application confirmed, or its mail never sent)."""


class MongoSubmissionLimits:
    """Counters in ``rate_limits`` and claims in ``pending_emails`` (both expire by TTL)."""

    def __init__(self, database: AsyncDatabase) -> None:
        self._counters = database["rate_limits"]
        self._pending = database["pending_emails"]

    async def create_indexes(self) -> None:
        await self._counters.create_index("expires_at", expireAfterSeconds=0, name="expires_at")
        await self._pending.create_index("expires_at", expireAfterSeconds=0, name="expires_at")

    async def hit(self, bucket: str, key: str, quota: Quota, now: datetime) -> None:
        index, left = _window(now, quota)
        doc = await self._counters.find_one_and_update(
            {"_id": f"{bucket}:{key}:{index}"},
            {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": now + timedelta(seconds=left)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None and int(doc["count"]) > quota.limit:
            raise RateLimited(left)

    async def claim_email(self, email: str, number: str, expires_at: datetime, now: datetime) -> None:
        claim: dict[str, Any] = {"application_number": number, "expires_at": expires_at}
        try:
            await self._pending.insert_one({"_id": email_key(email), **claim})
            return
        except DuplicateKeyError:
            pass
        taken = await self._pending.find_one_and_update(
            {"_id": email_key(email), "$or": [{"expires_at": {"$lte": now}}, {"application_number": number}]},
            {"$set": claim},
        )
        if taken is None:
            current = await self._pending.find_one({"_id": email_key(email)})
            raise PendingApplicationExists(current["expires_at"] if current else expires_at)

    async def release_email(self, email: str, number: str) -> None:
        await self._pending.delete_one({"_id": email_key(email), "application_number": number})


class InMemorySubmissionLimits:
    """Same rules in memory, for unit tests."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.pending: dict[str, tuple[str, datetime]] = {}

    async def hit(self, bucket: str, key: str, quota: Quota, now: datetime) -> None:
        index, left = _window(now, quota)
        name = f"{bucket}:{key}:{index}"
        self.counts[name] = self.counts.get(name, 0) + 1
        if self.counts[name] > quota.limit:
            raise RateLimited(left)

    async def claim_email(self, email: str, number: str, expires_at: datetime, now: datetime) -> None:
        current = self.pending.get(email_key(email))
        if current is not None and current[1] > now and current[0] != number:
            raise PendingApplicationExists(current[1])
        self.pending[email_key(email)] = (number, expires_at)

    async def release_email(self, email: str, number: str) -> None:
        if self.pending.get(email_key(email), ("", None))[0] == number:
            del self.pending[email_key(email)]
