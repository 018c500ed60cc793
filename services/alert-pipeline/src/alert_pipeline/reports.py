"""Report figures computed from the hourly counter documents only (never from a month of raw alerts).

One counter document per company, unit (serial) and UTC hour holds the benign counts, the threat
counts per category and severity, and the top-N material (``top.sig/src/dst``, see ``topn``). A unit
is counted as monitored during an hour when its document for that hour exists: a UTM sends its
traffic log and heartbeat records continuously, so an hour without any record is an hour nobody
watched. Company comparisons use only aggregates over all participating companies and publish a
figure only when at least ``MIN_COMPANIES`` companies contribute to it.
"""

import asyncio
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any, Final

from pymongo import ReplaceOne, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from alert_pipeline.topn import DIMENSIONS, OTHERS, TOP_FIELD, unescape_key
from shared.labels import IMPORTANT_SEVERITY, JST, severity_label
from shared.periods import Period, jst_day_of, jst_today

MIN_COMPANIES: Final = 5
TOP_N: Final = 10
SEVERITIES: Final = (1, 2, 3)
PEER_CACHE_SECONDS: Final = 300.0
COUNTER_FIELDS: Final = {"serial_number": 1, "hour": 1, "hours": 1, "threats": 1, "benign": 1}


@dataclass(slots=True)
class Tally:
    """Threat counts by category and severity."""

    by_category: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[int] = field(default_factory=Counter)
    by_category_severity: Counter[tuple[str, int]] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_severity.values())

    @property
    def important(self) -> int:
        return sum(n for s, n in self.by_severity.items() if s >= IMPORTANT_SEVERITY)

    def add_document(self, doc: Mapping[str, Any]) -> None:
        for category, counts in (doc.get("threats") or {}).items():
            if not isinstance(counts, Mapping):
                continue
            for severity in SEVERITIES:
                n = int(counts.get(f"severity_{severity}", 0))
                if n:
                    self.by_category[category] += n
                    self.by_severity[severity] += n
                    self.by_category_severity[(category, severity)] += n


def change_percent(current: int, previous: int) -> float | None:
    """The change from the previous period in %, None when the previous period had nothing."""
    if previous == 0:
        return None
    return round((current - previous) * 100.0 / previous, 1)


def top_entries(docs: Iterable[Mapping[str, Any]], n: int = TOP_N) -> dict[str, list[dict[str, Any]]]:
    """The ``n`` largest signatures, sources and blocked destinations; the ``others`` bucket apart."""
    sums: dict[str, Counter[str]] = {dim: Counter() for dim in DIMENSIONS}
    for doc in docs:
        for dim, values in (doc.get(TOP_FIELD) or {}).items():
            if dim in sums and isinstance(values, Mapping):
                sums[dim].update({k: int(v) for k, v in values.items()})
    result: dict[str, list[dict[str, Any]]] = {}
    for dim, counts in sums.items():
        others = counts.pop(OTHERS, 0)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        rows = [{"name": unescape_key(k), "count": c} for k, c in ranked[:n]]
        rest = sum(c for _, c in ranked[n:]) + others
        result[dim] = rows
        result[f"{dim}_others"] = [{"name": "その他", "count": rest}] if rest else []
    return result


def severity_map(counter: Mapping[int, int]) -> dict[str, int]:
    return {str(s): int(counter.get(s, 0)) for s in SEVERITIES}


