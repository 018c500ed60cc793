"""Per unit and JST day, how many alerts of each severity and category, and how many by status.

The dashboard and the alert log's totals would otherwise read every alert of the period (about
1,200 a month for a small office) on each page view. A tally document holds one unit's day:

    {_id: "<unit id>|YYYYMMDD", company_id, unit_id, day (its JST midnight),
     n: {"<severity>": {"<category>": alerts}},
     st: {"<status>": {"<severity>": {"<category>": alerts}}}}   (statuses other than 未対応)

(a category name is a field name with ``%``, ``.`` and ``$`` percent-encoded, ``topn.field_name``).

Every alert is counted in ``n`` as open, exactly once, in the counts' transaction of the batch that
counts it (or with the insert of a monitoring alert); a triage change moves it between statuses in
the transaction that changes the alert. Increments commute, so a change made before the alert's count
lands is still right once it does; 未対応 is ``n`` less the other statuses.

Tallies are read only for whole JST days that are over, from the first day they were kept for every alert
(``tally_state``, set when a database first meets this code: the next JST midnight); the partial
days at a period's edges, and days before that, are read from the alerts themselves.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from alert_pipeline.models import Alert
from alert_pipeline.topn import field_name, unescape_key
from shared.labels import JST, TRIAGE_OPEN
from shared.periods import jst_today

STATE_ID = "since"
DAY = timedelta(days=1)  # a JST day (Japan keeps no daylight saving time)
# What a tally needs of an alert document (for a triage change).
TALLY_FIELDS = dict.fromkeys(("unit_id", "company_id", "detected_at", "severity", "category", "status"), 1)


def jst_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), JST)


def _key(unit_id: str, day: date) -> str:
    return f"{unit_id}|{day:%Y%m%d}"


def _closed(status: Any) -> str | None:
    """The ``st`` key of a status; None for 未対応 (kept as ``n`` less the others)."""
    return None if status in (None, TRIAGE_OPEN) else str(status)


class _Changes:
    """Increments per tally document, written as one upsert each."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def add(self, company_id: str, unit_id: str, detected_at: datetime, path: str, n: int) -> None:
        day = jst_today(detected_at)
        where = {"company_id": company_id, "unit_id": unit_id, "day": jst_midnight(day)}
        inc = self.docs.setdefault(_key(unit_id, day), {"where": where, "inc": {}})["inc"]
        inc[path] = inc.get(path, 0) + n

    def updates(self) -> list[UpdateOne]:
        return [
            UpdateOne({"_id": key}, {"$inc": doc["inc"], "$setOnInsert": doc["where"]}, upsert=True)
            for key, doc in self.docs.items()
        ]


def counted(alerts: Iterable[Alert]) -> list[UpdateOne]:
    """Upserts adding each alert (as 未対応) to its unit's day."""
    changes = _Changes()
    for a in alerts:
        changes.add(a.company_id, a.unit_id, a.detected_at, f"n.{a.severity}.{field_name(a.category)}", 1)
    return changes.updates()


def moved(before: Iterable[Mapping[str, Any]], status: str) -> list[UpdateOne]:
    """Upserts moving alerts (their documents before a triage change, ``TALLY_FIELDS``) to ``status``."""
    new = _closed(status)
    changes = _Changes()
    for alert in before:
        old = _closed(alert.get("status"))
        if old == new:
            continue
        cell = f"{alert['severity']}.{field_name(alert['category'])}"
        for status_key, n in ((old, -1), (new, 1)):
            if status_key is not None:
                path = f"st.{status_key}.{cell}"
                changes.add(alert["company_id"], alert["unit_id"], alert["detected_at"], path, n)
    return changes.updates()


@dataclass(slots=True)  # not frozen: a view reads hundreds, and a frozen one is slower to make
class Cell:
    """One unit's alerts of a severity and category on one day, and how many are not 未対応."""

    day: datetime
    unit_id: str
    severity: int
    category: str
    total: int
    closed: dict[str, int]

    @property
    def open(self) -> int:
        return max(0, self.total - sum(self.closed.values()))

    def count(self, status: str | None) -> int:
        """Alerts in ``status`` (None: all)."""
        if status is None:
            return self.total
        if status == TRIAGE_OPEN:
            return self.open
        return max(0, self.closed.get(status, 0))


