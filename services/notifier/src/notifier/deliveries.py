"""The record of every message: claimed before it is sent, so that an event never sends it twice.

A delivery's ``_id`` is derived from (source event, recipient). Its life: ``sending`` (claimed by one
process) → ``sent`` or ``failed``; ``pending`` when a process released it at shutdown. A ``sending``
record whose claim is older than the stale limit belongs to a process that died: it is claimed again.
The stored body never holds a secret (see :mod:`notifier.messages`).
"""

import enum
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from notifier.messages import Outgoing

ACTIVE = ("pending", "sending")


class Claim(enum.Enum):
    """Outcome of claiming a delivery."""

    CLAIMED = "claimed"  # this process must send it now
    DONE = "done"  # already sent or failed: nothing to do
    BUSY = "busy"  # another live process is sending it


class DeliveryRepository:
    """Deliveries in MongoDB (collection ``deliveries``)."""

    def __init__(self, database: AsyncDatabase, *, stale_after: timedelta) -> None:
        self._collection = database["deliveries"]
        self._stale_after = stale_after

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(
            [("event_id", ASCENDING), ("recipient", ASCENDING)], unique=True, name="one_per_event_recipient"
        )
        await self._collection.create_index([("status", ASCENDING), ("claimed_at", ASCENDING)])
        await self._collection.create_index([("company_id", ASCENDING), ("created_at", DESCENDING)])
        await self._collection.create_index([("created_at", DESCENDING)])

    async def claim_many(self, messages: list[Outgoing], *, owner: str, now: datetime) -> dict[str, Claim]:
        """Claim each message for ``owner``; one batched insert for the usual case of new records."""
        if not messages:
            return {}
        docs = [_new_document(message, owner=owner, now=now) for message in messages]
        duplicates: set[str] = set()
        try:
            await self._collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != 11000:
                    raise
                duplicates.add(docs[error["index"]]["_id"])
        result = {doc["_id"]: Claim.CLAIMED for doc in docs if doc["_id"] not in duplicates}
        for delivery_id in duplicates:
            result[delivery_id] = await self._reclaim(delivery_id, owner=owner, now=now)
        return result

    async def claim(self, message: Outgoing, *, owner: str, now: datetime) -> Claim:
        """Claim one message for ``owner``."""
        try:
            await self._collection.insert_one(_new_document(message, owner=owner, now=now))
        except DuplicateKeyError:
            return await self._reclaim(message.delivery_id, owner=owner, now=now)
        return Claim.CLAIMED

    async def _reclaim(self, delivery_id: str, *, owner: str, now: datetime) -> Claim:
        taken = await self._collection.find_one_and_update(
            {"_id": delivery_id, "$or": self._abandoned(now)},
            {"$set": {"status": "sending", "owner": owner, "claimed_at": now}, "$inc": {"reclaims": 1}},
            projection={"_id": 1},
        )
        if taken is not None:
            return Claim.CLAIMED
        current = await self._collection.find_one({"_id": delivery_id}, {"status": 1})
        return Claim.BUSY if current is not None and current["status"] in ACTIVE else Claim.DONE

    def _abandoned(self, now: datetime) -> list[dict[str, Any]]:
        return [
            {"status": "pending"},
            {"status": "sending", "claimed_at": {"$lt": now - self._stale_after}},
        ]

    async def abandoned(self, *, owner: str, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Claim up to ``limit`` resendable deliveries left behind by a dead or stopped process."""
        found: list[dict[str, Any]] = []
        cursor = self._collection.find(
            {"resendable": True, "$or": self._abandoned(now)}, {"_id": 1}, limit=limit
        )
        async for doc in cursor:
            taken = await self._collection.find_one_and_update(
                {"_id": doc["_id"], "$or": self._abandoned(now)},
                {"$set": {"status": "sending", "owner": owner, "claimed_at": now}, "$inc": {"reclaims": 1}},
            )
            if taken is not None:
                found.append(taken)
        return found

    async def attempt(self, delivery_id: str, *, attempt: int, now: datetime, error: str = "") -> None:
        """Record a try (and the error of the previous one); it renews the claim."""
        fields: dict[str, Any] = {"attempts": attempt, "claimed_at": now}
        if error:
            fields["last_error"] = error
        await self._collection.update_one({"_id": delivery_id}, {"$set": fields})

    async def mark_sent(self, delivery_id: str, *, attempts: int, now: datetime, message_id: str) -> None:
        await self._collection.update_one(
            {"_id": delivery_id},
            {"$set": {"status": "sent", "sent_at": now, "attempts": attempts, "message_id": message_id}},
        )

    async def mark_failed(self, delivery_id: str, *, attempts: int, now: datetime, error: str) -> None:
        await self._collection.update_one(
            {"_id": delivery_id},
            {"$set": {"status": "failed", "failed_at": now, "attempts": attempts, "last_error": error}},
        )

    async def release(self, delivery_ids: list[str], *, owner: str) -> None:
        """Hand unsent claims back at shutdown, so the next process takes them at once."""
        if delivery_ids:
            await self._collection.update_many(
                {"_id": {"$in": delivery_ids}, "status": "sending", "owner": owner},
                {"$set": {"status": "pending"}},
            )

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        return await self._collection.find_one({"_id": delivery_id})

    async def search(
        self, *, status: str | None = None, company_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Newest deliveries first, optionally by status and company."""
        query: dict[str, Any] = {}
        if status:
            query["status"] = status
        if company_id:
            query["company_id"] = company_id
        cursor = self._collection.find(query, sort=[("created_at", DESCENDING)], limit=limit)
        return [doc async for doc in cursor]


def _new_document(message: Outgoing, *, owner: str, now: datetime) -> dict[str, Any]:
    return {
        "_id": message.delivery_id,
        "event_id": message.source_key,
        "recipient": message.recipient,
        "channel": message.channel,
        "template": message.template,
        "company_id": message.company_id,
        "subject": message.subject,
        "body": message.stored_body,
        "resendable": not message.has_secret,
        "event_time": message.event_time,
        "status": "sending",
        "owner": owner,
        "attempts": 0,
        "created_at": now,
        "claimed_at": now,
    }


def stored_message(doc: dict[str, Any]) -> Outgoing:
    """Rebuild a resendable message from its record."""
    return Outgoing(
        source_key=doc["event_id"],
        channel=doc["channel"],
        recipient=doc["recipient"],
        template=doc["template"],
        subject=doc.get("subject", ""),
        body=doc["body"],
        stored_body=doc["body"],
        company_id=doc.get("company_id", ""),
        event_time=doc.get("event_time"),
    )
