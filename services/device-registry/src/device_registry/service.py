"""Use cases of the device registry: expected units, shipments, registration and connection status."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from device_registry.models import (
    InvalidIdentifier,
    hash_code,
    looks_like_mac,
    normalise_code,
    normalise_mac,
    normalise_serial,
    verify_code,
)
from shared.events import ApplicationSubmitted, Event, UtmRegistered, UtmShipped, UtmStatusChanged
from shared.queries import find_in

Publisher = Callable[[Event, str], Awaitable[None]]

log = logging.getLogger(__name__)
# The outbox: the flag each state change sets to False in the same write, and True once its event is out.
ANNOUNCED = {"shipped": "shipped_announced", "registered": "registered_announced"}
# An unannounced change younger than this is left to the request that made it (still publishing).
ANNOUNCE_GRACE = timedelta(seconds=10)
# A unit's stored last-seen time moves in steps of at least this (see ``apply_seen``).
SEEN_PRECISION = timedelta(minutes=1)


class RegistryError(Exception):
    """A refused request; ``message`` is shown to the user (Japanese)."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnitNotFound(RegistryError):
    status_code = 404


class Conflict(RegistryError):
    status_code = 409


class WrongCode(RegistryError):
    status_code = 400


class TooManyAttempts(RegistryError):
    status_code = 429