class AlertTallies:
    """The ``alert_tallies`` collection and the first day it is complete for."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["alert_tallies"]
        self.state = db["tally_state"]
        self._since: datetime | None = None

    async def ensure(self, now: datetime) -> None:
        """Index, and the first day of complete tallies: the JST midnight after the first start."""
        await self.collection.create_index([("company_id", ASCENDING), ("day", ASCENDING)])
        first = jst_midnight(jst_today(now) + timedelta(days=1))
        await self.state.update_one({"_id": STATE_ID}, {"$setOnInsert": {"day": first}}, upsert=True)

    async def since(self) -> datetime | None:
        """From which JST midnight on every alert is tallied (None: not known to this database yet)."""
        if self._since is None:
            doc = await self.state.find_one({"_id": STATE_ID})
            if doc is not None:
                self._since = doc["day"]
        return self._since

    async def declare_since(self, day: date) -> None:
        """Say that every alert from ``day`` on is tallied: for a database whose tallies were built
        from its alerts (a back-fill) or seeded with them (benchmarks, tests)."""
        await self.state.update_one({"_id": STATE_ID}, {"$set": {"day": jst_midnight(day)}}, upsert=True)
        self._since = None

    async def add(self, updates: Sequence[UpdateOne], session: AsyncClientSession | None = None) -> None:
        if updates:
            await self.collection.bulk_write(list(updates), ordered=False, session=session)

    async def whole_days(
        self, since: datetime, until: datetime, now: datetime
    ) -> tuple[datetime, datetime] | None:
        """The part of [since, until) read from tallies: whole JST days that are over, from the first
        tallied one. The day still running is read from its alerts, so that a count never trails the
        alerts a customer can already see (an alert is tallied up to the counts' interval later)."""
        first = await self.since()
        if first is None:
            return None
        start = jst_midnight(jst_today(since))
        if start < since:
            start += timedelta(days=1)
        start = max(start, first)
        end = min(jst_midnight(jst_today(until)), jst_midnight(jst_today(now)))
        return (start, end) if start < end else None

    async def cells(
        self, company_id: str, unit_ids: Sequence[str], since: datetime, until: datetime
    ) -> list[Cell]:
        """The company's cells of each whole day of [since, until), units ``unit_ids`` only.

        A document is one unit's day, so each of its cells is a cell of the answer as it stands."""
        wanted = set(unit_ids)
        found: list[Cell] = []
        query = {"company_id": company_id, "day": {"$gte": since, "$lt": until}}
        async for doc in self.collection.find(query):
            unit = doc.get("unit_id")
            if unit not in wanted:
                continue
            day, statuses = doc["day"], doc.get("st") or {}
            for severity, by_field in doc.get("n", {}).items():
                level = int(severity)
                # status → category field → alerts moved there, of this severity (mostly none)
                moves = {status: s.get(severity) or {} for status, s in statuses.items()}
                for name, n in by_field.items():
                    closed = {status: int(m) for status, f in moves.items() if (m := f.get(name))}
                    found.append(Cell(day, unit, level, _category(name), int(n), closed))
        return found


@lru_cache(maxsize=1024)
def _category(name: str) -> str:
    """A category from its field name (a handful of names, each decoded once)."""
    return unescape_key(name)


def tallied_window(
    per_day: Mapping[datetime, int], body: tuple[datetime, datetime], end: datetime, needed: int
) -> tuple[datetime, datetime] | None:
    """Within the tallied whole days ``body``, the window of whole days ending at or before ``end`` that
    holds the ``needed`` newest alerts of a query, ``per_day`` giving how many each day holds: its days
    without any are left out at its end, and it starts on the day where ``needed`` is reached (or at
    the start of ``body``). None when ``end`` is not the end of a day of ``body``."""
    first, last = body
    if not first < end <= last or (end - first) % DAY:
        return None
    stop = end
    while stop > first and per_day.get(stop - DAY, 0) <= 0:
        stop -= DAY
    start, got = stop, 0
    while start > first and got < needed:
        start -= DAY
        got += per_day.get(start, 0)
    return start, stop
