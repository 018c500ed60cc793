"""Persistence of the alert pipeline: unit projection, alerts, counters and quarantine (MongoDB).

Writes of what records produce are isolated per document: a document MongoDB refuses for what it
holds is reported back (so that only its record is dead-lettered) while the rest is written. Only an
unreachable server raises (``pymongo.errors.ConnectionFailure``), for the caller to retry.

Counters are exact across redelivery: the benign counts of a batch and the position reached in each
topic-partition are written in one transaction, and records at or below that position are not
counted again; a threat is counted once per stored alert (its id goes to ``counted_alerts`` in the
same transaction). Per batch the number of round trips is constant, whatever its size: no query
ever runs per record.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, PyMongoError

from alert_pipeline.models import Alert, Unit, hour_bucket
from alert_pipeline.topn import add_top_counts
from shared.labels import IMPORTANT_SEVERITY, TRIAGE_OPEN

DUPLICATE_KEY = 11000
# One counter document per company, unit and hour: company_id, serial_number, hour.
CounterKey = tuple[str, str, datetime]
# Where a record came from: (topic, partition).
Position = tuple[str, int]


Counts = dict[CounterKey, dict[str, int]]
# The alert log's order: newest first, ties by id.
NEWEST_FIRST = [("detected_at", DESCENDING), ("_id", ASCENDING)]
# The first window a newest-first read looks at; the next ones double in length.
NEWEST_FIRST_WINDOW = timedelta(days=1)


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


def counter_id(key: CounterKey) -> str:
    company, serial, hour = key
    return f"{company}|{serial}|{hour:%Y%m%d%H}"


class PipelineStore(Protocol):
    """What the ingest needs from storage."""

    async def find_units(self, serials: Iterable[str]) -> dict[str, Unit]: ...
    async def find_aliases(self, aliases: Iterable[str]) -> dict[str, str]: ...
    async def learn_aliases(self, aliases: Mapping[str, str]) -> None: ...
    async def insert_alerts(self, alerts: Sequence[Alert]) -> WriteOutcome: ...
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
        self._quarantine_ttl = quarantine_ttl_seconds

    async def create_indexes(self) -> None:
        """Indexes for the alert log, the unit's open alerts, counters and the quarantine's expiry.

        The alert log always asks for one company and a period, newest first, so (company,
        detected_at) serves every filter; the severity, category and unit filters narrow that range.
        Each further index on ``alerts`` would be paid by every stored alert on the hot path.
        """
        await self.units.create_index([("company_id", ASCENDING)])
        await self.units.create_index([("unit_id", ASCENDING)])
        await self.alerts.create_index([("company_id", ASCENDING), ("detected_at", DESCENDING)])
        await self.alerts.create_index([("unit_id", ASCENDING), ("category", ASCENDING)])
        await self.counters.create_index([("company_id", ASCENDING), ("hour", ASCENDING)])
        await self.quarantined.create_index("received_at", expireAfterSeconds=self._quarantine_ttl)

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

    async def find_units(self, serials: Iterable[str]) -> dict[str, Unit]:
        return {doc["_id"]: _unit(doc) async for doc in self.units.find({"_id": {"$in": list(serials)}})}

    async def company_unit_ids(self, company_id: str) -> list[str]:
        """Ids of the company's registered units."""
        return [d["unit_id"] async for d in self.units.find({"company_id": company_id}, {"unit_id": 1})]

    async def find_aliases(self, aliases: Iterable[str]) -> dict[str, str]:
        """alias (``devname:…`` / ``sender:…``) → serial, for those learnt."""
        wanted = list(aliases)
        if not wanted:
            return {}
        return {d["_id"]: d["serial_number"] async for d in self.aliases.find({"_id": {"$in": wanted}})}

    async def learn_aliases(self, aliases: Mapping[str, str]) -> None:
        """Remember which serial a device name or sending host belongs to (latest line wins)."""
        if aliases:
            await self.aliases.bulk_write(
                [
                    UpdateOne({"_id": alias}, {"$set": {"serial_number": serial}}, upsert=True)
                    for alias, serial in aliases.items()
                ],
                ordered=False,
            )

    # --- alerts ---

    async def insert_alerts(self, alerts: Sequence[Alert]) -> WriteOutcome:
        """Insert alerts, ignoring those already stored; reports new, existing and refused ids."""
        docs = {a.alert_id: a.document() for a in alerts}
        return await insert_isolated(self.alerts, docs)

    async def insert_alert(self, alert: Alert) -> bool:
        """Insert one alert; False when it already existed."""
        outcome = await self.insert_alerts([alert])
        if outcome.refused:
            raise ValueError(f"alert {alert.alert_id} refused: {outcome.refused[alert.alert_id]}")
        return bool(outcome.new)

    async def unnotified(self, alert_ids: Iterable[str]) -> list[Alert]:
        """The stored alerts among ``alert_ids`` whose ``alert-detected`` never went out."""
        ids = list(alert_ids)
        if not ids:
            return []
        done = {d["_id"] async for d in self.announced.find({"_id": {"$in": ids}}, {"_id": 1})}
        pending = [i for i in ids if i not in done]
        if not pending:
            return []
        return [Alert.from_document(d) async for d in self.alerts.find({"_id": {"$in": pending}})]

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
        """Mark the open alerts of a unit in a category as cleared."""
        result = await self.alerts.update_many(
            {"unit_id": unit_id, "category": category, "cleared_at": None},
            {"$set": {"cleared_at": cleared_at}},
        )
        return result.modified_count

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

    async def _newest(self, query: Mapping[str, Any], *, skip: int, limit: int) -> list[Alert]:
        """The alerts ``query`` matches, newest first (ties by id), from ``skip`` on, at most ``limit``.

        Reads its period backwards in disjoint windows that double in length (the last day, the day
        before, then 2, 4, 8… days) and stops once it has ``skip + limit`` alerts, so that a first page
        touches a few days of alerts rather than the whole period: the server matches and sorts every
        document of a window before it applies the limit. Each window holds all alerts of its
        instants, so the windows read in turn give exactly the order of one sorted query.
        """
        wanted = skip + limit
        if limit <= 0:
            return []
        period = query["detected_at"]
        since, until = period["$gte"], period["$lt"]
        found: list[dict[str, Any]] = []
        end = until
        while end > since and len(found) < wanted:
            # Each window is as long as all those before it together (at least the first's length).
            # (Compared as lengths: ``end - span`` may lie before the first representable instant.)
            span = max(NEWEST_FIRST_WINDOW, until - end)
            start = since if end - since <= span else end - span
            window = {**query, "detected_at": {"$gte": start, "$lt": end}}
            found.extend(
                await self._matching(window, {"$sort": dict(NEWEST_FIRST)}, {"$limit": wanted - len(found)})
            )
            end = start
        return [Alert.from_document(d) for d in found[skip:wanted]]

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
        total = await self._count(query)
        if skip >= total:
            return total, []
        return total, await self._newest(query, skip=skip, limit=min(limit, total - skip))

    async def alert_summary(
        self, company_id: str, *, since: datetime, until: datetime, latest: int = 5
    ) -> AlertSummaryCounts:
        """Counts by (severity, category) over a period, the ★★☆+ still 未対応, and the latest alerts.

        One pass of the period's alerts for both counts (grouped by severity, category and status),
        and the company's units read once.
        """
        query = await self._scope(company_id, since, until)
        summary = AlertSummaryCounts()
        open_statuses = open_query()["status"]["$in"]
        group = {"_id": {"s": "$severity", "c": "$category", "st": "$status"}, "n": {"$sum": 1}}
        for row in await self._matching(query, {"$group": group}):
            key, n = row["_id"], int(row["n"])
            severity = int(key["s"])
            cell = (severity, str(key["c"]))
            summary.totals[cell] = summary.totals.get(cell, 0) + n
            if severity >= IMPORTANT_SEVERITY and key.get("st") in open_statuses:
                summary.unresolved_important += n
        summary.latest = await self._newest(query, skip=0, limit=latest)
        return summary

    async def company_alert(self, company_id: str, alert_id: str) -> Alert | None:
        """One alert of the company's registered units; another company's alert is None."""
        unit_ids = await self.company_unit_ids(company_id)
        # The id alone in the first stage: a lookup by the _id index on every server.
        pipeline: list[Mapping[str, Any]] = [
            {"$match": {"_id": alert_id}},
            {"$match": {"company_id": company_id, "unit_id": {"$in": unit_ids}}},
        ]
        docs = [d async for d in await self.alerts.aggregate(pipeline)]
        return Alert.from_document(docs[0]) if docs else None

    # --- counters and quarantine ---

    async def apply_counts(self, batch: CountBatch) -> None:
        """Add a batch's counts exactly once, in one transaction with the positions it reached."""
        if not batch.reached and not batch.threats:
            return
        async with self.db.client.start_session() as session:
            await session.with_transaction(lambda s: self._apply_counts(batch, s))

    async def _apply_counts(self, batch: CountBatch, session: AsyncClientSession) -> None:
        ids_of = {position_id(p): p for p in batch.reached}
        applied = {
            ids_of[d["_id"]]: int(d["offset"])
            async for d in self.progress.find({"_id": {"$in": list(ids_of)}}, session=session)
        }
        counts = batch.benign_counts(applied)
        # An alert stored before this batch (a redelivery) may already be counted; a new one is not.
        known = [a.alert_id for a in batch.threats if a.alert_id not in batch.new_alerts]
        counted: set[str] = set()
        if known:
            counted = {d["_id"] async for d in self.counted.find({"_id": {"$in": known}}, session=session)}
            # Alerts counted before ``counted_alerts`` existed carry ``counted: true``.
            counted |= {
                d["_id"]
                async for d in self.alerts.find(
                    {"_id": {"$in": known}, "counted": True}, {"_id": 1}, session=session
                )
            }
        fresh = [a for a in batch.threats if a.alert_id not in counted]
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
            await self.counted.insert_many([{"_id": a.alert_id} for a in fresh], session=session)
        if counts:
            await self.counters.bulk_write(counter_updates(counts), ordered=False, session=session)
        moved = [
            UpdateOne({"_id": position_id(position)}, {"$set": {"offset": offset}}, upsert=True)
            for position, offset in batch.reached.items()
            if offset > applied.get(position, -1)
        ]
        if moved:
            await self.progress.bulk_write(moved, ordered=False, session=session)

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


def _unit(doc: Mapping[str, Any]) -> Unit:
    return Unit(
        serial_number=doc["_id"],
        unit_id=doc["unit_id"],
        company_id=doc["company_id"],
        name=doc.get("name", ""),
        mac_address=doc.get("mac_address", ""),
    )
