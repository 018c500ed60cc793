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

from pymongo import ReplaceOne
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
    """Reads counter documents and the unit projection; caches the peer sums per period."""

    def __init__(self, db: AsyncDatabase[Any], *, cache_seconds: float = PEER_CACHE_SECONDS) -> None:
        self.counters = db["counters"]
        self.units = db["units"]
        self.rollups = DailyRollups(db)
        self.cache_seconds = cache_seconds
        self._peer_cache: dict[tuple[datetime, datetime], tuple[float, list[dict[str, Any]]]] = {}
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
        """Per-company sums over every company's counters of the period (cached: same for everyone)."""
        key = (period.since, period.until)
        now = time.monotonic()
        async with self._lock:
            hit = self._peer_cache.get(key)
            if hit is not None and now - hit[0] < self.cache_seconds:
                return hit[1]
            rows = await self._peer_rows(period)
            self._peer_cache = {k: v for k, v in self._peer_cache.items() if now - v[0] < self.cache_seconds}
            self._peer_cache[key] = (now, rows)
            return rows

    async def _peer_rows(self, period: Period) -> list[dict[str, Any]]:
        fields = {"company_id": 1, "threats": 1, "hours": 1}
        return company_sums(await self._docs({"company_id": {"$ne": ""}}, period, fields))

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

    Reports read these for finished days (30 per unit and month instead of 720 hourly documents). A
    day is rolled up once it is over (plus ``GRACE``) and marked in ``rollup_days``; the last
    ``REBUILD_DAYS`` days are rebuilt on every run, so records arriving late still count. Days without
    a mark are read from the hourly documents.
    """

    GRACE = timedelta(hours=1)
    REBUILD_DAYS = 3
    BACKFILL_DAYS = 62

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.counters = db["counters"]
        self.daily = db["counters_daily"]
        self.marks = db["rollup_days"]

    async def ensure_indexes(self) -> None:
        await self.daily.create_index([("company_id", 1), ("hour", 1)])
        await self.daily.create_index([("hour", 1)])

    async def rolled_days(self, period: Period) -> set[date]:
        wanted = [d.isoformat() for d in period.dates()]
        return {
            date.fromisoformat(m["_id"]) async for m in self.marks.find({"_id": {"$in": wanted}}, {"_id": 1})
        }

    async def run(self, now: datetime) -> list[date]:
        """Roll up every finished day of the backfill window not rolled up yet, and rebuild the latest."""
        last = jst_today(now - self.GRACE) - timedelta(days=1)
        window = Period(last - timedelta(days=self.BACKFILL_DAYS - 1), last)
        done = await self.rolled_days(window)
        due = [d for d in window.dates() if d not in done or d > last - timedelta(days=self.REBUILD_DAYS)]
        for day in due:
            await self.build(day, now)
        return due

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
        await self.marks.update_one({"_id": day.isoformat()}, {"$set": {"built_at": now}}, upsert=True)
        return len(ops)
