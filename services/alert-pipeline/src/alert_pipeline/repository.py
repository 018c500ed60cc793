"""Persistence of the alert pipeline: unit projection, alerts, counters and quarantine (MongoDB).

Writes of what records produce are isolated per document: a document MongoDB refuses for what it
holds is reported back (so that only its record is dead-lettered) while the rest is written. Only an
unreachable server raises (``pymongo.errors.ConnectionFailure``), for the caller to retry.

Counters are exact across redelivery: the benign counts of a batch and the position reached in each
topic-partition are written in one transaction, and records at or below that position are not
counted again. A threat is counted once per stored alert: an alert keeps the position of the record
that made it (``origin``), so once the watermark of that topic-partition has passed it, the alert
is in the counters (the batch that made it counted it in the transaction that moved the
watermark); an alert found already stored and counted by a later batch (the one that made it died
before its counts) has its id put in ``counted_alerts`` in that batch's transaction. Per batch the
number of round trips is constant, whatever its size: no query ever runs per record.
"""

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError

from alert_pipeline import tallies
from alert_pipeline.models import MONITORING_CATEGORY, Alert, Unit, hour_bucket
from alert_pipeline.tallies import AlertTallies
from alert_pipeline.topn import add_top_counts
from shared.expiring import ExpiringMap
from shared.labels import IMPORTANT_SEVERITY, TRIAGE_OPEN
from shared.queries import delete_in, find_in, update_in

T = TypeVar("T")
DUPLICATE_KEY = 11000
SERIOUS_SEVERITY = 3
# Not yet 対応済み: 未対応 (also an alert without a status) or 確認済み.
UNRESOLVED: list[str | None] = [TRIAGE_OPEN, None, "acknowledged"]
# Alerts a later event clears (a unit back online clears its UTM監視 alert).
CLEARABLE_CATEGORIES = frozenset({MONITORING_CATEGORY})
# Indexes on ``alerts`` of earlier versions, replaced by small collections (see ``create_indexes``).
OLD_UNIT_CATEGORY_INDEX = "unit_id_1_category_1"
OLD_SERIOUS_INDEX = "serious_by_status"
# One counter document per company, unit and hour: company_id, serial_number, hour.
CounterKey = tuple[str, str, datetime]
# Where a record came from: (topic, partition).
Position = tuple[str, int]
# A record: (topic, partition, offset).
Origin = tuple[str, int, int]


Counts = dict[CounterKey, dict[str, int]]
# The alert log's order: newest first, ties by id.
NEWEST_FIRST = [("detected_at", DESCENDING), ("_id", ASCENDING)]
# The first window a newest-first read looks at; the next ones double in length.
NEWEST_FIRST_WINDOW = timedelta(days=1)
# How long a company's unit ids are kept at most: a bound for a registration this process never
# received (its broadcast consumer down), as each one it receives drops them at once.
UNIT_IDS_SECONDS = 60.0
# What a recent window (``Recent``) is read with: enough to filter, count and order its alerts.
RECENT_FIELDS = {"unit_id": 1, "severity": 1, "category": 1, "status": 1, "detected_at": 1}


