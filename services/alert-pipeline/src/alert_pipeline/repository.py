"""Persistence of the alert pipeline: unit projection, alerts, counters and quarantine (MongoDB)."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from alert_pipeline.models import Unit

DUPLICATE_KEY = 11000
# One counter document per company, unit and hour: company_id, serial_number, hour.
CounterKey = tuple[str, str, datetime]


class PipelineStore(Protocol):
    """What the ingest needs from storage."""

    async def find_units(self, serials: Iterable[str]) -> dict[str, Unit]: ...
    async def insert_alerts(self, docs: Sequence[dict[str, Any]]) -> set[str]: ...
    async def unnotified(self, alert_ids: Iterable[str]) -> list[dict[str, Any]]: ...
    async def mark_notified(self, alert_ids: Iterable[str]) -> None: ...
    async def add_counts(self, counts: Mapping[CounterKey, Mapping[str, int]]) -> None: ...
    async def quarantine(self, docs: Sequence[dict[str, Any]]) -> None: ...


class MongoPipelineStore:
    """The pipeline's collections in its own database."""

    def __init__(self, db: AsyncDatabase, *, quarantine_ttl_seconds: int = 7 * 24 * 3600) -> None:
        self.db = db
        self.units = db["units"]
        self.alerts = db["alerts"]
        self.counters = db["counters"]
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
        found: dict[str, Unit] = {}
        async for doc in self.units.find({"_id": {"$in": list(serials)}}):
            found[doc["_id"]] = Unit(
                serial_number=doc["_id"],
                unit_id=doc["unit_id"],
                company_id=doc["company_id"],
                name=doc.get("name", ""),
                mac_address=doc.get("mac_address", ""),
            )
        return found

    async def find_unit_by_id(self, unit_id: str) -> Unit | None:
        doc = await self.units.find_one({"unit_id": unit_id})
        if doc is None:
            return None
        return Unit(
            doc["_id"], doc["unit_id"], doc["company_id"], doc.get("name", ""), doc.get("mac_address", "")
        )

    async def company_unit_ids(self, company_id: str) -> list[str]:
        """Ids of the company's registered units."""
        return [d["unit_id"] async for d in self.units.find({"company_id": company_id}, {"unit_id": 1})]

    # --- alerts ---

    async def insert_alerts(self, docs: Sequence[dict[str, Any]]) -> set[str]:
        """Insert alerts, ignoring those already stored; returns the ids that are new."""
        if not docs:
            return set()
        ids = [d["_id"] for d in docs]
        try:
            await self.alerts.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            duplicates = {ids[e["index"]] for e in errors}
            return set(ids) - duplicates
        return set(ids)

    async def unnotified(self, alert_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The stored alerts among ``alert_ids`` whose ``alert-detected`` never went out."""
        ids = list(alert_ids)
        if not ids:
            return []
        done = {d["_id"] async for d in self.announced.find({"_id": {"$in": ids}}, {"_id": 1})}
        pending = [i for i in ids if i not in done]
        if not pending:
            return []
        return await self.alerts.find({"_id": {"$in": pending}}).to_list()

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

    async def insert_alert(self, doc: dict[str, Any]) -> bool:
        """Insert one alert; False when it already existed."""
        return bool(await self.insert_alerts([doc]))

    async def clear_alerts(self, *, unit_id: str, category: str, cleared_at: datetime) -> int:
        """Mark the open alerts of a unit in a category as cleared."""
        result = await self.alerts.update_many(
            {"unit_id": unit_id, "category": category, "cleared_at": None},
            {"$set": {"cleared_at": cleared_at}},
        )
        return result.modified_count

    # --- counters and quarantine ---

    async def add_counts(self, counts: Mapping[CounterKey, Mapping[str, int]]) -> None:
        """One ``$inc`` upsert per company, unit and hour, all in one unordered bulk write.

        The fields are paths such as ``benign.traffic`` or ``threats.webguard.severity_2``: a batch
        costs one operation per unit it heard from, however many categories it saw.
        """
        if not counts:
            return
        ops = [
            UpdateOne(
                {"_id": f"{company}|{serial}|{hour:%Y%m%d%H}"},
                {
                    "$inc": dict(fields),
                    "$setOnInsert": {"company_id": company, "serial_number": serial, "hour": hour},
                },
                upsert=True,
            )
            for (company, serial, hour), fields in counts.items()
        ]
        await self.counters.bulk_write(ops, ordered=False)

    async def quarantine(self, docs: Sequence[dict[str, Any]]) -> None:
        if docs:
            await self.quarantined.insert_many(list(docs), ordered=False)
