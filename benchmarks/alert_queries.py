"""Per-call cost of the dashboard's and the alert log's database work (not a test).

Seeds a fresh alert-pipeline database like ``make load`` (``--companies`` companies × 2 units × 30
days × 20 alerts per unit and day, ≈2 KB each) and times, on one company, the queries each page
made before and the ones it makes now, one call at a time:

- dashboard before: the units read twice, the totals aggregate, the latest 5 (a sort of the whole
  period), the count of open ★★☆+; after: ``alert_summary`` (units once, one grouped pass, the
  latest 5 read backwards in time windows);
- alert log before: the total and one sorted, skipped and limited find over the whole period;
  after: ``alert_page`` (the same total, the page read in windows), for page 1 and a deep page;
- the total alone: ``count_documents`` against a find of the ids only and against the aggregate
  whose first stage matches only the company and period, with the ``explain`` of both filters.

Medians of ``--repeat`` calls in milliseconds; compare the figures of one run with each other (the
machine may be busy). Run with ``BENCH_SCRIPT=benchmarks/alert_queries.py scripts/bench.sh``, or
directly against the MongoDB of MONGODB_URI.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from load import _seed_alerts  # noqa: E402

from alert_pipeline.models import Alert, Unit  # noqa: E402
from alert_pipeline.repository import MongoPipelineStore, open_query  # noqa: E402
from shared.labels import IMPORTANT_SEVERITY  # noqa: E402


async def _median_ms(call: Callable[[], Awaitable[Any]], repeat: int) -> float:
    await call()  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


async def _before_dashboard(
    store: MongoPipelineStore, company: str, since: datetime, until: datetime
) -> None:
    """What ``GET /alerts/summary`` asked of the database before."""
    units = await store.company_unit_ids(company)
    query = {"company_id": company, "unit_id": {"$in": units}, "detected_at": {"$gte": since, "$lt": until}}
    group = {"$group": {"_id": {"s": "$severity", "c": "$category"}, "n": {"$sum": 1}}}
    _ = [row async for row in await store.alerts.aggregate([{"$match": query}, group])]
    _ = [Alert.from_document(d) async for d in store.alerts.find(query).sort("detected_at", -1).limit(5)]
    units = await store.company_unit_ids(company)
    await store.alerts.count_documents({**query, "severity": {"$gte": IMPORTANT_SEVERITY}, **open_query()})


async def _before_page(
    store: MongoPipelineStore, company: str, since: datetime, until: datetime, skip: int
) -> None:
    """What ``GET /alerts`` asked of the database before."""
    units = await store.company_unit_ids(company)
    query = {"company_id": company, "unit_id": {"$in": units}, "detected_at": {"$gte": since, "$lt": until}}
    await store.alerts.count_documents(query)
    cursor = store.alerts.find(query).sort([("detected_at", -1), ("_id", 1)]).skip(skip).limit(50)
    _ = [Alert.from_document(d) async for d in cursor]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    client: AsyncMongoClient = AsyncMongoClient(os.environ["MONGODB_URI"], tz_aware=True)
    db = client[f"alert-queries-bench-{uuid.uuid4().hex[:8]}"]
    try:
        store = MongoPipelineStore(db)
        await store.create_indexes()
        for c in range(args.companies):
            for u in range(2):
                await store.upsert_unit(Unit(f"SER-{c}-{u}", f"U-{c}-{u}", f"C-{c:03d}", f"拠点{u + 1}", ""))
        until = datetime.now(UTC)
        started = time.perf_counter()
        await _seed_alerts(db, args.companies, 2, 30, 20, until)
        print(
            f"seeded {args.companies * 2 * 30 * 20} alerts in {time.perf_counter() - started:.0f}s",
            flush=True,
        )
        company, since, r = "C-000", until - timedelta(days=30), args.repeat
        query = await store._scope(company, since, until)
        figures: dict[str, Any] = {
            "dashboard_before_ms": await _median_ms(
                lambda: _before_dashboard(store, company, since, until), r
            ),
            "dashboard_after_ms": await _median_ms(
                lambda: store.alert_summary(company, since=since, until=until), r
            ),
            "log_page1_before_ms": await _median_ms(lambda: _before_page(store, company, since, until, 0), r),
            "log_page1_after_ms": await _median_ms(
                lambda: store.alert_page(company, since=since, until=until, skip=0, limit=50), r
            ),
            "log_page10_before_ms": await _median_ms(
                lambda: _before_page(store, company, since, until, 450), r
            ),
            "log_page10_after_ms": await _median_ms(
                lambda: store.alert_page(company, since=since, until=until, skip=450, limit=50), r
            ),
            "count_documents_ms": await _median_ms(lambda: store.alerts.count_documents(query), r),
            "count_ids_projection_ms": await _median_ms(lambda: _count_ids(store, query), r),
            "count_index_first_ms": await _median_ms(lambda: store._count(query), r),
        }
        explain = await db.command("explain", {"count": "alerts", "query": query}, verbosity="queryPlanner")
        figures["count_plan"] = explain.get("queryPlanner", {}).get("winningPlan")
        indexed = {"company_id": company, "detected_at": query["detected_at"]}
        explain = await db.command("explain", {"count": "alerts", "query": indexed}, verbosity="queryPlanner")
        figures["index_first_plan"] = explain.get("queryPlanner", {}).get("winningPlan")
        return figures
    finally:
        await client.drop_database(db.name)
        await client.close()


async def _count_ids(store: MongoPipelineStore, query: dict[str, Any]) -> int:
    return len([d async for d in store.alerts.find(query, {"_id": 1})])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--companies", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    for key in ("count_plan", "index_first_plan"):
        print(f"{key}:", json.dumps(figures.pop(key), default=str, ensure_ascii=False))
    for name, value in figures.items():
        print(f"{name:26} {value:8.1f}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
