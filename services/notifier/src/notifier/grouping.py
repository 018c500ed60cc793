"""Grouping repeats of one alert, so a burst makes one mail and one follow-up, not a mail each.

Two alerts are "the same" when they share company, unit, category, signature and source. The first
occurrence opens a group and is mailed at once; occurrences within the window (from that first mail)
are counted in the group; when the window closes, one follow-up reports the count if there was any.
Groups live in MongoDB, so a restart neither loses a count nor mails twice.

Several notifier processes share the groups. Every one of them closes windows, so a group whose window
has ended is first *claimed* (status ``closing``, in one atomic update): only the process holding the
claim reports it, and the follow-up or digest carries what the group held at the claim. A repeat counted
only in a group that is still ``open``; one that comes after the claim (its process read the group as
open a moment before) is placed again, as the first of a new group, and so mailed, never dropped. A
claim whose process died is taken over once older than the claim timeout; should that process have sent
a digest already, the new digest may hold some of the same groups (the at-least-once window).
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.events import AlertDetected
from shared.indexes import drop_indexes
from shared.queries import find_in, update_in


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


@dataclass(frozen=True, slots=True)
class OpenGroup:
    """What placing an alert needs to know of a group whose window is still open."""

    group_id: str
    first_event_id: str


@dataclass(slots=True)
class Repeats:
    """Alerts of one batch counted in an existing or newly opened group."""

    event_ids: list[str]
    latest: AlertDetected


class AlertGroupStore(Protocol):
    async def open_groups(self, keys: list[str], *, now: datetime) -> dict[str, OpenGroup]:
        """The group of each key whose window has not ended (keys without one are absent)."""

    async def apply(self, opened: list[AlertGroup], repeats: dict[str, Repeats]) -> set[str]:
        """Store the new groups (one that exists already is kept) and count the repeats in their groups;
        returns the groups that were no longer open, whose repeats were not counted."""

    async def due(self, *, now: datetime) -> list[AlertGroup]:
        """Open groups whose window has ended."""

    async def claim_due(self, *, now: datetime, owner: str, stale_before: datetime) -> list[AlertGroup]:
        """Claim for ``owner`` the open groups whose window has ended and the claims older than
        ``stale_before`` (their process died); each group is claimed by one caller only."""

    async def release(self, group_ids: list[str], *, owner: str) -> None:
        """Hand claimed groups back (open again): they are reported later."""

    async def open_firsts(self, company_id: str, *, now: datetime) -> list[AlertDetected]:
        """The first alert of each group of ``company_id`` whose window is still open."""

    async def close(self, group_ids: list[str]) -> None: ...

    async def closing_before(self, company_ids: list[str], *, until: datetime) -> set[str]:
        """The companies among ``company_ids`` with an open group whose window ends by ``until``: one
        closing soon, or already closed but not claimed yet (it closed after the last claim)."""


class AlertGrouper:
    """The grouping rules over a store, with the clock injected.

    A batch of alerts costs two store operations: one read of the open groups of all its keys and one
    write of the new groups and counted repeats. Alerts of one key within the batch are placed in order.
    """

    def __init__(
        self,
        store: AlertGroupStore,
        *,
        window: timedelta,
        clock: Any,
        claim_timeout: timedelta = timedelta(minutes=2),
    ) -> None:
        self._store = store
        self._window = window
        self._clock = clock
        self._claim_timeout = claim_timeout

    async def observe(self, alert: AlertDetected) -> Observation:
        """Place ``alert``: the first of its kind in the window, or a repeat that is only counted."""
        [observation] = await self.observe_many([alert])
        return observation

    async def observe_many(self, alerts: list[AlertDetected]) -> list[Observation]:
        """Place a batch of alerts in order; one observation per alert."""
        observations, refused = await self._place(alerts)
        # Repeats whose group another process claimed meanwhile (its window had ended): placed again.
        for _ in range(3):
            late = [i for i, seen in enumerate(observations) if seen.group_id in refused]
            if not late:
                break
            again, refused = await self._place([alerts[i] for i in late])
            for i, seen in zip(late, again, strict=True):
                observations[i] = seen
        return observations

    async def _place(self, alerts: list[AlertDetected]) -> tuple[list[Observation], set[str]]:
        """Place in order; the observations and the groups that refused their repeats."""
        if not alerts:
            return [], set()
        now = self._clock()
        keys = [group_key(alert) for alert in alerts]
        current = await self._store.open_groups(sorted(set(keys)), now=now)
        opened: dict[str, AlertGroup] = {}
        repeats: dict[str, Repeats] = {}
        observations: list[Observation] = []
        for key, alert in zip(keys, alerts, strict=True):
            event_id = str(alert.event_id)
            group = current.get(key)
            # The alert that opened the group, delivered again, is still "first": the deliveries
            # (idempotent per event and recipient) make sure it is mailed only once.
            if group is None or group.first_event_id == event_id:
                if group is None:
                    new = AlertGroup(
                        group_id=f"{key}:{event_id}",
                        key=key,
                        first=alert,
                        opened_at=now,
                        window_ends_at=now + self._window,
                        repeat_count=0,
                        latest=None,
                    )
                    opened[new.group_id] = new
                    group = current[key] = OpenGroup(group_id=new.group_id, first_event_id=event_id)
                observations.append(Observation(first=True, group_id=group.group_id))
                continue
            counted = repeats.get(group.group_id)
            if counted is None:
                repeats[group.group_id] = Repeats(event_ids=[event_id], latest=alert)
            else:
                counted.event_ids.append(event_id)
                counted.latest = alert
            observations.append(Observation(first=False, group_id=group.group_id))
        refused = await self._store.apply(list(opened.values()), repeats)
        return observations, refused

    async def due(self) -> list[AlertGroup]:
        return await self._store.due(now=self._clock())

    async def claim_due(self, owner: str) -> list[AlertGroup]:
        """The groups whose window has ended, claimed for ``owner``: no other process reports them."""
        now = self._clock()
        return await self._store.claim_due(now=now, owner=owner, stale_before=now - self._claim_timeout)

    async def release(self, group_ids: list[str], *, owner: str) -> None:
        if group_ids:
            await self._store.release(group_ids, owner=owner)

    async def open_firsts(self, company_id: str) -> list[AlertDetected]:
        """The alerts of ``company_id`` still in their window: what a user who joins now has missed."""
        return await self._store.open_firsts(company_id, now=self._clock())

    async def close_many(self, group_ids: list[str]) -> None:
        await self._store.close(group_ids)

    async def closing_soon(self, company_ids: list[str], *, within: timedelta) -> set[str]:
        """Companies with another group whose window ends within ``within``, or has ended since the
        last claim (a claim's instant precedes this check): a burst still closing."""
        if not company_ids:
            return set()
        return await self._store.closing_before(company_ids, until=self._clock() + within)


class InMemoryAlertGroupStore:
    """A store for unit tests, with the same rules as the MongoDB one."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {}
        self.operations = 0

    async def open_groups(self, keys: list[str], *, now: datetime) -> dict[str, OpenGroup]:
        self.operations += 1
        found: dict[str, OpenGroup] = {}
        for group_id, doc in self.groups.items():
            if doc["key"] in keys and doc["status"] == "open" and doc["window_ends_at"] > now:
                found[doc["key"]] = OpenGroup(group_id=group_id, first_event_id=str(doc["first"].event_id))
        return found

    async def apply(self, opened: list[AlertGroup], repeats: dict[str, Repeats]) -> set[str]:
        if not opened and not repeats:
            return set()
        self.operations += 1
        for group in opened:
            self.groups.setdefault(
                group.group_id,
                {
                    "key": group.key,
                    "status": "open",
                    "first": group.first,
                    "opened_at": group.opened_at,
                    "window_ends_at": group.window_ends_at,
                    "repeats": set(),
                    "latest": None,
                },
            )
        refused: set[str] = set()
        for group_id, counted in repeats.items():
            doc = self.groups[group_id]
            if doc["status"] != "open":
                refused.add(group_id)
                continue
            doc["repeats"].update(counted.event_ids)
            doc["latest"] = counted.latest
        return refused

    async def due(self, *, now: datetime) -> list[AlertGroup]:
        return [
            self._group(group_id)
            for group_id, doc in self.groups.items()
            if doc["status"] == "open" and doc["window_ends_at"] <= now
        ]

    async def claim_due(self, *, now: datetime, owner: str, stale_before: datetime) -> list[AlertGroup]:
        claimed = []
        for group_id, doc in self.groups.items():
            ended = doc["status"] == "open" and doc["window_ends_at"] <= now
            if ended or (doc["status"] == "closing" and doc["claimed_at"] < stale_before):
                doc.update(status="closing", claimed_by=owner, claimed_at=now)
                claimed.append(self._group(group_id))
        return claimed

    async def release(self, group_ids: list[str], *, owner: str) -> None:
        for group_id in group_ids:
            doc = self.groups[group_id]
            if doc["status"] == "closing" and doc.get("claimed_by") == owner:
                doc["status"] = "open"

    def _group(self, group_id: str) -> AlertGroup:
        doc = self.groups[group_id]
        return AlertGroup(
            group_id=group_id,
            key=doc["key"],
            first=doc["first"],
            opened_at=doc["opened_at"],
            window_ends_at=doc["window_ends_at"],
            repeat_count=len(doc["repeats"]),
            latest=doc["latest"],
        )

    async def open_firsts(self, company_id: str, *, now: datetime) -> list[AlertDetected]:
        return [
            doc["first"]
            for doc in self.groups.values()
            if doc["status"] == "open"
            and doc["first"].company_id == company_id
            and doc["window_ends_at"] > now
        ]

    async def close(self, group_ids: list[str]) -> None:
        for group_id in group_ids:
            self.groups[group_id]["status"] = "closed"

    async def closing_before(self, company_ids: list[str], *, until: datetime) -> set[str]:
        return {
            doc["first"].company_id
            for doc in self.groups.values()
            if doc["status"] == "open"
            and doc["first"].company_id in company_ids
            and doc["window_ends_at"] <= until
        }


# Indexes of an earlier version, dropped (see ``MongoAlertGroupStore.ensure_indexes``).
OLD_GROUP_INDEXES = {"company_id_1_status_1", "claim_1", "status_1_key_1"}


class MongoAlertGroupStore:
    """Groups in the ``alert_groups`` collection."""

    def __init__(self, database: AsyncDatabase) -> None:
        self._collection = database["alert_groups"]

    async def ensure_indexes(self) -> None:
        """(key, status) for a repeat's lookup of its open group, and (status, window_ends_at) for all
        else: the groups closing (claims, and a company's burst closing soon) and a company's open
        groups are few among those ever opened. Every index is rewritten by every repeat a group
        counts, so an earlier version's indexes on (company_id, status) and on the claim are dropped."""
        await self._collection.create_index([("key", ASCENDING), ("status", ASCENDING)])
        await self._collection.create_index([("status", ASCENDING), ("window_ends_at", ASCENDING)])
        await drop_indexes(self._collection, OLD_GROUP_INDEXES)

    async def open_groups(self, keys: list[str], *, now: datetime) -> dict[str, OpenGroup]:
        # ``key`` leads (``find_in``): SecantusDB plans by the first field an index starts with; by
        # ``status`` it would match every open group against every key of the batch.
        docs = await find_in(
            self._collection,
            "key",
            keys,
            {"status": "open", "window_ends_at": {"$gt": now}},
            {"key": 1, "first_event_id": 1, "opened_at": 1},
        )
        # Should two open groups of one key exist, the newest one counts the repeats.
        return {
            doc["key"]: OpenGroup(group_id=str(doc["_id"]), first_event_id=str(doc["first_event_id"]))
            for doc in sorted(docs, key=lambda d: d["opened_at"])
        }

    async def apply(self, opened: list[AlertGroup], repeats: dict[str, Repeats]) -> set[str]:
        operations: list[InsertOne[dict[str, Any]] | UpdateOne] = [
            InsertOne(
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
            for group in opened
        ]
        # $addToSet: a repeat delivered again is counted once. Only into a group still open: one that
        # another process has claimed is reported already.
        operations.extend(
            UpdateOne(
                {"_id": group_id, "status": "open"},
                {
                    "$addToSet": {"repeat_event_ids": {"$each": counted.event_ids}},
                    "$set": {"latest": counted.latest.model_dump(mode="json")},
                },
            )
            for group_id, counted in repeats.items()
        )
        if not operations:
            return set()
        try:
            matched = (await self._collection.bulk_write(operations, ordered=False)).matched_count
        except BulkWriteError as exc:
            # A group that exists already was opened by this very alert before a redelivery: kept.
            if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
                raise
            matched = int(exc.details.get("nMatched", 0))
        if matched >= len(repeats):
            return set()
        # Some repeats found their group closing or closed: which ones (the rare case costs one read).
        cursor = self._collection.find(
            {"_id": {"$in": list(repeats)}, "status": {"$ne": "open"}}, {"repeat_event_ids": 1}
        )
        return {
            str(doc["_id"])
            async for doc in cursor
            if not set(repeats[str(doc["_id"])].event_ids) <= set(doc.get("repeat_event_ids", []))
        }

    async def due(self, *, now: datetime) -> list[AlertGroup]:
        cursor = self._collection.find(
            {"status": "open", "window_ends_at": {"$lte": now}},
            sort=[("window_ends_at", ASCENDING)],
            limit=500,
        )
        return [_group(doc) async for doc in cursor]

    async def claim_due(self, *, now: datetime, owner: str, stale_before: datetime) -> list[AlertGroup]:
        # An update claims them: MongoDB applies it to each document atomically, so a group taken by
        # another process at the same moment no longer matches. The claim's token finds ours. Groups
        # due, and groups whose closing process died, are claimed by one update each: both filters
        # ride the (status, window_ends_at) index (a closing group's window ended before its claim),
        # where one ``$or`` of them would read every group ever opened on a server whose planner
        # does not split it (SecantusDB).
        token = uuid.uuid4().hex
        claim = {"$set": {"status": "closing", "claimed_by": owner, "claimed_at": now, "claim": token}}
        due = await self._collection.update_many({"status": "open", "window_ends_at": {"$lte": now}}, claim)
        abandoned = await self._collection.update_many(
            {"status": "closing", "window_ends_at": {"$lte": now}, "claimed_at": {"$lt": stale_before}}, claim
        )
        if not due.modified_count and not abandoned.modified_count:
            return []  # nothing carries the new token (the usual case, every few seconds)
        cursor = self._collection.find(
            {"status": "closing", "claim": token}, sort=[("window_ends_at", ASCENDING)]
        )
        return [_group(doc) async for doc in cursor]

    async def release(self, group_ids: list[str], *, owner: str) -> None:
        await update_in(
            self._collection,
            "_id",
            group_ids,
            {"status": "closing", "claimed_by": owner},
            {"$set": {"status": "open"}, "$unset": {"claim": "", "claimed_by": "", "claimed_at": ""}},
        )

    async def open_firsts(self, company_id: str, *, now: datetime) -> list[AlertDetected]:
        cursor = self._collection.find(
            {"status": "open", "window_ends_at": {"$gt": now}, "company_id": company_id},
            {"first": 1},
            sort=[("opened_at", ASCENDING)],
        )
        return [AlertDetected.model_validate(doc["first"]) async for doc in cursor]

    async def close(self, group_ids: list[str]) -> None:
        if group_ids:
            await update_in(self._collection, "_id", group_ids, {}, {"$set": {"status": "closed"}})

    async def closing_before(self, company_ids: list[str], *, until: datetime) -> set[str]:
        query = {"status": "open", "window_ends_at": {"$lte": until}}
        found = await find_in(self._collection, "company_id", company_ids, query, {"company_id": 1})
        return {str(doc["company_id"]) for doc in found}


def _group(doc: dict[str, Any]) -> AlertGroup:
    return AlertGroup(
        group_id=str(doc["_id"]),
        key=doc["key"],
        first=AlertDetected.model_validate(doc["first"]),
        opened_at=doc["opened_at"],
        window_ends_at=doc["window_ends_at"],
        repeat_count=len(doc.get("repeat_event_ids", [])),
        latest=AlertDetected.model_validate(doc["latest"]) if doc.get("latest") else None,
    )
