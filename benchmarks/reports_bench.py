"""Report latency benchmark (``make bench-reports``; not a test).

Writes the aggregates the reports read, directly and in bulk, into a fresh alert-pipeline database:
100 companies × 2 units × 89 days of hourly counter documents (threats by category and severity,
top-N material) for 20,000 events per unit per day (about 5 % threats), the daily roll-ups the
pipeline's roll-up job makes of finished days and the per-day peer documents it writes with them
(which the comparison's population is read from). One alert-pipeline process serves the report API;
each measured request is what the portal does for a page, for its own company and its own period
of 30 (or 27 to 29) days never asked before, so no figure comes from a cache of an earlier request:

- report_p95_ms: GET /reports/threats (the period and the one before, for the change figures),
  then the page's HTML sections and its two SVG charts rendered with the gateway's templates and
  chart code;
- compare_p95_ms: GET /reports/compare (peer figures over all 100 companies) and its page
  sections and chart;
- pdf_p95_ms: GET /reports/threats and the A4 PDF rendered by WeasyPrint.

The process's first request and first PDF (which loads the fonts) are printed on lines of their own.
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
sys.path.insert(0, str(ROOT / "tests"))  # the process starter of the tests: one for both

from alert_pipeline.reports import company_sums, peer_day_document  # noqa: E402
from gateway import report_export  # noqa: E402
from gateway.report_charts import CHARTS  # noqa: E402
from gateway.web import templates  # noqa: E402
from shared.auth import Principal, issue_token  # noqa: E402
from shared.periods import Period  # noqa: E402
from shared.settings import DEV_TOKEN_PRIVATE_KEY  # noqa: E402
from support.processes import ServiceProcess, free_port  # noqa: E402

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


async def _seed(db: Any, days: list[date], companies: int, units: int, per_day: int) -> tuple[int, int]:
    """Hourly counters of ``days``, the daily roll-ups of those finished days and their peer documents.

    Hourly documents take their counts from a pool of 1,000 drawn ones (the reports read the daily
    roll-ups of finished days; the hourly ones are there for the indexes' and the cache's sake);
    every daily document is drawn on its own.
    """
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
    pool = [_counts(rng, per_day // 24, 1, 8) for _ in range(1000)]
    hourly = daily = 0
    by_day: dict[date, list[dict[str, Any]]] = {day: [] for day in days}
    for c in range(companies):
        company = f"C-{c:03d}"
        hour_docs, day_docs = [], []
        for u in range(units):
            serial = f"SER-{c}-{u}"
            for day in days:
                start = Period(day, day).since
                for h in range(24):
                    hour = start + timedelta(hours=h)
                    key = {"company_id": company, "serial_number": serial, "hour": hour,
                           "updated_at": hour + timedelta(hours=1)}  # fmt: skip
                    hour_docs.append(
                        {"_id": f"{company}|{serial}|{hour:%Y%m%d%H}", **key, **rng.choice(pool)}
                    )
                key = {"company_id": company, "serial_number": serial, "hour": start}
                doc = {"_id": f"{company}|{serial}|{day:%Y%m%d}", **key, **_counts(rng, per_day, 24, 30)}
                day_docs.append(doc)
                by_day[day].append(doc)
        await db["counters"].insert_many(hour_docs, ordered=False)
        await db["counters_daily"].insert_many(day_docs, ordered=False)
        hourly += len(hour_docs)
        daily += len(day_docs)
    # What the roll-up job writes next to the daily documents: every company's sums of the day.
    await db["peer_days"].insert_many(
        [peer_day_document(d, company_sums(docs)) for d, docs in by_day.items()]
    )
    await db["counters"].create_index([("company_id", 1), ("hour", 1)])
    await db["counters"].create_index([("hour", 1)])
    await db["counters"].create_index([("updated_at", 1)])
    await db["counters_daily"].create_index([("company_id", 1), ("hour", 1)])
    await db["counters_daily"].create_index([("hour", 1)])
    await db["rollup_days"].insert_many([{"_id": d.isoformat()} for d in days])
    return hourly, daily


def _periods(last: date, days: int, n: int) -> list[Period]:
    """``n`` distinct periods of ``days`` to ``days - 3`` days ending in the ``days`` days up to ``last``."""
    ends = [last - timedelta(days=i) for i in range(days)]
    lengths = range(days, days - 4, -1)
    return [Period(end - timedelta(days=length - 1), end) for length in lengths for end in ends][:n]


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
    # Every measured request asks for its own period (and company): nothing is served from a
    # previous request's period. Two more periods for the warm-up requests.
    wanted = 2 * args.requests + args.pdf_requests + 2
    periods = _periods(date(2026, 10, 31), args.days, wanted)
    if len(periods) < wanted:
        parser.error(f"--days {args.days} gives {len(periods)} distinct periods, {wanted} wanted")
    first_day = min(p.previous().first for p in periods)
    days = Period(first_day, date(2026, 10, 31)).dates()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URI"], tz_aware=True)
    started = time.perf_counter()
    hourly, daily = await _seed(mongo[database], days, args.companies, args.units, args.events_per_unit_day)
    print(
        f"seeded {hourly} hourly counter and {daily} daily roll-up documents ({len(days)} days from"
        f" {days[0]}) in {time.perf_counter() - started:.1f}s",
        flush=True,
    )

    log = ROOT / ".state" / "bench" / "logs" / "reports-bench-alert-pipeline.log"
    pipeline = ServiceProcess(
        name="alert-pipeline",
        port=free_port(),
        env={"APP_ENV": "test", "LOG_LEVEL": "WARNING", "ALERT_PIPELINE_DATABASE": database,
             "ALERT_PIPELINE_CONSUMER_GROUP": f"alert-pipeline-reports-bench-{run}"},
        log_path=log,
    ).start(wait=False)  # fmt: skip
    rng = random.Random(7)
    companies = [f"C-{c:03d}" for c in range(args.companies)]
    timings: dict[str, list[float]] = {"report": [], "compare": [], "pdf": []}
    pdf_cpu: list[float] = []  # the rendering's processor time: what a busy machine does not change
    try:
        await asyncio.to_thread(pipeline.wait_ready)
        async with httpx.AsyncClient(base_url=pipeline.url, timeout=60) as client:

            async def fetch(path: str, company: str, period: Period) -> dict[str, Any]:
                token = issue_token(
                    Principal(account_id=f"A-{company}", company_id=company, role="customer"),
                    private_key=DEV_TOKEN_PRIVATE_KEY,
                )
                params = {"first": period.first.isoformat(), "last": period.last.isoformat()}
                response = await client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
                response.raise_for_status()
                body: dict[str, Any] = response.json()
                return body

            def sample() -> tuple[str, Period]:
                """A company (each once, as long as there are enough) and a period never asked before."""
                if not pending:
                    pending.extend(rng.sample(companies, len(companies)))
                return pending.pop(), periods.pop()

            pending: list[str] = []
            t = time.perf_counter()
            await fetch("/reports/threats", *sample())  # the process's first request
            print(f"first request of the process: {(time.perf_counter() - t) * 1000:.1f} ms", flush=True)
            t = time.perf_counter()
            report_export.report_pdf("threats", "UTM脅威レポート", "ベンチマーク株式会社",
                                     await fetch("/reports/threats", *sample()))  # fmt: skip
            print(f"first PDF of the process (fonts loaded): {(time.perf_counter() - t) * 1000:.1f} ms")
            for _ in range(args.requests):
                t = time.perf_counter()
                _page("threats", await fetch("/reports/threats", *sample()), charts=True)
                timings["report"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                _page("average", await fetch("/reports/compare", *sample()), charts=True)
                timings["compare"].append((time.perf_counter() - t) * 1000)
            for _ in range(args.pdf_requests):
                t = time.perf_counter()
                report = await fetch("/reports/threats", *sample())
                cpu = time.process_time()
                report_export.report_pdf("threats", "UTM脅威レポート", "ベンチマーク株式会社", report)
                pdf_cpu.append((time.process_time() - cpu) * 1000)
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
    print(f"pdf rendering cpu ms: {sorted(round(t) for t in pdf_cpu)}", flush=True)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
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
