"""The customer API's alert queries against a real MongoDB: the alert log's pages newest first (read
in time windows backwards, across their boundaries and through ties) and the dashboard's counts.

Each test runs twice: with the counts read from the alerts themselves (a database whose tallies start
tomorrow), and with the whole JST days of the period read from the tallies (kept since before the
period), the partial days at its edges still from the alerts. The expectations are the same."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from alert_pipeline.models import Alert, Unit
from alert_pipeline.repository import MongoPipelineStore
from shared.auth import Principal, issue_token
from shared.settings import DEV_TOKEN_PRIVATE_KEY
from support.pipeline import alert_api
from support.servers import Servers
from support.service_api import scratch_database

pytestmark = pytest.mark.integration
UNTIL = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=30)
COMPANY = "C-QUERY001"
UNIT = Unit("SER-Q1", "U-Q1", COMPANY, "本社", "00:09:0F:00:00:01")
GONE = Unit("SER-Q2", "U-Q2", COMPANY, "旧支店", "00:09:0F:00:00:02")  # unregistered below
OTHER = Unit("SER-Q3", "U-Q3", "C-QUERY002", "他社", "00:09:0F:00:00:03")

# id, time before UNTIL, severity, category, status (None: never triaged), unit
ALERTS: list[tuple[str, timedelta, int, str, str | None, Unit]] = [
    ("A11", timedelta(0), 3, "Webガード", None, UNIT),  # at the end of the period: outside
    ("A01", timedelta(hours=1), 3, "Webガード", None, UNIT),
    ("X01", timedelta(hours=2), 3, "Webガード", None, OTHER),
    ("X02", timedelta(hours=3), 3, "Webガード", None, GONE),
    ("A03", timedelta(days=1), 2, "Webガード", None, UNIT),  # first window's first instant, a tie
    ("A02", timedelta(days=1), 1, "IPS", None, UNIT),
    ("A04", timedelta(days=1, seconds=1), 3, "Webガード", "acknowledged", UNIT),
    ("A07", timedelta(days=2), 2, "Webガード", None, UNIT),
    ("A06", timedelta(days=3), 3, "Webガード", "open", UNIT),  # a tie inside the third window
    ("A05", timedelta(days=3), 1, "IPS", None, UNIT),
    ("A08", timedelta(days=10), 2, "Webガード", "resolved", UNIT),
    ("A09", timedelta(days=29, hours=23), 3, "アプリケーションコントロール", None, UNIT),
    ("A10", timedelta(days=30, seconds=1), 3, "Webガード", None, UNIT),  # before the period
]
NEWEST_FIRST = ["A01", "A02", "A03", "A04", "A07", "A05", "A06", "A08", "A09"]


STATUS_ENTRY = {"status": "?", "by": "A-Q1", "by_name": "日電 太郎", "at": UNTIL, "comment": ""}


@pytest.fixture(params=["alerts", "tallies"])
async def store(servers: Servers, request: pytest.FixtureRequest) -> AsyncIterator[MongoPipelineStore]:
    async with scratch_database(servers.mongodb_uri, "alert-queries") as db:
        store = MongoPipelineStore(db)
        await store.create_indexes()
        for unit in (UNIT, OTHER):
            await store.upsert_unit(unit)
        for alert_id, before, severity, category, status, unit in ALERTS:
            doc: dict[str, Any] = {
                "_id": alert_id, "company_id": unit.company_id, "unit_id": unit.unit_id,
                "unit_name": unit.name, "serial_number": unit.serial_number, "mac_address": unit.mac_address,
                "category": category, "category_key": "webfilter", "severity": severity, "signature": "sig",
                "summary": "概要", "explanation": "説明", "remedy": "対処", "detected_at": UNTIL - before,
                "source_event": alert_id, "source_format": "test", "received_at": UNTIL,
            }  # fmt: skip
            assert await store.insert_alert(Alert.from_document(doc))
            if status is not None:
                owned = {"company_id": unit.company_id}
                assert await store.set_status(owned, alert_id, status, {**STATUS_ENTRY, "status": status})
        if request.param == "tallies":
            await store.tallies.declare_since(date(2026, 10, 1))
        else:  # tallies start with the JST day after the store first met this database
            first = await store.tallies.since()
            assert first is not None
            assert first > UNTIL
        yield store


async def page(store: MongoPipelineStore, skip: int, limit: int, **filters: Any) -> tuple[int, list[str]]:
    total, alerts = await store.alert_page(
        COMPANY, since=SINCE, until=UNTIL, skip=skip, limit=limit, **filters
    )
    return total, [a.alert_id for a in alerts]


async def test_pages_run_newest_first_through_window_boundaries_and_ties(store: MongoPipelineStore) -> None:
    assert await page(store, 0, 50) == (9, NEWEST_FIRST)
    assert await page(store, 0, 3) == (9, ["A01", "A02", "A03"])
    assert await page(store, 3, 3) == (9, ["A04", "A07", "A05"])
    assert await page(store, 6, 3) == (9, ["A06", "A08", "A09"])
    assert await page(store, 9, 3) == (9, [])
    assert await page(store, 1, 2) == (9, ["A02", "A03"])
    assert await page(store, 5, 1) == (9, ["A05"])
    assert await page(store, 8, 5) == (9, ["A09"])


async def test_filtered_pages_keep_the_order_and_an_exact_total(store: MongoPipelineStore) -> None:
    assert await page(store, 0, 2, severities=[3]) == (4, ["A01", "A04"])
    assert await page(store, 2, 2, severities=[3]) == (4, ["A06", "A09"])
    assert await page(store, 0, 10, category="IPS") == (2, ["A02", "A05"])
    # One alert, near the period's start: the days between hold none of it.
    assert await page(store, 0, 10, category="アプリケーションコントロール") == (1, ["A09"])
    assert await page(store, 0, 10, status="open") == (7, ["A01", "A02", "A03", "A07", "A05", "A06", "A09"])
    assert await page(store, 0, 10, unit_id="U-Q2") == (0, [])
    assert await page(store, 0, 10, unit_id="U-Q3") == (0, [])


async def test_a_short_period_reads_only_its_own_alerts(store: MongoPipelineStore) -> None:
    total, alerts = await store.alert_page(
        COMPANY, since=UNTIL - timedelta(days=2), until=UNTIL - timedelta(hours=12), skip=0, limit=10
    )
    assert (total, [a.alert_id for a in alerts]) == (4, ["A02", "A03", "A04", "A07"])


async def test_a_period_of_one_day_is_read_once_for_its_counts_and_its_order(
    store: MongoPipelineStore,
) -> None:
    # The whole period is its newest edge: counted and ordered from one read, ties at its first instant.
    day = {"since": UNTIL - timedelta(days=1), "until": UNTIL}
    total, alerts = await store.alert_page(COMPANY, **day, skip=0, limit=10)
    assert (total, [a.alert_id for a in alerts]) == (3, ["A01", "A02", "A03"])
    total, alerts = await store.alert_page(COMPANY, **day, skip=1, limit=1)
    assert (total, [a.alert_id for a in alerts]) == (3, ["A02"])
    assert alerts[0].summary == "概要"  # the page's alerts are whole
    total, alerts = await store.alert_page(COMPANY, **day, skip=0, limit=10, severities=[2, 3], status="open")
    assert (total, [a.alert_id for a in alerts]) == (2, ["A01", "A03"])
    summary = await store.alert_summary(COMPANY, **day, latest=2)
    assert summary.totals == {(3, "Webガード"): 1, (1, "IPS"): 1, (2, "Webガード"): 1}
    assert summary.unresolved_important == 2
    assert [a.alert_id for a in summary.latest] == ["A01", "A02"]


async def test_a_period_from_the_year_1_reads_back_to_its_start(store: MongoPipelineStore) -> None:
    # The widening windows must stop at the period's start, not step before the year 1.
    _, alerts = await store.alert_page(
        COMPANY, since=datetime(1, 1, 2, tzinfo=UTC), until=UNTIL - timedelta(hours=12), skip=0, limit=3
    )
    assert [a.alert_id for a in alerts] == ["A02", "A03", "A04"]


async def test_the_dashboard_counts_by_severity_category_and_the_open_important_ones(
    store: MongoPipelineStore,
) -> None:
    summary = await store.alert_summary(COMPANY, since=SINCE, until=UNTIL)
    assert summary.totals == {
        (1, "IPS"): 2,
        (2, "Webガード"): 3,
        (3, "Webガード"): 3,
        (3, "アプリケーションコントロール"): 1,
    }
    assert summary.unresolved_important == 5  # A01, A03, A07, A06 (open), A09
    assert [a.alert_id for a in summary.latest] == ["A01", "A02", "A03", "A04", "A07"]
    quiet = await store.alert_summary(
        COMPANY, since=UNTIL - timedelta(days=8), until=UNTIL - timedelta(days=4)
    )
    assert (quiet.totals, quiet.unresolved_important, quiet.latest) == ({}, 0, [])


async def test_the_alert_log_and_summary_over_http(store: MongoPipelineStore) -> None:
    principal = Principal(account_id="A-Q1", company_id=COMPANY, role="customer", name="日電 太郎")
    headers = {"Authorization": f"Bearer {issue_token(principal, private_key=DEV_TOKEN_PRIVATE_KEY)}"}
    period = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    transport = httpx.ASGITransport(app=alert_api(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://pipeline") as client:
        log = (
            await client.get("/alerts", params={**period, "page": 2, "per_page": 4}, headers=headers)
        ).json()
        summary = (await client.get("/alerts/summary", params=period, headers=headers)).json()
    assert [a["alert_id"] for a in log["items"]] == ["A07", "A05", "A06", "A08"]
    assert (log["total"], log["page"], log["per_page"]) == (9, 2, 4)
    assert summary["total"] == 9
    assert summary["by_severity"] == {"1": 2, "2": 3, "3": 4}
    assert summary["by_category"] == {"Webガード": 6, "IPS": 2, "アプリケーションコントロール": 1}
    assert summary["unresolved_important"] == 5
    assert [a["alert_id"] for a in summary["latest"]] == ["A01", "A02", "A03", "A04", "A07"]


async def test_triage_moves_the_counts_of_tallied_and_counted_days_alike(store: MongoPipelineStore) -> None:
    owned = {"company_id": COMPANY}
    entry = {**STATUS_ENTRY, "status": "acknowledged"}
    # A01 lies in the last, partial day (read from the alerts); A07 and A09 in whole days or the first
    # partial one; X01 is another company's.
    assert await store.acknowledge({"_id": {"$in": ["A01", "A07", "A09", "X01"]}, **owned}, entry) == 3
    assert await store.acknowledge({"_id": {"$in": ["A01"]}, **owned}, entry) == 0  # not open any more
    assert await store.set_status(owned, "A04", "resolved", {**entry, "status": "resolved"}) is not None
    assert await store.set_status(owned, "A08", "open", {**entry, "status": "open"}) is not None
    assert await store.set_status(owned, "X01", "resolved", entry) is None
    assert await page(store, 0, 10, status="open") == (5, ["A02", "A03", "A05", "A06", "A08"])
    assert await page(store, 0, 10, status="acknowledged") == (3, ["A01", "A07", "A09"])
    assert await page(store, 0, 10, status="resolved") == (1, ["A04"])
    assert await page(store, 0, 10, status="resolved", severities=[2]) == (0, [])
    summary = await store.alert_summary(COMPANY, since=SINCE, until=UNTIL)
    assert summary.unresolved_important == 3  # A03, A06, A08


async def test_a_company_s_units_are_read_again_after_any_registration_the_process_applies(
    servers: Servers,
) -> None:
    branch = Unit("SER-Q4", "U-Q4", COMPANY, "新支店", "00:09:0F:00:00:04")
    moved = Unit(OTHER.serial_number, OTHER.unit_id, COMPANY, "譲渡", OTHER.mac_address)
    async with scratch_database(servers.mongodb_uri, "unit-ids") as db:
        first, second = MongoPipelineStore(db), MongoPipelineStore(db)  # two instances of the pipeline
        await first.create_indexes()
        for unit in (UNIT, OTHER):
            await first.upsert_unit(unit)
        assert await second.company_unit_ids(COMPANY) == ["U-Q1"]
        assert await second.company_unit_ids(OTHER.company_id) == ["U-Q3"]

        await first.upsert_unit(branch)  # the instance whose group received it
        assert sorted(await first.company_unit_ids(COMPANY)) == ["U-Q1", "U-Q4"]
        await second.upsert_unit(branch)  # every instance applies each registration it reads
        assert sorted(await second.company_unit_ids(COMPANY)) == ["U-Q1", "U-Q4"]

        # A unit moved to another company: both companies' lists are read again.
        await second.upsert_unit(moved)
        assert sorted(await second.company_unit_ids(COMPANY)) == ["U-Q1", "U-Q3", "U-Q4"]
        assert await second.company_unit_ids(OTHER.company_id) == []

        # A list read while a registration is applied is not kept.
        second.forget_unit_ids()
        reading = asyncio.create_task(second.company_unit_ids(COMPANY))
        await asyncio.sleep(0)  # the read has begun
        second.forget_unit_ids()
        await reading
        await first.upsert_unit(GONE)  # only the first instance hears of it (its reader was down)
        assert sorted(await second.company_unit_ids(COMPANY)) == ["U-Q1", "U-Q2", "U-Q3", "U-Q4"]