def category_rows(tally: Tally, names: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = [
        {
            "key": key,
            "name": names.get(key, key),
            "count": count,
            "by_severity": {str(s): tally.by_category_severity.get((key, s), 0) for s in SEVERITIES},
        }
        for key, count in tally.by_category.items()
    ]
    return sorted(rows, key=lambda r: (-r["count"], r["key"]))


def threat_report(
    period: Period,
    units: Mapping[str, Mapping[str, str]],
    docs: Iterable[Mapping[str, Any]],
    previous_docs: Iterable[Mapping[str, Any]],
    names: Mapping[str, str],
) -> dict[str, Any]:
    """The UTM脅威レポート from the company's counter documents of the period and the one before.

    ``units`` maps serial numbers of the company's units to {unit_id, name}; documents of other
    serials are ignored.
    """
    total = Tally()
    per_unit: dict[str, Tally] = defaultdict(Tally)
    hours: Counter[str] = Counter()
    daily: dict[str, Tally] = {d.isoformat(): Tally() for d in period.dates()}
    kept: list[Mapping[str, Any]] = []
    for doc in docs:
        serial = doc.get("serial_number", "")
        if serial not in units:
            continue
        kept.append(doc)
        hours[serial] += int(doc.get("hours", 1))
        total.add_document(doc)
        per_unit[serial].add_document(doc)
        day = daily.get(jst_day_of(doc["hour"]).isoformat())
        if day is not None:
            day.add_document(doc)
    previous = Tally()
    for doc in previous_docs:
        if doc.get("serial_number", "") in units:
            previous.add_document(doc)
    unit_rows = [
        {
            "unit_id": info["unit_id"],
            "name": info["name"],
            "serial_number": serial,
            "total": per_unit[serial].total,
            "important": per_unit[serial].important,
            "by_severity": severity_map(per_unit[serial].by_severity),
            "by_category": {k: v for k, v in per_unit[serial].by_category.items()},
            "monitored_hours": hours[serial],
            "online_percent": round(hours[serial] * 100.0 / period.hours, 1),
        }
        for serial, info in sorted(units.items(), key=lambda kv: (kv[1]["name"], kv[0]))
    ]
    top = top_entries(kept)
    return {
        "period": period_view(period),
        "previous_period": period_view(period.previous()),
        "total": total.total,
        "important": total.important,
        "by_severity": severity_map(total.by_severity),
        "by_category": category_rows(total, names),
        "previous": {
            "total": previous.total,
            "important": previous.important,
            "by_severity": severity_map(previous.by_severity),
            "by_category": dict(previous.by_category),
        },
        "change_percent": change_percent(total.total, previous.total),
        "important_change_percent": change_percent(total.important, previous.important),
        "daily": [
            {"date": day, "total": t.total, "by_severity": severity_map(t.by_severity)}
            for day, t in daily.items()
        ],
        "top_signatures": top["sig"],
        "top_signatures_others": top["sig_others"],
        "top_sources": top["src"],
        "top_sources_others": top["src_others"],
        "top_destinations": top["dst"],
        "top_destinations_others": top["dst_others"],
        "units": unit_rows,
    }


def period_view(period: Period) -> dict[str, Any]:
    return {
        "first": period.first.isoformat(),
        "last": period.last.isoformat(),
        "days": period.days,
        "label": period.label(),
    }


def unit_comparison(report: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """自社UTM同士の比較: each unit's measures side by side, the one with most ★★☆+ threats marked."""
    units = []
    for row in report["units"]:
        monitored_days = row["monitored_hours"] / 24.0
        units.append(
            {
                **row,
                "per_day": round(row["total"] / monitored_days, 2) if monitored_days else None,
                "important_per_day": round(row["important"] / monitored_days, 2) if monitored_days else None,
            }
        )
    most = max((u["important"] for u in units), default=0)
    for u in units:
        u["highlight"] = most > 0 and u["important"] == most
    categories = sorted({k for u in units for k in u["by_category"]})
    return {
        "period": report["period"],
        "units": units,
        "categories": [{"key": k, "name": names.get(k, k)} for k in categories],
        "most_important": most,
    }


# --- company comparison (k-anonymous) ---


@dataclass(slots=True)
class CompanyRates:
    """One company's threats per unit per monitored day, by category and by severity."""

    unit_days: float
    by_category: dict[str, float]
    by_severity: dict[int, float]
    total: float


def company_rates(rows: Iterable[Mapping[str, Any]]) -> dict[str, CompanyRates]:
    """Rates per company from per-company sums: {company_id, hours, categories{k: n}, severities{s: n}}.

    A company without any monitored hour does not participate.
    """
    rates: dict[str, CompanyRates] = {}
    for row in rows:
        unit_days = row["hours"] / 24.0
        if unit_days <= 0:
            continue
        by_category = {k: n / unit_days for k, n in row["categories"].items()}
        by_severity = {s: row["severities"].get(s, 0) / unit_days for s in SEVERITIES}
        rates[row["company_id"]] = CompanyRates(
            unit_days, by_category, by_severity, sum(row["severities"].values()) / unit_days
        )
    return rates


def peer_figure(own: float | None, values: list[float]) -> dict[str, Any]:
    """Mean, median and the company's percentile, or nothing when fewer than MIN_COMPANIES contribute.

    The percentile is the share of participating companies with a lower rate (ties count half):
    0 means the fewest threats of all, 100 the most.
    """
    figure: dict[str, Any] = {"own": round(own, 3) if own is not None else None, "published": False}
    if len(values) < MIN_COMPANIES:
        return figure
    figure.update(
        published=True,
        companies=len(values),
        mean=round(statistics.fmean(values), 3),
        median=round(statistics.median(values), 3),
    )
    if own is not None:
        lower = sum(1 for v in values if v < own)
        equal = sum(1 for v in values if v == own)
        figure["percentile"] = round((lower + 0.5 * equal) * 100.0 / len(values))
    return figure


def company_comparison(
    company_id: str, period: Period, rates: Mapping[str, CompanyRates], names: Mapping[str, str]
) -> dict[str, Any]:
    """This company against all participating companies; only aggregates of the others leave here."""
    own = rates.get(company_id)
    population = list(rates.values())
    categories = sorted({k for r in population for k in r.by_category})
    published = len(population) >= MIN_COMPANIES
    return {
        "period": period_view(period),
        "min_companies": MIN_COMPANIES,
        "published": published,
        "participating": own is not None,
        "own_unit_days": round(own.unit_days, 2) if own else 0,
        "total": peer_figure(own.total if own else None, [r.total for r in population]),
        "by_severity": [
            {
                "severity": s,
                "label": severity_label(s),
                **peer_figure(own.by_severity[s] if own else None, [r.by_severity[s] for r in population]),
            }
            for s in SEVERITIES
        ],
        "by_category": [
            {
                "key": k,
                "name": names.get(k, k),
                **peer_figure(
                    own.by_category.get(k, 0.0) if own else None,
                    [r.by_category.get(k, 0.0) for r in population],
                ),
            }
            for k in (categories if published else [])
        ],
    }


def company_sums(docs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per-company monitored unit-hours and threats by category and severity."""
    sums: dict[str, Tally] = defaultdict(Tally)
    hours: Counter[str] = Counter()
    for doc in docs:
        company = doc.get("company_id", "")
        hours[company] += int(doc.get("hours", 1))
        sums[company].add_document(doc)
    return [
        {
            "company_id": company,
            "hours": hours[company],
            "categories": dict(tally.by_category),
            "severities": dict(tally.by_severity),
        }
        for company, tally in sums.items()
    ]


# --- reading the counters ---


class ReportReader:
    """Reads counter documents and the unit projection; caches the peer sums of days not rolled up."""

    def __init__(self, db: AsyncDatabase[Any], *, cache_seconds: float = PEER_CACHE_SECONDS) -> None:
        self.counters = db["counters"]
        self.units = db["units"]
        self.rollups = DailyRollups(db)
        self.cache_seconds = cache_seconds
        self._peer_cache: dict[tuple[date, ...], tuple[float, list[dict[str, Any]]]] = {}
        self._lock = asyncio.Lock()

    async def company_units(self, company_id: str) -> dict[str, dict[str, str]]:
        """serial → {unit_id, name} of the company's registered units."""
        return {
            d["_id"]: {"unit_id": d["unit_id"], "name": d.get("name", "")}
            async for d in self.units.find({"company_id": company_id}, {"unit_id": 1, "name": 1})
        }

    async def _docs(
        self, query: dict[str, Any], period: Period, fields: dict[str, int]
    ) -> list[dict[str, Any]]:
        """Counter documents of ``period``: one per unit and day where the day is rolled up, else hourly."""
        rolled = await self.rollups.rolled_days(period)
        hourly = [d for d in period.dates() if d not in rolled]
        reads = []
        if rolled:
            days = [datetime.combine(d, dtime.min, tzinfo=JST).astimezone(UTC) for d in sorted(rolled)]
            reads.append(self.rollups.daily.find({**query, "hour": {"$in": days}}, fields).to_list())
        for first, last in _runs(hourly):
            span = Period(first, last)
            reads.append(
                self.counters.find(
                    {**query, "hour": {"$gte": span.since, "$lt": span.until}}, fields
                ).to_list()
            )
        found: list[dict[str, Any]] = []
        for part in await asyncio.gather(*reads):
            found.extend(part)
        return found

    async def company_docs(
        self, company_id: str, period: Period, *, with_top: bool = True
    ) -> list[dict[str, Any]]:
        """The company's counters: daily roll-ups of finished days, hourly documents of the others."""
        fields = {**COUNTER_FIELDS, TOP_FIELD: 1} if with_top else dict(COUNTER_FIELDS)
        return await self._docs({"company_id": company_id}, period, fields)

    async def threat_report(
        self, company_id: str, period: Period, names: Mapping[str, str]
    ) -> dict[str, Any]:
        units = await self.company_units(company_id)
        docs, previous = await asyncio.gather(
            self.company_docs(company_id, period),
            self.company_docs(company_id, period.previous(), with_top=False),
        )
        return threat_report(period, units, docs, previous, names)

    async def peer_rows(self, period: Period) -> list[dict[str, Any]]:
        """Per-company sums of every company over the period.

        Rolled-up days come from their ``peer_days`` documents (one per day, rewritten whenever the
        day is rebuilt, so never stale); days still read from hourly counters (today, yesterday
        before its roll-up) are summed from those and kept for ``cache_seconds``.
        """
        rolled = await self.rollups.rolled_days(period)
        parts: list[list[dict[str, Any]]] = []
        found: set[date] = set()
        if rolled:
            async for doc in self.rollups.peers.find({"_id": {"$in": [d.isoformat() for d in rolled]}}):
                found.add(date.fromisoformat(doc["_id"]))
                parts.append(peer_rows_of(doc))
        fields = {"company_id": 1, "threats": 1, "hours": 1}
        # Days rolled up before the peer documents existed: from their daily documents.
        for first, last in _runs(sorted(rolled - found)):
            span = Period(first, last)
            parts.append(company_sums(d for d in await self._docs({}, span, fields) if d.get("company_id")))
        live = [d for d in period.dates() if d not in rolled]
        if live:
            parts.append(await self._live_peer_rows(tuple(live)))
        return merge_company_sums(parts)

    async def _live_peer_rows(self, days: tuple[date, ...]) -> list[dict[str, Any]]:
        now = time.monotonic()
        async with self._lock:
            hit = self._peer_cache.get(days)
            if hit is not None and now - hit[0] < self.cache_seconds:
                return hit[1]
            fields = {"company_id": 1, "threats": 1, "hours": 1}
            # By hour only (the hour index), the documents without a company left out here.
            reads = [
                self.counters.find(
                    {"hour": {"$gte": Period(a, b).since, "$lt": Period(a, b).until}}, fields
                ).to_list()
                for a, b in _runs(list(days))
            ]
            rows = company_sums(
                d for part in await asyncio.gather(*reads) for d in part if d.get("company_id")
            )
            self._peer_cache = {k: v for k, v in self._peer_cache.items() if now - v[0] < self.cache_seconds}
            self._peer_cache[days] = (now, rows)
            return rows

    async def own_row(self, company_id: str, period: Period) -> list[dict[str, Any]]:
        fields = {"company_id": 1, "threats": 1, "hours": 1}
        return company_sums(await self._docs({"company_id": company_id}, period, fields))

    async def company_comparison(
        self, company_id: str, period: Period, names: Mapping[str, str]
    ) -> dict[str, Any]:
        """Peers from the (cached) sums of every company; the company's own row read fresh."""
        peers, own = await asyncio.gather(self.peer_rows(period), self.own_row(company_id, period))
        rows = [r for r in peers if r["company_id"] != company_id] + own
        rates = company_rates(rows)
        return company_comparison(company_id, period, rates, names)


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive runs of sorted days, as (first, last) pairs."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _add_into(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    """Add nested counts of ``source`` into ``target``."""
    for key, value in source.items():
        if isinstance(value, Mapping):
            _add_into(target.setdefault(key, {}), value)
        elif isinstance(value, int | float):
            target[key] = target.get(key, 0) + value


class DailyRollups:
    """One document per company, unit and JST day, summed from the hourly counters of that day.

    Reports read these for finished days (30 per unit and month instead of 720 hourly documents),
    and the comparison reads one ``peer_days`` document per day: every company's monitored hours and
    threats by category and severity of that day, made by the same build. A day is rolled up once it
    is over (plus ``GRACE``) and marked in ``rollup_days``; days without a mark are read from the
    hourly documents.

    Late records: every counter update stamps the hourly document's ``updated_at`` with the server's
    clock (``repository.counter_updates``). Each run asks which hours changed since its last scan
    (less ``CHANGE_MARGIN``, longer than any transaction lives, so a write committed late is still
    seen) and rebuilds every finished day among them, however old. A build replaces the day's
    documents with the sums of its hourly counters, so a late count lands in the roll-ups exactly
    once, and rebuilding a day twice changes nothing.
    """

    GRACE = timedelta(hours=1)
    BACKFILL_DAYS = 62
    CHANGE_MARGIN = timedelta(minutes=10)
    STATE_ID = "changes"

    def __init__(self, db: AsyncDatabase[Any], *, change_margin: timedelta = CHANGE_MARGIN) -> None:
        self.change_margin = change_margin
        self.counters = db["counters"]
        self.daily = db["counters_daily"]
        self.peers = db["peer_days"]
        self.marks = db["rollup_days"]
        self.state = db["rollup_state"]

    async def ensure_indexes(self) -> None:
        await self.daily.create_index([("company_id", 1), ("hour", 1)])
        await self.daily.create_index([("hour", 1)])
        # A day's build reads its hours across all companies; a run asks for the changed hours.
        await self.counters.create_index([("hour", 1)])
        await self.counters.create_index([("updated_at", 1)])

    async def rolled_days(self, period: Period) -> set[date]:
        wanted = [d.isoformat() for d in period.dates()]
        return {
            date.fromisoformat(m["_id"]) async for m in self.marks.find({"_id": {"$in": wanted}}, {"_id": 1})
        }

    async def run(self, now: datetime) -> list[date]:
        """Roll up every finished day of the backfill window not rolled up yet, and every finished
        day whose hourly counters changed since the last run; returns the days built."""
        last = jst_today(now - self.GRACE) - timedelta(days=1)
        window = Period(last - timedelta(days=self.BACKFILL_DAYS - 1), last)
        scan: dict[str, Any] = (
            await self.state.find_one_and_update(
                {"_id": self.STATE_ID},
                {"$currentDate": {"scanning_at": True}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            or {}
        )
        # The first run has no earlier scan: the days of the window are built as not rolled up yet.
        changed = await self.changed_days(scan.get("scanned_at", scan.get("scanning_at")))
        done = await self.rolled_days(window)
        due = sorted({d for d in window.dates() if d not in done} | {d for d in changed if d <= last})
        for day in due:
            await self.build(day, now)
        # Only once every changed day is built does the next run start from this scan.
        if "scanning_at" in scan:
            await self.state.update_one({"_id": self.STATE_ID}, {"$max": {"scanned_at": scan["scanning_at"]}})
        return due

    async def changed_days(self, since: datetime | None) -> set[date]:
        """JST days of the hourly counters updated at or after ``since`` less the margin."""
        if since is None:
            return set()
        query = {"updated_at": {"$gte": since - self.change_margin}}
        return {jst_day_of(hour) for hour in await self.counters.distinct("hour", query)}

    async def build(self, day: date, now: datetime) -> int:
        """Sum the day's hourly documents per company and unit; returns how many day documents."""
        span = Period(day, day)
        start = span.since
        sums: dict[tuple[str, str], dict[str, Any]] = {}
        fields = {"company_id": 1, "serial_number": 1, "threats": 1, "benign": 1, TOP_FIELD: 1}
        async for doc in self.counters.find({"hour": {"$gte": span.since, "$lt": span.until}}, fields):
            key = (doc.get("company_id", ""), doc.get("serial_number", ""))
            total = sums.setdefault(key, {"hours": 0})
            total["hours"] += 1
            _add_into(total, {k: v for k, v in doc.items() if k in ("threats", "benign", TOP_FIELD)})
        ops = [
            ReplaceOne(
                {"_id": f"{company}|{serial}|{day:%Y%m%d}"},
                {"company_id": company, "serial_number": serial, "hour": start, **total},
                upsert=True,
            )
            for (company, serial), total in sums.items()
        ]
        if ops:
            await self.daily.bulk_write(ops, ordered=False)
        rows = company_sums(
            {"company_id": company, "hours": total["hours"], "threats": total.get("threats", {})}
            for (company, _), total in sums.items()
            if company
        )
        await self.peers.replace_one({"_id": day.isoformat()}, peer_day_document(day, rows), upsert=True)
        await self.marks.update_one({"_id": day.isoformat()}, {"$set": {"built_at": now}}, upsert=True)
        return len(ops)


def peer_day_document(day: date, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``peer_days`` document of a day from its per-company sums (see ``company_sums``)."""
    return {
        "_id": day.isoformat(),
        "companies": [
            {**row, "severities": {str(s): n for s, n in row["severities"].items()}} for row in rows
        ],
    }


def peer_rows_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The per-company sums kept in a ``peer_days`` document."""
    return [
        {**row, "severities": {int(s): int(n) for s, n in row["severities"].items()}}
        for row in doc.get("companies", [])
    ]


def merge_company_sums(parts: Iterable[Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Per-company sums of several spans added together."""
    merged: dict[str, dict[str, Any]] = {}
    for rows in parts:
        for row in rows:
            total = merged.setdefault(
                row["company_id"],
                {
                    "company_id": row["company_id"],
                    "hours": 0,
                    "categories": Counter(),
                    "severities": Counter(),
                },
            )
            total["hours"] += row["hours"]
            total["categories"].update(row["categories"])
            total["severities"].update(row["severities"])
    return [
        {**row, "categories": dict(row["categories"]), "severities": dict(row["severities"])}
        for row in merged.values()
    ]
