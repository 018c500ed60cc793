"""Report latency benchmark (``make bench-reports``; not a test).

Writes the aggregates the reports read, directly and in bulk, into a fresh alert-pipeline database:
100 companies × 2 units × 30 days (and the 30 days before, for the change figures) of hourly
counter documents (threats by category and severity, top-N material) for 20,000 events per unit
per day (about 5 % threats), and the daily roll-ups the pipeline's roll-up job makes of finished
days (which the comparison's population is read from). One alert-pipeline process serves the report API;
each measured request is what the portal does for a page:

- report_p95_ms: GET /reports/threats for a random company and the 30 days, then the page's
  HTML sections and its two SVG charts rendered with the gateway's templates and chart code;
- compare_p95_ms: GET /reports/compare (peer figures over all 100 companies) and its page
  sections and chart; the first, uncached request is printed on a line of its own;
- pdf_p95_ms: GET /reports/threats and the A4 PDF rendered by WeasyPrint.

The last line is one JSON object with those keys, ``companies``, ``units`` and ``events``.
Run directly, it uses the servers of the environment (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI).
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline_bench import _service  # noqa: E402

from gateway import report_export  # noqa: E402
from gateway.report_charts import CHARTS  # noqa: E402
from gateway.web import templates  # noqa: E402
from shared.auth import Principal, issue_token  # noqa: E402
from shared.periods import Period  # noqa: E402
from shared.settings import DEV_TOKEN_PRIVATE_KEY  # noqa: E402

CATEGORIES = ("webfilter", "antivirus", "ips", "appctrl", "botnet", "dnsfilter", "other")
THREAT_SHARE = 0.05


def _counts(rng: random.Random, events: int, hours: int, top_keys: int) -> dict[str, Any]:
    """Benign and threat counts (about 5 % threats, mostly ★☆☆) and top-N material for ``events``."""
    threats_n = int(events * THREAT_SHARE)
    threats: dict[str, dict[str, int]] = {}
    share = max(1, threats_n // len(CATEGORIES))
    for category in CATEGORIES:
        n = rng.randint(share // 2, share * 3 // 2)
        high = rng.randint(0, n // 20)
        middle = rng.randint(0, n // 4)
        threats[category] = {
            "count": n,
            "severity_3": high,
            "severity_2": middle,
            "severity_1": n - high - middle,
        }
    top = {
        dim: {f"{dim}-{rng.randrange(pool)}%2Eexample": rng.randint(1, 1 + 2 * threats_n // top_keys)
              for _ in range(top_keys)}
        for dim, pool in (("sig", 40), ("src", 15), ("dst", 60))
    }  # fmt: skip
    return {"hours": hours, "benign": {"traffic": events - threats_n}, "threats": threats, "top": top}


async def _seed(db: Any, period: Period, companies: int, units: int, per_day: int) -> tuple[int, int]:
    """Hourly counters (this period and the one before) and the daily roll-ups of the finished days."""
    rng = random.Random(42)
    await db["units"].insert_many(
        [
            {
                "_id": f"SER-{c}-{u}",
                "unit_id": f"U-{c}-{u}",
                "company_id": f"C-{c:03d}",
                "name": f"拠点{u + 1}",
            }
            for c in range(companies)
            for u in range(units)
        ]
    )
    days = period.previous().dates() + period.dates()
    hourly = daily = 0
    for c in range(companies):
        company = f"C-{c:03d}"
        hour_docs, day_docs = [], []
        for u in range(units):
            serial = f"SER-{c}-{u}"
            for day in days:
                start = Period(day, day).since
                for h in range(24):
                    hour = start + timedelta(hours=h)
                    key = {"company_id": company, "serial_number": serial, "hour": hour}
                    counts = _counts(rng, per_day // 24, 1, 8)
                    hour_docs.append({"_id": f"{company}|{serial}|{hour:%Y%m%d%H}", **key, **counts})
                key = {"company_id": company, "serial_number": serial, "hour": start}
                day_docs.append(
                    {"_id": f"{company}|{serial}|{day:%Y%m%d}", **key, **_counts(rng, per_day, 24, 30)}
                )
        await db["counters"].insert_many(hour_docs, ordered=False)
        await db["counters_daily"].insert_many(day_docs, ordered=False)
        hourly += len(hour_docs)
        daily += len(day_docs)
    await db["counters"].create_index([("company_id", 1), ("hour", 1)])
    await db["counters_daily"].create_index([("company_id", 1), ("hour", 1)])
    await db["counters_daily"].create_index([("hour", 1)])
    await db["rollup_days"].insert_many([{"_id": d.isoformat()} for d in days])
    return hourly, daily


def _page(kind: str, report: dict[str, Any], charts: bool) -> str:
    alts = report_export.chart_alternatives(kind, report)
    html = templates.get_template(f"reports/_{kind}.html").render(report=report, chart_src=str, alts=alts)
    if charts:
        html += "".join(draw(report) for (k, _), draw in CHARTS.items() if k == kind)
    return html


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=20, method="inclusive")[18], 1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--units", type=int, default=2)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events-per-unit-day", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--pdf-requests", type=int, default=10)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    database = f"alert-pipeline-reports-bench-{run}"
    last = date(2026, 10, 31)
    period = Period(last - timedelta(days=args.days - 1), last)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URI"], tz_aware=True)
    started = time.perf_counter()
    hourly, daily = await _seed(mongo[database], period, args.companies, args.units, args.events_per_unit_day)
    print(
        f"seeded {hourly} hourly counter and {daily} daily roll-up documents (this period and the one"
        f" before) in {time.perf_counter() - started:.1f}s",
        flush=True,
    )

    log = ROOT / ".state" / "bench" / "logs" / "reports-bench-alert-pipeline.log"
    pipeline = _service(
        "alert-pipeline",
        {"APP_ENV": "test", "LOG_LEVEL": "WARNING", "ALERT_PIPELINE_DATABASE": database,
         "ALERT_PIPELINE_CONSUMER_GROUP": f"alert-pipeline-reports-bench-{run}"},
        log,
    )  # fmt: skip
    rng = random.Random(7)
    params = {"first": period.first.isoformat(), "last": period.last.isoformat()}
    timings: dict[str, list[float]] = {"report": [], "compare": [], "pdf": []}
    try:
        await asyncio.to_thread(pipeline.wait_ready)
        async with httpx.AsyncClient(base_url=pipeline.url, timeout=60) as client:

            async def fetch(path: str) -> dict[str, Any]:
                company = f"C-{rng.randrange(args.companies):03d}"
                token = issue_token(
                    Principal(account_id=f"A-{company}", company_id=company, role="customer"),
                    private_key=DEV_TOKEN_PRIVATE_KEY,
                )
                response = await client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
                response.raise_for_status()
                body: dict[str, Any] = response.json()
                return body

            t = time.perf_counter()
            cold = await fetch("/reports/compare")
            _page("average", cold, charts=True)
            print(
                f"compare (peer figures not cached yet): {(time.perf_counter() - t) * 1000:.1f} ms",
                flush=True,
            )
            await fetch("/reports/threats")  # warm-up
            for _ in range(args.requests):
                t = time.perf_counter()
                _page("threats", await fetch("/reports/threats"), charts=True)
                timings["report"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                _page("average", await fetch("/reports/compare"), charts=True)
                timings["compare"].append((time.perf_counter() - t) * 1000)
            for _ in range(args.pdf_requests):
                t = time.perf_counter()
                report = await fetch("/reports/threats")
                report_export.report_pdf("threats", "UTM脅威レポート", "ベンチマーク株式会社", report)
                timings["pdf"].append((time.perf_counter() - t) * 1000)
    finally:
        pipeline.stop()
        try:
            await mongo.drop_database(database)
        except Exception as exc:  # the figures matter more than the cleanup (the folder is wiped anyway)
            print(f"database not dropped: {exc}", flush=True)
        await mongo.close()
    print(f"report ms: {sorted(round(t) for t in timings['report'])}", flush=True)
    print(f"compare ms: {sorted(round(t) for t in timings['compare'])}", flush=True)
    print(f"pdf ms: {sorted(round(t) for t in timings['pdf'])}", flush=True)
    print(
        json.dumps(
            {
                "report_p95_ms": _p95(timings["report"]),
                "compare_p95_ms": _p95(timings["compare"]),
                "pdf_p95_ms": _p95(timings["pdf"]),
                "companies": args.companies,
                "units": args.companies * args.units,
                "events": args.companies * args.units * args.days * args.events_per_unit_day,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