@dataclass(slots=True)
class CountBatch:
    """What one batch adds to the counters, and the offsets it spans in each topic-partition.

    ``benign`` holds the benign counts of the whole batch. A batch that overlaps offsets already
    applied (it was redelivered after a crash) is counted again from only the records above them,
    by ``recount``.
    """

    benign: Counts = field(default_factory=dict)
    threats: list[Alert] = field(default_factory=list)
    # The ids among ``threats`` that this batch stored for the first time (so never counted yet).
    new_alerts: set[str] = field(default_factory=set)
    first: dict[Position, int] = field(default_factory=dict)
    reached: dict[Position, int] = field(default_factory=dict)
    recount: Callable[[Mapping[Position, int]], Counts] | None = None
    # Seconds spent in each part of the counts' transaction (``counts.*`` steps), filled by the store.
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def merged(cls, batches: Sequence["CountBatch"]) -> "CountBatch":
        """The counts of consecutive batches as one, to be applied in one transaction.

        An alert of several of them is counted once (new if any of them stored it first); a
        redelivered part is recounted by its own ``recount``.
        """
        if len(batches) == 1:
            return batches[0]
        whole = cls()
        threats: dict[str, Alert] = {}
        for batch in batches:
            for position, low in batch.first.items():
                whole.first[position] = min(low, whole.first.get(position, low))
            for position, high in batch.reached.items():
                whole.reached[position] = max(high, whole.reached.get(position, high))
            for alert in batch.threats:
                threats.setdefault(alert.alert_id, alert)
            whole.new_alerts |= batch.new_alerts
        whole.threats = list(threats.values())
        whole.benign = _summed(batch.benign for batch in batches)
        parts = list(batches)
        whole.recount = lambda applied: _summed(part.benign_counts(applied) for part in parts)
        return whole

    def benign_counts(self, applied: Mapping[Position, int]) -> dict[CounterKey, dict[str, int]]:
        """The benign counts of records above the offsets already ``applied`` per position."""
        if not self.benign or all(applied.get(p, -1) >= last for p, last in self.reached.items()):
            source: Counts = {}
        elif all(applied.get(p, -1) < first for p, first in self.first.items()):
            source = self.benign
        elif self.recount is None:
            raise ValueError("a batch overlapping offsets already applied needs its recount")
        else:
            source = self.recount(applied)
        counts: dict[CounterKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for key, fields in source.items():
            cell = counts[key]
            for name, n in fields.items():
                cell[name] += n
        return counts


def _summed(counts: Iterable[Mapping[CounterKey, Mapping[str, int]]]) -> Counts:
    total: Counts = {}
    for part in counts:
        for key, fields in part.items():
            cell = total.setdefault(key, {})
            for name, n in fields.items():
                cell[name] = cell.get(name, 0) + n
    return total


def position_id(position: Position) -> str:
    return f"{position[0]}:{position[1]}"


@dataclass(slots=True)
class AlertSummaryCounts:
    """The dashboard's figures over a period."""

    totals: dict[tuple[int, str], int] = field(default_factory=dict)
    unresolved_important: int = 0
    latest: list[Alert] = field(default_factory=list)


@dataclass(slots=True)
class WriteOutcome:
    """Ids written for the first time, ids already there, and ids refused with the reason."""

    new: set[str] = field(default_factory=set)
    existing: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Recent:
    """The newest part of a customer query, read once: its alerts (``RECENT_FIELDS`` only), newest
    first. They give both its counts and the top of the newest-first order, which a server would
    otherwise match twice (a count, then a sort)."""

    start: datetime
    rows: list[dict[str, Any]]


def matches_rest(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Whether an alert of the query's company and period also meets its other conditions, as the
    server would match them: an equality (``None`` also matching a missing field) or ``$in``."""
    for name, condition in query.items():
        if name in ("company_id", "detected_at"):
            continue
        value = doc.get(name)
        if isinstance(condition, Mapping):
            if set(condition) != {"$in"}:
                raise ValueError(f"unsupported condition on {name}: {sorted(condition)}")
            if value not in condition["$in"]:
                return False
        elif value != condition:
            return False
    return True


def open_query() -> dict[str, Any]:
    """Alerts still 未対応 (an alert without a status is open)."""
    return {"status": {"$in": [TRIAGE_OPEN, None]}}


def threat_fields(alert: Alert) -> dict[str, int]:
    prefix = f"threats.{alert.category_key}"
    return {f"{prefix}.count": 1, f"{prefix}.severity_{alert.severity}": 1}


def counter_updates(counts: Mapping[CounterKey, Mapping[str, int]]) -> list[UpdateOne]:
    """One ``$inc`` upsert per company, unit and hour; ``updated_at`` (server clock) tells the daily
    roll-ups which finished days changed (``reports.DailyRollups``)."""
    return [
        UpdateOne(
            {"_id": counter_id(key)},
            {
                "$inc": dict(fields),
                "$currentDate": {"updated_at": True},
                "$setOnInsert": {"company_id": key[0], "serial_number": key[1], "hour": key[2]},
            },
            upsert=True,
        )
        for key, fields in counts.items()
    ]


def _alias_serials(doc: Mapping[str, Any]) -> set[str]:
    # An earlier version kept one serial (the latest line's) in ``serial_number``.
    serials = {str(s) for s in doc.get("serials", [])}
    return serials | {doc["serial_number"]} if doc.get("serial_number") else serials


def counter_id(key: CounterKey) -> str:
    company, serial, hour = key
    return f"{company}|{serial}|{hour:%Y%m%d%H}"


class PipelineStore(Protocol):
    """What the ingest needs from storage."""

    async def find_units(self, serials: Iterable[str]) -> dict[str, Unit]: ...
    async def find_aliases(self, aliases: Iterable[str]) -> dict[str, set[str]]: ...
    async def learn_aliases(self, aliases: Mapping[str, Iterable[str]]) -> dict[str, set[str]]: ...
    async def insert_alerts(
        self, alerts: Sequence[Alert], origins: Mapping[str, Origin] | None = None
    ) -> WriteOutcome: ...
    async def unnotified(self, alert_ids: Iterable[str]) -> list[Alert]: ...
    async def mark_notified(self, alert_ids: Iterable[str]) -> None: ...
    async def apply_counts(self, batch: CountBatch) -> None: ...
    async def quarantine(self, docs: Mapping[str, dict[str, Any]]) -> WriteOutcome: ...


class MongoPipelineStore:
    """The pipeline's collections in its own database."""

    def __init__(self, db: AsyncDatabase, *, quarantine_ttl_seconds: int = 7 * 24 * 3600) -> None:
        self.db = db
        self.units = db["units"]
        # Device names and sending hosts seen on lines that carried a serial: alias → serial.
        self.aliases = db["unit_aliases"]
        self.alerts = db["alerts"]
        # Ids of the alerts already in the counters: one insert_many per batch in its transaction.
        self.counted = db["counted_alerts"]
        self.counters = db["counters"]
        # Per topic-partition, the last offset whose benign records are in the counters.
        self.progress = db["counter_progress"]
        # Ids of important alerts whose ``alert-detected`` went out: an insert here is one cheap
        # insert_many per batch, where flagging the alerts themselves is a multi-document update.
        self.announced = db["announced_alerts"]
        self.quarantined = db["quarantine"]
        # The rare queries keep small collections of alert ids, so that ``alerts`` carries no index
        # for them (each index on ``alerts`` is paid by every stored alert):
        # ★★★ alerts not known to be resolved (a superset of the unresolved ones; the operator's counts
        # check each against its alert and drop those resolved), {_id: alert id, company_id};
        self.open_serious = db["open_serious_alerts"]
        # alerts a later event may clear, not cleared yet, {_id: alert id, unit: "unit id|category"}.
        self.clearable = db["clearable_alerts"]
        # Per unit and JST day, alerts by severity, category and status (``tallies``).
        self.tallies = AlertTallies(db)
        self._quarantine_ttl = quarantine_ttl_seconds
        # company → ids of its registered units, which scope every customer query (``company_unit_ids``)
        self._unit_ids: ExpiringMap[str, list[str]] = ExpiringMap()
        self._registrations = 0  # registrations this process has applied (``upsert_unit``)

    async def create_indexes(self) -> None:
        """Indexes for the alert log, the unit's open alerts, counters and the quarantine's expiry.

        The alert log always asks for one company and a period, newest first, so (company,
        detected_at) serves every filter; the severity, category and unit filters narrow that range.
        Each further index on ``alerts`` would be paid by every stored alert on the hot path: the
        unit's open UTM監視 alerts and the operator's open ★★★ alerts are kept as small collections
        of ids instead. A database of an earlier version, with an index for each, has the ids
        copied (through that index) and the index dropped.
        """
        await self.units.create_index([("company_id", ASCENDING)])
        await self.units.create_index([("unit_id", ASCENDING)])
        await self.alerts.create_index([("company_id", ASCENDING), ("detected_at", DESCENDING)])
        await self.clearable.create_index([("unit", ASCENDING)])
        await self.counters.create_index([("company_id", ASCENDING), ("hour", ASCENDING)])
        await self.quarantined.create_index("received_at", expireAfterSeconds=self._quarantine_ttl)
        await self.tallies.ensure(datetime.now(UTC))
        indexes = {ix["name"] async for ix in await self.alerts.list_indexes()}
        if OLD_UNIT_CATEGORY_INDEX in indexes:
            cursor = self.alerts.find(
                {"category": {"$in": sorted(CLEARABLE_CATEGORIES)}, "cleared_at": None},
                {"unit_id": 1, "category": 1},
            )
            await self._note_clearable([d async for d in cursor])
            await self.alerts.drop_index(OLD_UNIT_CATEGORY_INDEX)
        if OLD_SERIOUS_INDEX in indexes:
            query = {"severity": SERIOUS_SEVERITY, "status": {"$in": UNRESOLVED}}
            cursor = self.alerts.find(query, {"company_id": 1})  # served by that index
            await self.note_serious([d async for d in cursor])
            await self.alerts.drop_index(OLD_SERIOUS_INDEX)

    # --- unit projection ---

    async def upsert_unit(self, unit: Unit) -> None:
        """Remember (or update) a registered unit."""
        await self.units.update_one(
            {"_id": unit.serial_number},
            {
                "$set": {
                    "unit_id": unit.unit_id,
                    "company_id": unit.company_id,
                    "name": unit.name,
                    "mac_address": unit.mac_address,
                }
            },
            upsert=True,
        )
        self.forget_unit_ids()

    def forget_unit_ids(self) -> None:
        """Read every company's unit ids again (a unit may have moved from another company too)."""
        self._registrations += 1
        self._unit_ids.clear()

    async def find_units(self, serials: Iterable[str]) -> dict[str, Unit]:
        return {doc["_id"]: _unit(doc) for doc in await find_in(self.units, "_id", serials)}

    async def company_unit_ids(self, company_id: str) -> list[str]:
        """Ids of the company's registered units.

        Kept for ``UNIT_IDS_SECONDS`` at most, and forgotten whenever this process applies a
        registration: every instance applies every registration (``handlers``), so none answers
        from a list older than a registration it has received. A list read while a registration was
        applied is not kept.
        """
        known = self._unit_ids.get(company_id)
        if known is not None:
            return known
        registrations = self._registrations
        ids = [d["unit_id"] async for d in self.units.find({"company_id": company_id}, {"unit_id": 1})]
        if registrations == self._registrations:
            self._unit_ids.put(company_id, ids, UNIT_IDS_SECONDS)
        return ids

    async def find_aliases(self, aliases: Iterable[str]) -> dict[str, set[str]]:
        """alias (``devname:…`` / ``sender:…``) → the serials seen with it, for those learnt."""
        wanted = list(aliases)
        if not wanted:
            return {}
        return {d["_id"]: _alias_serials(d) for d in await find_in(self.aliases, "_id", wanted)}

    async def learn_aliases(self, aliases: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
        """Add serials seen with each alias; returns every serial each alias has now (those learnt by
        other instances too). An alias with more than one names no unit."""
        if not aliases:
            return {}
        await self.aliases.bulk_write(
            [
                UpdateOne({"_id": alias}, {"$addToSet": {"serials": {"$each": sorted(serials)}}}, upsert=True)
                for alias, serials in aliases.items()
            ],
            ordered=False,
        )
        return await self.find_aliases(aliases)

    # --- alerts ---

    async def insert_alerts(
        self, alerts: Sequence[Alert], origins: Mapping[str, Origin] | None = None
    ) -> WriteOutcome:
        """Insert alerts, ignoring those already stored; reports new, existing and refused ids.

        ``origins``: alert id → the record that made it, kept in the alert for the counters.

        The ids of ★★★ alerts and of clearable ones go to their small collections at the same time
        (before the alert may be seen: an id whose alert was refused is harmless there)."""
        docs = {a.alert_id: a.document() for a in alerts}
        for alert_id, (topic, partition, offset) in (origins or {}).items():
            if alert_id in docs:
                docs[alert_id]["origin"] = {"position": position_id((topic, partition)), "offset": offset}
        serious = [
            {"_id": a.alert_id, "company_id": a.company_id} for a in alerts if a.severity >= SERIOUS_SEVERITY
        ]
        clearable = [
            {"_id": a.alert_id, "unit_id": a.unit_id, "category": a.category}
            for a in alerts
            if a.category in CLEARABLE_CATEGORIES
        ]
        outcome, _, _ = await asyncio.gather(
            insert_isolated(self.alerts, docs), self.note_serious(serious), self._note_clearable(clearable)
        )
        return outcome

    async def note_serious(self, docs: Sequence[Mapping[str, Any]]) -> None:
        """Remember ★★★ alerts (``_id``, ``company_id``) as possibly unresolved."""
        await _insert_ignoring_duplicates(
            self.open_serious, [{"_id": d["_id"], "company_id": d["company_id"]} for d in docs]
        )

    async def open_serious_ids(self) -> list[str]:
        """The ★★★ alerts not known to be resolved (a superset of the unresolved ones)."""
        return [d["_id"] async for d in self.open_serious.find({}, {"_id": 1})]

    async def forget_serious(self, alert_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Forget ★★★ alerts found resolved; returns those meanwhile reopened (remembered again)."""
        if not alert_ids:
            return []
        await delete_in(self.open_serious, "_id", alert_ids)
        # A status set back to open between the check and the delete noted the id before it was
        # deleted: what is unresolved now is noted again.
        reopened = await self.unresolved_serious(alert_ids)
        await self.note_serious(reopened)
        return reopened

    async def unresolved_serious(self, alert_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Those of ``alert_ids`` that are ★★★ alerts not resolved (``_id``, ``company_id``)."""
        query = {"severity": SERIOUS_SEVERITY, "status": {"$in": UNRESOLVED}}
        return await find_in(self.alerts, "_id", alert_ids, query, {"company_id": 1})

    async def _note_clearable(self, docs: Sequence[Mapping[str, Any]]) -> None:
        await _insert_ignoring_duplicates(
            self.clearable, [{"_id": d["_id"], "unit": f"{d['unit_id']}|{d['category']}"} for d in docs]
        )

    async def insert_alert(self, alert: Alert) -> bool:
        """Insert one alert outside the ingest (the service's own UTM監視 alerts), tallied in the same
        transaction; False when it already existed."""

        async def write(session: AsyncClientSession) -> bool:
            if await self.alerts.find_one({"_id": alert.alert_id}, {"_id": 1}, session=session):
                return False
            await self.alerts.insert_one(alert.document(), session=session)
            await self.tallies.add(tallies.counted([alert]), session)
            return True

        # Noted before the alert may be seen, as ``insert_alerts`` does.
        if alert.severity >= SERIOUS_SEVERITY:
            await self.note_serious([{"_id": alert.alert_id, "company_id": alert.company_id}])
        if alert.category in CLEARABLE_CATEGORIES:
            noted = {"_id": alert.alert_id, "unit_id": alert.unit_id, "category": alert.category}
            await self._note_clearable([noted])
        try:
            async with self.db.client.start_session() as session:
                new: bool = await session.with_transaction(write)
        except DuplicateKeyError:  # another instance stored it meanwhile (its transaction tallied it)
            return False
        return new

    async def unnotified(self, alert_ids: Iterable[str]) -> list[Alert]:
        """The stored alerts among ``alert_ids`` whose ``alert-detected`` never went out."""
        ids = list(alert_ids)
        if not ids:
            return []
        done = {d["_id"] for d in await find_in(self.announced, "_id", ids, projection={"_id": 1})}
        pending = [i for i in ids if i not in done]
        if not pending:
            return []
        return [Alert.from_document(d) for d in await find_in(self.alerts, "_id", pending)]

    async def mark_notified(self, alert_ids: Iterable[str]) -> None:
        """Remember that these alerts were announced (already remembered ones are ignored)."""
        docs = [{"_id": i} for i in alert_ids]
        if not docs:
            return
        try:
            await self.announced.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

    async def clear_alerts(self, *, unit_id: str, category: str, cleared_at: datetime) -> int:
        """Mark the open alerts of a unit in a category (one of ``CLEARABLE_CATEGORIES``) as cleared."""
        if category not in CLEARABLE_CATEGORIES:
            raise ValueError(f"alerts of {category!r} are never cleared")
        ids = [d["_id"] async for d in self.clearable.find({"unit": f"{unit_id}|{category}"}, {"_id": 1})]
        if not ids:
            return 0
        cleared = await update_in(
            self.alerts, "_id", ids, {"cleared_at": None}, {"$set": {"cleared_at": cleared_at}}
        )
        await delete_in(self.clearable, "_id", ids)
        return cleared

    # --- triage ---

    async def set_status(
        self, owned: Mapping[str, Any], alert_id: str, status: str, entry: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Set one alert's status and keep ``entry`` in its history, its tally moved in the same
        transaction; returns the alert as it was (``tallies.TALLY_FIELDS``), None when not found."""

        async def write(session: AsyncClientSession) -> dict[str, Any] | None:
            before: dict[str, Any] | None = await self.alerts.find_one_and_update(
                {"_id": alert_id, **owned},
                {"$set": {"status": status}, "$push": {"status_history": entry}},
                projection=tallies.TALLY_FIELDS,
                session=session,
            )
            if before is not None:
                await self.tallies.add(tallies.moved([before], status), session)
            return before

        async with self.db.client.start_session() as session:
            changed: dict[str, Any] | None = await session.with_transaction(write)
        return changed

    async def acknowledge(self, query: Mapping[str, Any], entry: Mapping[str, Any]) -> int:
        """Mark the open alerts ``query`` matches 確認済み (tallies moved in the same transaction)."""

        async def write(session: AsyncClientSession) -> int:
            matched = {**query, **open_query()}
            before = [d async for d in self.alerts.find(matched, tallies.TALLY_FIELDS, session=session)]
            if not before:
                return 0
            update = {"$set": {"status": "acknowledged"}, "$push": {"status_history": entry}}
            ids = [d["_id"] for d in before]
            modified = await update_in(self.alerts, "_id", ids, {}, update, session=session)
            await self.tallies.add(tallies.moved(before, "acknowledged"), session)
            return modified

        async with self.db.client.start_session() as session:
            updated: int = await session.with_transaction(write)
        return updated

    # --- the customer API's queries ---

    async def _scope(
        self, company_id: str, since: datetime, until: datetime, unit_ids: Sequence[str] | None = None
    ) -> dict[str, Any]:
        if unit_ids is None:
            unit_ids = await self.company_unit_ids(company_id)
        return {
            "company_id": company_id,
            "unit_id": {"$in": list(unit_ids)},
            "detected_at": {"$gte": since, "$lt": until},
        }

    async def _matching(self, query: Mapping[str, Any], *stages: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The documents of an aggregate over the alerts ``query`` matches, then ``stages``.

        The company and period come first in a ``$match`` of their own, which the index (company_id,
        detected_at) serves on every server (one that plans only such a leading equality and range
        on the index, and otherwise scans the collection, included); the other conditions follow.
        """
        indexed = {"company_id": query["company_id"], "detected_at": query["detected_at"]}
        rest = {k: v for k, v in query.items() if k not in indexed}
        pipeline: list[Mapping[str, Any]] = [{"$match": indexed}]
        if rest:
            pipeline.append({"$match": rest})
        return [d async for d in await self.alerts.aggregate([*pipeline, *stages])]

    async def _count(self, query: Mapping[str, Any]) -> int:
        rows = await self._matching(query, {"$count": "n"})
        return int(rows[0]["n"]) if rows else 0

    async def _segments(
        self, query: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], tuple[datetime, datetime] | None]:
        """A scoped query split into the queries of the alerts read one by one (the partial JST days at
        the period's edges, and days before tallies were kept) and the whole days read from tallies."""
        since, until = query["detected_at"]["$gte"], query["detected_at"]["$lt"]
        body = await self.tallies.whole_days(since, until, datetime.now(UTC))
        if body is None:
            return [dict(query)], None
        edges = [(since, body[0]), (body[1], until)]
        return [{**query, "detected_at": {"$gte": a, "$lt": b}} for a, b in edges if a < b], body

    async def _tallied(
        self, query: Mapping[str, Any], status: str | None, body: tuple[datetime, datetime] | None
    ) -> Counter[datetime]:
        """How many alerts of a query each whole day of ``body`` holds, from tallies."""
        per_day: Counter[datetime] = Counter()
        if body is None:
            return per_day
        units = query["unit_id"]
        unit_ids = units["$in"] if isinstance(units, dict) else [units]
        severities = query.get("severity", {}).get("$in")
        category = query.get("category")
        for cell in await self.tallies.cells(query["company_id"], unit_ids, *body):
            if (severities is None or cell.severity in severities) and category in (None, cell.category):
                per_day[cell.day] += cell.count(status or None)
        return per_day

    async def _recent(
        self, query: Mapping[str, Any], edges: list[dict[str, Any]]
    ) -> tuple[Recent | None, list[dict[str, Any]]]:
        """The edge that ends the period, when it lasts at most ``NEWEST_FIRST_WINDOW``, read once
        (``Recent``); and the other edges. A period that ends now ends with the running day's alerts,
        which every dashboard and alert-log view counts and shows the newest of."""
        until = query["detected_at"]["$lt"]
        if not edges:
            return None, edges
        last = edges[-1]["detected_at"]
        if last["$lt"] != until or until - last["$gte"] > NEWEST_FIRST_WINDOW:
            return None, edges
        indexed = {"company_id": query["company_id"], "detected_at": last}
        rows = [d async for d in self.alerts.find(indexed, RECENT_FIELDS) if matches_rest(d, query)]
        # Newest first, ties by id (a stable sort keeps the ids' order among equal instants).
        rows.sort(key=lambda d: d["_id"])
        rows.sort(key=lambda d: d["detected_at"], reverse=True)
        return Recent(start=last["$gte"], rows=rows), edges[:-1]

    async def _newest(
        self,
        query: Mapping[str, Any],
        *,
        skip: int,
        limit: int,
        recent: Recent | None = None,
        days: tuple[Mapping[datetime, int], tuple[datetime, datetime]] | None = None,
    ) -> list[Alert]:
        """The alerts ``query`` matches, newest first (ties by id), from ``skip`` on, at most ``limit``.

        Reads its period backwards in disjoint windows that double in length (the last day, the day
        before, then 2, 4, 8… days) and stops once it has ``skip + limit`` alerts, so that a first page
        touches a few days of alerts rather than the whole period: the server matches and sorts every
        document of a window before it applies the limit. Each window holds all alerts of its
        instants, so the windows read in turn give exactly the order of one sorted query. A ``recent``
        part already read is the first window; the alerts of it that the page shows are read whole.
        Through whole days whose matching alerts tallies count (``days``: per day, and the days), a
        window is sized to hold the alerts still wanted, and days without any are not read.
        """
        wanted = skip + limit
        if limit <= 0:
            return []
        period = query["detected_at"]
        since, until = period["$gte"], period["$lt"]
        found: list[Mapping[str, Any]] = []
        end = until
        if recent is not None:
            found.extend(recent.rows[:wanted])
            end = recent.start
        partial = len(found)
        while end > since and len(found) < wanted:
            sized = tallies.tallied_window(*days, end, wanted - len(found)) if days else None
            if sized is not None:
                start, stop = sized
            else:
                # Each window is as long as all those before it together (at least the first's length).
                # (Compared as lengths: ``end - span`` may lie before the first representable instant.)
                span = max(NEWEST_FIRST_WINDOW, until - end)
                start, stop = (since if end - since <= span else end - span), end
            end = start
            if start >= stop:
                continue
            window = {**query, "detected_at": {"$gte": start, "$lt": stop}}
            found.extend(
                await self._matching(window, {"$sort": dict(NEWEST_FIRST)}, {"$limit": wanted - len(found)})
            )
        ids = [d["_id"] for d in found[skip:partial]]
        whole = {d["_id"]: d for d in await find_in(self.alerts, "_id", ids)}
        page = [whole.get(d["_id"]) if n < partial else d for n, d in enumerate(found) if skip <= n < wanted]
        return [Alert.from_document(d) for d in page if d is not None]

    async def alert_page(
        self,
        company_id: str,
        *,
        since: datetime,
        until: datetime,
        severities: Sequence[int] = (),
        category: str | None = None,
        unit_id: str | None = None,
        status: str | None = None,
        skip: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[Alert]]:
        """The company's alerts of registered units in a period, newest first: (total, page)."""
        query = await self._scope(company_id, since, until)
        if status:
            query.update(open_query() if status == TRIAGE_OPEN else {"status": status})
        if severities:
            query["severity"] = {"$in": list(severities)}
        if category:
            query["category"] = category
        if unit_id:
            allowed = query["unit_id"]["$in"]
            query["unit_id"] = unit_id if unit_id in allowed else {"$in": []}
        edges, body = await self._segments(query)
        recent, edges = await self._recent(query, edges)
        tallied = await self._tallied(query, status, body)
        total = sum(tallied.values()) + (len(recent.rows) if recent else 0)
        for window in edges:
            total += await self._count(window)
        if skip >= total:
            return total, []
        limit = min(limit, total - skip)
        days = (tallied, body) if body is not None else None
        return total, await self._newest(query, skip=skip, limit=limit, recent=recent, days=days)

    async def alert_summary(
        self, company_id: str, *, since: datetime, until: datetime, latest: int = 5
    ) -> AlertSummaryCounts:
        """Counts by (severity, category) over a period, the ★★☆+ still 未対応, and the latest alerts.

        One pass of the period's alerts for both counts (grouped by severity, category and status),
        and the company's units read once; the newest edge of the period (the running day's alerts
        when it ends now) is read once for its counts and the latest alerts (``_recent``).
        """
        query = await self._scope(company_id, since, until)
        summary = AlertSummaryCounts()
        open_statuses = open_query()["status"]["$in"]
        group = {"_id": {"s": "$severity", "c": "$category", "st": "$status"}, "n": {"$sum": 1}}
        edges, body = await self._segments(query)
        recent, edges = await self._recent(query, edges)
        # (severity, category, status) → alerts, from the edges read one by one
        counted: Counter[tuple[Any, Any, Any]] = Counter()
        for window in edges:
            for row in await self._matching(window, {"$group": group}):
                counted[row["_id"]["s"], row["_id"]["c"], row["_id"].get("st")] += int(row["n"])
        if recent is not None:
            counted.update((d.get("severity"), d.get("category"), d.get("status")) for d in recent.rows)
        for (severity, category, status), n in counted.items():
            cell = (int(severity), str(category))
            summary.totals[cell] = summary.totals.get(cell, 0) + n
            if cell[0] >= IMPORTANT_SEVERITY and status in open_statuses:
                summary.unresolved_important += n
        per_day: Counter[datetime] = Counter()
        if body is not None:
            for tally in await self.tallies.cells(company_id, query["unit_id"]["$in"], *body):
                cell = (tally.severity, tally.category)
                summary.totals[cell] = summary.totals.get(cell, 0) + tally.total
                per_day[tally.day] += tally.total
                if tally.severity >= IMPORTANT_SEVERITY:
                    summary.unresolved_important += tally.open
        days = (per_day, body) if body is not None else None
        summary.latest = await self._newest(query, skip=0, limit=latest, recent=recent, days=days)
        return summary

    async def company_alert(self, company_id: str, alert_id: str) -> Alert | None:
        """One alert of the company's registered units; another company's alert is None."""
        # By id alone (the _id index on every server), then checked against the company's units.
        doc = await self.alerts.find_one({"_id": alert_id})
        if doc is None or doc.get("company_id") != company_id:
            return None
        if doc.get("unit_id") not in await self.company_unit_ids(company_id):
            return None
        return Alert.from_document(doc)

    # --- counters and quarantine ---

    async def apply_counts(self, batch: CountBatch) -> None:
        """Add a batch's counts exactly once, in one transaction with the positions it reached."""
        if not batch.reached and not batch.threats:
            return
        started = time.perf_counter()
        async with self.db.client.start_session() as session:
            await session.with_transaction(lambda s: self._apply_counts(batch, s))
        # What the parts do not account for: starting the session, committing, retries.
        parts = sum(batch.timings.values())
        add_time(batch.timings, "counts.commit", time.perf_counter() - started - parts)

    async def _apply_counts(self, batch: CountBatch, session: AsyncClientSession) -> None:
        timings = batch.timings
        ids_of = {position_id(p): p for p in batch.reached}

        async def read_progress() -> dict[Position, int]:
            cursor = self.progress.find({"_id": {"$in": list(ids_of)}}, session=session)
            return {ids_of[d["_id"]]: int(d["offset"]) async for d in cursor}

        applied = await timed(timings, "counts.read_progress", read_progress())
        counts = batch.benign_counts(applied)
        # An alert stored before this batch (a redelivery) may already be counted; a new one is not.
        known = [a.alert_id for a in batch.threats if a.alert_id not in batch.new_alerts]
        counted: set[str] = set()
        if known:
            marks = {position_id(p): offset for p, offset in applied.items()}
            counted = await timed(timings, "counts.read_counted", self._counted(known, marks, session))
        fresh = [a for a in batch.threats if a.alert_id not in counted]
        # A new alert is counted by its origin once this transaction moves the watermark past it;
        # an alert stored before, counted only now, is remembered by id.
        late = [a for a in fresh if a.alert_id not in batch.new_alerts]
        for alert in fresh:
            fields = counts[(alert.company_id, alert.serial_number, hour_bucket(alert.detected_at))]
            for name, n in threat_fields(alert).items():
                fields[name] += n
            add_top_counts(
                fields,
                {
                    "signature": alert.signature,
                    "source": alert.source,
                    "action": alert.action,
                    "destination": alert.destination,
                },
            )
        if fresh:
            await timed(timings, "counts.tallies", self.tallies.add(tallies.counted(fresh), session))
        if late:
            await timed(
                timings,
                "counts.insert_counted",
                self.counted.insert_many([{"_id": a.alert_id} for a in late], session=session),
            )
        if counts:
            await timed(
                timings,
                "counts.counters",
                self.counters.bulk_write(counter_updates(counts), ordered=False, session=session),
            )
        moved = [
            UpdateOne({"_id": position_id(position)}, {"$set": {"offset": offset}}, upsert=True)
            for position, offset in batch.reached.items()
            if offset > applied.get(position, -1)
        ]
        if moved:
            await timed(
                timings,
                "counts.write_progress",
                self.progress.bulk_write(moved, ordered=False, session=session),
            )

    async def _counted(
        self, known: list[str], marks: Mapping[str, int], session: AsyncClientSession
    ) -> set[str]:
        """The stored alerts among ``known`` already in the counters; ``marks``: the watermarks
        read so far (position id → offset), completed here with those of the alerts' origins."""
        counted = {d["_id"] for d in await find_in(self.counted, "_id", known, session=session)}
        stored = await find_in(
            self.alerts, "_id", known, projection={"counted": 1, "origin": 1}, session=session
        )
        # Alerts counted before ``counted_alerts`` existed carry ``counted: true``.
        counted |= {d["_id"] for d in stored if d.get("counted") is True}
        origins = {d["_id"]: d["origin"] for d in stored if isinstance(d.get("origin"), dict)}
        missing = {o["position"] for o in origins.values()} - set(marks)
        if missing:
            cursor = self.progress.find({"_id": {"$in": sorted(missing)}}, session=session)
            marks = {**marks, **{d["_id"]: int(d["offset"]) async for d in cursor}}
        counted |= {i for i, o in origins.items() if o["offset"] <= marks.get(o["position"], -1)}
        return counted

    async def add_counts(self, counts: Mapping[CounterKey, Mapping[str, int]]) -> None:
        """Add counts as they are, outside the ingest's exactly-once bookkeeping: for back-fills and
        for seeding (the reports benchmark and tests)."""
        if counts:
            await self.counters.bulk_write(counter_updates(counts), ordered=False)

    async def quarantine(self, docs: Mapping[str, dict[str, Any]]) -> WriteOutcome:
        """Keep threats of unknown units for a while (a redelivered one is stored once)."""
        return await insert_isolated(self.quarantined, {k: {**d, "_id": k} for k, d in docs.items()})


async def insert_isolated(collection: AsyncCollection, docs: Mapping[str, dict[str, Any]]) -> WriteOutcome:
    """Insert documents by ``_id``: duplicates are existing, a refused document never fails the rest.

    One unordered bulk insert; when the server refuses some documents their ids are reported, and
    when the client cannot even send the bulk (a document it cannot encode), the documents are
    inserted in halves until each refused one is alone.
    """
    outcome = WriteOutcome()
    if not docs:
        return outcome
    ids = list(docs)
    try:
        await collection.insert_many([docs[i] for i in ids], ordered=False)
    except BulkWriteError as exc:
        failed: set[str] = set()
        for error in exc.details.get("writeErrors", []):
            alert_id = ids[error["index"]]
            failed.add(alert_id)
            if error.get("code") == DUPLICATE_KEY:
                outcome.existing.add(alert_id)
            else:
                outcome.refused[alert_id] = f"MongoDB refused the document: {error.get('errmsg', '')}"[:500]
        outcome.new.update(i for i in ids if i not in failed)
        return outcome
    except ConnectionFailure:
        raise
    except (PyMongoError, ValueError, TypeError, OverflowError) as exc:
        if len(ids) == 1:
            outcome.refused[ids[0]] = f"not storable: {type(exc).__name__}: {exc}"[:500]
            return outcome
        half = len(ids) // 2
        for part in (ids[:half], ids[half:]):
            sub = await insert_isolated(collection, {i: docs[i] for i in part})
            outcome.new |= sub.new
            outcome.existing |= sub.existing
            outcome.refused |= sub.refused
        return outcome
    outcome.new.update(ids)
    return outcome


async def _insert_ignoring_duplicates(collection: AsyncCollection, docs: Sequence[Mapping[str, Any]]) -> None:
    if not docs:
        return
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise


def add_time(timings: dict[str, float], step: str, seconds: float) -> float:
    """Add ``seconds`` to ``timings[step]``; returns ``seconds``."""
    timings[step] = timings.get(step, 0.0) + seconds
    return seconds


async def timed(timings: dict[str, float], step: str, action: Awaitable[T]) -> T:
    """Await ``action``, adding the seconds it took to ``timings[step]``."""
    started = time.perf_counter()
    try:
        return await action
    finally:
        add_time(timings, step, time.perf_counter() - started)


def _unit(doc: Mapping[str, Any]) -> Unit:
    return Unit(
        serial_number=doc["_id"],
        unit_id=doc["unit_id"],
        company_id=doc["company_id"],
        name=doc.get("name", ""),
        mac_address=doc.get("mac_address", ""),
    )
