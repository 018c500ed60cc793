"""The record of every message: claimed before it is sent, so that an event never sends it twice.

A delivery's ``_id`` is derived from (source event, recipient). Its life: ``sending`` (claimed by one
process) → ``sent`` or ``failed``; ``pending`` when a process released it at shutdown. A ``sending``
record whose claim is older than the stale limit belongs to a process that died: it is claimed again.
The stored body never holds a secret (see :mod:`notifier.messages`).
"""

import asyncio
import contextlib
import enum
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from notifier.messages import Outgoing
from shared.indexes import drop_indexes
from shared.queries import find_in, newest_first, update_in

log = logging.getLogger(__name__)

ACTIVE = ("pending", "sending")
OLD_UNIQUE_INDEX = "one_per_event_recipient"
CLAIM_FIELDS = {"status": 1, "claimed_at": 1, "owner": 1}


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
        """The sweep's, the operator search's; no more. ``_id`` derives from (event, recipient), so it
        alone keeps a message to one delivery: a unique index on both, as an earlier version had,
        only cost every claim a second index entry and check, and is dropped."""
        await drop_indexes(self._collection, [OLD_UNIQUE_INDEX])
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
        if not duplicates:
            return result
        # Already claimed: one read tells which are done or busy; only abandoned ones are taken over.
        found = await find_in(self._collection, "_id", sorted(duplicates), projection=CLAIM_FIELDS)
        current = {doc["_id"]: doc for doc in found}
        stale_before = now - self._stale_after
        for delivery_id in duplicates:
            doc = current.get(delivery_id)
            if doc is None or doc["status"] not in ACTIVE:
                result[delivery_id] = Claim.DONE
            elif doc["status"] == "sending" and (
                doc.get("owner") == owner or _aware(doc["claimed_at"]) >= stale_before
            ):
                result[delivery_id] = Claim.BUSY
            else:
                result[delivery_id] = await self._reclaim(delivery_id, owner=owner, now=now)
        return result

    async def _reclaim(self, delivery_id: str, *, owner: str, now: datetime) -> Claim:
        for abandoned in self._abandoned(now, owner):
            taken = await self._collection.find_one_and_update(
                {"_id": delivery_id, **abandoned}, _claimed_by(owner, now), projection={"_id": 1}
            )
            if taken is not None:
                return Claim.CLAIMED
        current = await self._collection.find_one({"_id": delivery_id}, {"status": 1})
        return Claim.BUSY if current is not None and current["status"] in ACTIVE else Claim.DONE

    def _abandoned(self, now: datetime, owner: str) -> list[dict[str, Any]]:
        """The two ways a delivery is left to take over, each a filter an index on (status,
        claimed_at) serves: one filter with ``$or`` would be read through the whole collection by
        a server whose planner does not split it (SecantusDB), and this one grows with every mail.

        Our own claims are never abandoned: under load a mail can wait in this process's send queue
        for longer than the stale limit, and taking it over again would send it twice."""
        return [
            {"status": "pending"},
            {"status": "sending", "claimed_at": {"$lt": now - self._stale_after}, "owner": {"$ne": owner}},
        ]

    async def abandoned(self, *, owner: str, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Claim up to ``limit`` resendable deliveries left behind by a dead or stopped process."""
        found: list[dict[str, Any]] = []
        for abandoned in self._abandoned(now, owner):
            wanted = {**abandoned, "resendable": True}
            cursor = self._collection.find(wanted, {"_id": 1}, limit=limit - len(found))
            async for doc in cursor:
                taken = await self._collection.find_one_and_update(
                    {"_id": doc["_id"], **wanted}, _claimed_by(owner, now)
                )
                if taken is not None:
                    found.append(taken)
            if len(found) >= limit:
                break
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

    async def record_outcomes(self, outcomes: list[dict[str, Any]]) -> None:
        """Write many final statuses (``{"_id", "status", ...fields}``) in one bulk write."""
        if outcomes:
            await self._collection.bulk_write(
                [
                    UpdateOne({"_id": o["_id"]}, {"$set": {k: v for k, v in o.items() if k != "_id"}})
                    for o in outcomes
                ],
                ordered=False,
            )

    async def release(self, delivery_ids: list[str], *, owner: str) -> None:
        """Hand unsent claims back at shutdown, so the next process takes them at once."""
        if delivery_ids:
            query = {"status": "sending", "owner": owner}
            await update_in(self._collection, "_id", delivery_ids, query, {"$set": {"status": "pending"}})

    async def search(
        self, *, status: str | None = None, company_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Newest deliveries first, optionally by status and company."""
        query: dict[str, Any] = {}
        if status:
            query["status"] = status
        if company_id:
            query["company_id"] = company_id
        now = datetime.now(UTC)
        return await newest_first(
            self._collection, "created_at", query, now=now, limit=limit, lead=("company_id",)
        )


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


def _aware(value: datetime) -> datetime:
    # MongoDB gives naive UTC datetimes unless the client is tz-aware.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class BufferedDeliveryLog:
    """Records sent/failed outcomes in one bulk write every ``interval`` seconds instead of one each.

    At-least-once window: a process that dies after SMTP accepted a mail but before the next flush
    leaves its record ``sending``; once older than the stale limit the sweeper sends it again, so such
    a mail (accepted at most ``interval`` seconds before the crash) can arrive twice. Secret-bearing
    messages are never re-sent by the sweeper. Tries and releases are written at once.
    """

    def __init__(
        self, repository: DeliveryRepository, *, interval: float = 0.2, max_pending: int = 1000
    ) -> None:
        self._repository = repository
        self._interval = interval
        self._max_pending = max_pending
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier-delivery-log")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        outcomes, self._pending = self._pending, []
        try:
            await self._repository.record_outcomes(outcomes)
        except Exception:
            self._pending[:0] = outcomes  # kept for the next flush
            raise

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("delivery outcomes could not be recorded; retrying")
                await asyncio.sleep(self._interval)

    def _add(self, outcome: dict[str, Any]) -> None:
        self._pending.append(outcome)
        if len(self._pending) >= self._max_pending:
            self._wake.set()

    async def attempt(self, delivery_id: str, *, attempt: int, now: datetime, error: str = "") -> None:
        await self._repository.attempt(delivery_id, attempt=attempt, now=now, error=error)

    async def mark_sent(self, delivery_id: str, *, attempts: int, now: datetime, message_id: str) -> None:
        self._add(
            {
                "_id": delivery_id,
                "status": "sent",
                "sent_at": now,
                "attempts": attempts,
                "message_id": message_id,
            }
        )

    async def mark_failed(self, delivery_id: str, *, attempts: int, now: datetime, error: str) -> None:
        self._add(
            {
                "_id": delivery_id,
                "status": "failed",
                "failed_at": now,
                "attempts": attempts,
                "last_error": error,
            }
        )

    async def release(self, delivery_ids: list[str], *, owner: str) -> None:
        await self._repository.release(delivery_ids, owner=owner)


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


def _claimed_by(owner: str, now: datetime) -> dict[str, Any]:
    return {"$set": {"status": "sending", "owner": owner, "claimed_at": now}, "$inc": {"reclaims": 1}}