NOT_FOUND_MESSAGE = "該当するUTMが見つかりません。MACアドレスまたはシリアル番号をご確認ください。"
WRONG_CODE_MESSAGE = "登録コードが正しくありません。UTM本体に記載された登録コードをご確認ください。"
TOO_MANY_MESSAGE = (
    "登録コードの誤りが続いたため、しばらく登録できません。{minutes}分ほど待ってから再度お試しください。"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """A stored time as UTC-aware (a client without ``tz_aware`` reads naive UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class DeviceRegistry:
    """The registry's use cases over its MongoDB collections."""

    def __init__(
        self,
        db: AsyncDatabase,
        *,
        publish: Publisher,
        offline_after: timedelta = timedelta(minutes=10),
        failure_limit: int = 5,
        failure_window: timedelta = timedelta(minutes=15),
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.units = db["units"]
        self.failures = db["registration_failures"]
        self.publish = publish
        self.offline_after = offline_after
        self.failure_limit = failure_limit
        self.failure_window = failure_window
        self.now = now

    async def create_indexes(self) -> None:
        """Unique identifiers of shipped units, and the per-company lookups."""
        await self.units.create_index([("company_id", ASCENDING), ("destination_id", ASCENDING)])
        await self.units.create_index(
            "serial_number", unique=True, partialFilterExpression={"serial_number": {"$type": "string"}}
        )
        await self.units.create_index(
            "mac_address", unique=True, partialFilterExpression={"mac_address": {"$type": "string"}}
        )
        await self.units.create_index([("status", ASCENDING), ("online", ASCENDING)])
        # The unique indexes above are partial, which SecantusDB cannot use for a lookup by ``$in``
        # (it cannot prove the ``$type``): the last-seen summaries find units through this one.
        await self.units.create_index([("serial_number", ASCENDING), ("status", ASCENDING)])
        # The offline sweep: units silent since before the cutoff, and those never heard (null).
        await self.units.create_index([("last_seen_at", ASCENDING)])
        for change, flag in ANNOUNCED.items():
            await self.units.create_index(
                [(flag, ASCENDING), (f"{change}_at", ASCENDING)], partialFilterExpression={flag: False}
            )
        await self.failures.create_index("at", expireAfterSeconds=int(self.failure_window.total_seconds()))
        await self.failures.create_index([("company_id", ASCENDING), ("at", ASCENDING)])

    # --- expected units ---

    async def expect_units(self, event: ApplicationSubmitted) -> int:
        """One expected unit per ordered UTM and destination; applying the event twice changes nothing."""
        ops = []
        sequence = 0  # default names are numbered across the whole company: UTM-1, UTM-2, …
        for destination in event.destinations:
            label = f"{destination.company_name} {destination.prefecture}{destination.address}".strip()
            for number in range(1, destination.units + 1):
                sequence += 1
                unit_id = f"{event.company_id}-{destination.destination_id}-{number}"
                ops.append(
                    UpdateOne(
                        {"_id": unit_id},
                        {
                            "$setOnInsert": {
                                "company_id": event.company_id,
                                "company_name": event.company.company_name,
                                "application_number": event.application_number,
                                "destination_id": destination.destination_id,
                                "destination_label": label,
                                "number": number,
                                "name": f"{destination.company_name} UTM-{sequence}",
                                "status": "expected",
                                "created_at": self.now(),
                            }
                        },
                        upsert=True,
                    )
                )
        if ops:
            result = await self.units.bulk_write(ops, ordered=False)
            return result.upserted_count
        return 0

    # --- operator ---

    async def list_for_operator(
        self, *, company_id: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Units for the shipment page, optionally of one company and in one state."""
        query: dict[str, Any] = {}
        if company_id:
            query["company_id"] = company_id
        if status:
            query["status"] = status
        return (
            await self.units.find(query, {"registration_code_hash": 0})
            .sort([("company_id", 1), ("destination_id", 1), ("number", 1)])
            .to_list(2000)
        )

    async def record_shipment(
        self, unit_id: str, *, serial_number: str, mac_address: str, registration_code: str
    ) -> dict[str, Any]:
        """Record what was posted for an expected unit (a correction is allowed until it is registered)."""
        serial = normalise_serial(serial_number)
        mac = normalise_mac(mac_address)
        code_hash = hash_code(registration_code)
        current = await self.units.find_one({"_id": unit_id})
        if current is None:
            raise UnitNotFound("該当するUTMが見つかりません。")
        if current["status"] == "registered":
            raise Conflict("このUTMは登録済みのため、出荷情報を変更できません。")
        try:
            doc = await self.units.find_one_and_update(
                {"_id": unit_id, "status": {"$ne": "registered"}},
                {
                    "$set": {
                        "status": "shipped",
                        "serial_number": serial,
                        "mac_address": mac,
                        "registration_code_hash": code_hash,
                        "shipped_at": self.now(),
                        ANNOUNCED["shipped"]: False,
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError as exc:
            raise Conflict("このシリアル番号またはMACアドレスは別のUTMで使用されています。") from exc
        if doc is None:
            raise Conflict("このUTMは登録済みのため、出荷情報を変更できません。")
        await self._announce("shipped", doc)
        return doc

    # --- customer ---

    async def list_units(self, company_id: str) -> list[dict[str, Any]]:
        """The company's units (never another company's)."""
        return (
            await self.units.find({"company_id": company_id})
            .sort([("destination_id", 1), ("number", 1)])
            .to_list(1000)
        )

    async def get_unit(self, company_id: str, unit_id: str) -> dict[str, Any]:
        doc = await self.units.find_one({"_id": unit_id, "company_id": company_id})
        if doc is None:
            raise UnitNotFound(NOT_FOUND_MESSAGE)
        return doc

    async def summary(self, company_id: str) -> dict[str, int]:
        """Counts for the dashboard: shipped or registered units, and the unregistered ones."""
        counts = {"expected": 0, "shipped": 0, "registered": 0, "unregistered": 0, "online": 0, "offline": 0}
        async for doc in self.units.find({"company_id": company_id}, {"status": 1, "online": 1}):
            counts["expected"] += 1
            if doc["status"] in ("shipped", "registered"):
                counts["shipped"] += 1
            if doc["status"] == "registered":
                counts["registered"] += 1
                if doc.get("online") is True:
                    counts["online"] += 1
                elif doc.get("online") is False:
                    counts["offline"] += 1
        counts["unregistered"] = counts["shipped"] - counts["registered"]
        return counts

    async def register(
        self, company_id: str, *, identifier: str, registration_code: str, name: str = ""
    ) -> dict[str, Any]:
        """Register an installed unit of the caller's company by MAC address or serial number."""
        await self._refuse_when_locked(company_id)
        try:
            query: dict[str, Any] = (
                {"mac_address": normalise_mac(identifier)}
                if looks_like_mac(identifier)
                else {"serial_number": normalise_serial(identifier)}
            )
            normalise_code(registration_code)
        except InvalidIdentifier:
            await self._record_failure(company_id)
            raise
        query["company_id"] = company_id
        doc = await self.units.find_one(query)
        if doc is None or doc["status"] == "expected":
            await self._record_failure(company_id)
            raise UnitNotFound(NOT_FOUND_MESSAGE)
        if doc["status"] == "registered":
            raise Conflict("このUTMは既に登録されています。")
        if not verify_code(registration_code, doc.get("registration_code_hash", "")):
            await self._record_failure(company_id)
            raise WrongCode(WRONG_CODE_MESSAGE)
        display_name = (name or "").strip()[:60] or doc.get("name", "")
        registered = await self.units.find_one_and_update(
            {"_id": doc["_id"], "status": "shipped"},
            {
                "$set": {
                    "status": "registered",
                    "registered_at": self.now(),
                    "name": display_name,
                    ANNOUNCED["registered"]: False,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if registered is None:
            raise Conflict("このUTMは既に登録されています。")
        await self._announce("registered", registered)
        return registered

    # --- the outbox of shipments and registrations ---

    async def _announce(self, change: str, doc: dict[str, Any]) -> bool:
        """Publish the event of a stored change and mark it announced. A publish that fails leaves the
        change to ``publish_unannounced``: the change is stored, and its event follows it."""
        try:
            await self.publish(_change_event(change, doc), doc["company_id"])
        except Exception:
            log.warning(
                "event not published; the outbox publishes it later",
                extra={"unit_id": doc["_id"], "change": change},
                exc_info=True,
            )
            return False
        await self.units.update_one(
            {"_id": doc["_id"], "status": doc["status"], ANNOUNCED[change]: False},
            {"$set": {ANNOUNCED[change]: True}},
        )
        return True

    async def publish_unannounced(self) -> int:
        """Publish the events of shipments and registrations stored without them (a publish that failed,
        or a process that died between its write and its publish); returns how many went out."""
        before = self.now() - ANNOUNCE_GRACE
        published = 0
        for change, flag in ANNOUNCED.items():
            # The partial index on (flag, time) holds only the unannounced: its field goes first.
            pending = self.units.find({flag: False, f"{change}_at": {"$lt": before}, "status": change})
            for doc in await pending.to_list(500):
                published += await self._announce(change, doc)
        return published

    async def _refuse_when_locked(self, company_id: str) -> None:
        since = self.now() - self.failure_window
        failures = await self.failures.count_documents({"company_id": company_id, "at": {"$gte": since}})
        if failures >= self.failure_limit:
            minutes = int(self.failure_window.total_seconds() // 60)
            raise TooManyAttempts(TOO_MANY_MESSAGE.format(minutes=minutes))

    async def _record_failure(self, company_id: str) -> None:
        await self.failures.insert_one({"company_id": company_id, "at": self.now()})

    # --- connection status ---

    async def apply_seen(self, last_seen: dict[str, datetime]) -> int:
        """Record when units were last heard from; offline units heard again come back online.

        A summary arrives every few seconds for every unit that sent anything. A unit's time is
        written only once it has moved on by ``SEEN_PRECISION`` (or the unit was offline), and each
        write is by ``_id``: the summaries of a large fleet stay a small share of the database's work,
        and the last-seen time customers read is exact to the minute. Returns how many came back.
        """
        if not last_seen:
            return 0
        now = self.now()
        docs = await find_in(self.units, "serial_number", last_seen)
        registered = [d for d in docs if d.get("status") == "registered"]
        came_back = [d for d in registered if d.get("online") is False]
        ops = []
        for doc in registered:
            moment = min(last_seen[doc["serial_number"]], now)
            stored = doc.get("last_seen_at")
            if doc.get("online") is False or stored is None or moment - _aware(stored) >= SEEN_PRECISION:
                seen = {"$max": {"last_seen_at": moment}, "$set": {"online": True}}
                ops.append(UpdateOne({"_id": doc["_id"]}, seen))
        if ops:
            await self.units.bulk_write(ops, ordered=False)
        for doc in came_back:
            await self.publish(
                _status_event(doc, "online", last_seen[doc["serial_number"]]), doc["company_id"]
            )
        return len(came_back)

    async def sweep(self) -> int:
        """Mark registered units silent for too long as offline and announce it.

        Silent: last heard before the cutoff, or never heard and registered before it. Each is read
        through the last-seen index by a filter of its own (one ``$or`` of both would make a server
        whose planner does not split it, SecantusDB, read every unit ever shipped)."""
        cutoff = self.now() - self.offline_after
        still_online: dict[str, Any] = {"status": "registered", "online": {"$ne": False}}
        branches: list[dict[str, Any]] = [
            {"last_seen_at": {"$lt": cutoff}, **still_online},
            {"last_seen_at": None, "registered_at": {"$lt": cutoff}, **still_online},
        ]
        changed = 0
        for silent in branches:
            for doc in await self.units.find(silent).to_list(None):
                updated = await self.units.find_one_and_update(
                    {"_id": doc["_id"], **silent}, {"$set": {"online": False, "offline_since": self.now()}}
                )
                if updated is not None:
                    await self.publish(
                        _status_event(doc, "offline", doc.get("last_seen_at")), doc["company_id"]
                    )
                    changed += 1
        return changed


def _change_event(change: str, doc: dict[str, Any]) -> Event:
    if change == "shipped":
        return UtmShipped(
            company_id=doc["company_id"],
            unit_id=doc["_id"],
            serial_number=doc["serial_number"],
            mac_address=doc["mac_address"],
            destination_id=doc["destination_id"],
        )
    return UtmRegistered(
        company_id=doc["company_id"],
        unit_id=doc["_id"],
        serial_number=doc["serial_number"],
        mac_address=doc["mac_address"],
        name=doc.get("name", ""),
    )


def _status_event(doc: dict[str, Any], status: str, last_seen: datetime | None) -> UtmStatusChanged:
    return UtmStatusChanged(
        company_id=doc["company_id"],
        unit_id=doc["_id"],
        serial_number=doc["serial_number"],
        mac_address=doc["mac_address"],
        name=doc.get("name", ""),
        status="online" if status == "online" else "offline",
        last_seen_at=last_seen,
    )
