"""The report API against a real MongoDB: company scoping, k-anonymity, no narrowing parameter.

Counters are written through the pipeline's own repository (``add_counts``), the unit projection
through ``upsert_unit``; the app is the real router with real token verification.
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from alert_pipeline import api, api_reports
from alert_pipeline.models import Alert, Unit
from alert_pipeline.reports import DailyRollups, ReportReader
from alert_pipeline.repository import CountBatch, MongoPipelineStore
from shared.auth import Principal, issue_token
from shared.settings import DEV_TOKEN_PRIVATE_KEY, DEV_TOKEN_PUBLIC_KEY
from support.servers import Servers

pytestmark = pytest.mark.integration

NAMES = {"ips": "不正侵入防御(IPS)", "webfilter": "Webガード"}
# 2026-11-01 00:00 JST
NOV1 = datetime(2026, 10, 31, 15, tzinfo=UTC)
PERIOD = {"first": "2026-11-01", "last": "2026-11-02"}


@dataclass
class Env:
    store: MongoPipelineStore
    client: httpx.AsyncClient
    reader: ReportReader

    def headers(self, company_id: str) -> dict[str, str]:
        token = issue_token(
            Principal(account_id=f"A-{company_id}", company_id=company_id, role="customer"),
            private_key=DEV_TOKEN_PRIVATE_KEY,
        )
        return {"Authorization": f"Bearer {token}"}

    async def company(self, company_id: str, *, units: int, hours: int, ips_per_hour: int) -> None:
        """A company whose units each sent records for ``hours`` hours from Nov 1, with IPS threats."""
        counts: dict[tuple[str, str, datetime], dict[str, int]] = {}
        for u in range(units):
            serial = f"SER-{company_id}-{u}"
            await self.store.upsert_unit(
                Unit(serial, f"U-{company_id}-{u}", company_id, f"拠点{u + 1}", "00:00")
            )
            for h in range(hours):
                fields = {"benign.traffic": 100}
                if ips_per_hour:
                    fields |= {
                        "threats.ips.count": ips_per_hour,
                        "threats.ips.severity_3": ips_per_hour,
                        f"top.sig.{company_id}-secret-signature": ips_per_hour,
                        f"top.src.10%2E{u}%2E0%2E1": ips_per_hour,
                    }
                counts[(company_id, serial, NOV1 + timedelta(hours=h))] = fields
        await self.store.add_counts(counts)


@pytest.fixture
async def env(servers: Servers) -> AsyncIterator[Env]:
    client: AsyncMongoClient = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
    db = client[f"reports-api-{uuid.uuid4().hex[:8]}"]
    store = MongoPipelineStore(db)
    await store.create_indexes()
    app = FastAPI()
    app.include_router(api.router)
    app.include_router(api_reports.router)
    app.state.token_public_key = DEV_TOKEN_PUBLIC_KEY
    app.state.pipeline_store = store
    app.state.category_names = NAMES
    reader = ReportReader(db, cache_seconds=0)
    app.state.report_reader = reader
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pipeline")
    try:
        yield Env(store, http, reader)
    finally:
        await http.aclose()
        await client.drop_database(db.name)
        await client.close()


async def test_threat_report_holds_only_the_callers_company(env: Env) -> None:
    await env.company("C-OWN", units=2, hours=24, ips_per_hour=1)
    await env.company("C-OTHER", units=1, hours=48, ips_per_hour=7)
    response = await env.client.get("/reports/threats", params=PERIOD, headers=env.headers("C-OWN"))
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 48
    assert body["by_severity"] == {"1": 0, "2": 0, "3": 48}
    assert body["by_category"][0]["name"] == "不正侵入防御(IPS)"
    assert [d["total"] for d in body["daily"]] == [48, 0]
    assert body["top_signatures"] == [{"name": "C-OWN-secret-signature", "count": 48}]
    assert {s["name"] for s in body["top_sources"]} == {"10.0.0.1", "10.1.0.1"}
    assert [(u["name"], u["monitored_hours"], u["online_percent"]) for u in body["units"]] == [
        ("拠点1", 24, 50.0),
        ("拠点2", 24, 50.0),
    ]
    assert "C-OTHER" not in response.text

    units = await env.client.get("/reports/units", params=PERIOD, headers=env.headers("C-OWN"))
    assert units.status_code == 200
    assert [u["unit_id"] for u in units.json()["units"]] == ["U-C-OWN-0", "U-C-OWN-1"]
    assert "C-OTHER" not in units.text


async def test_a_company_without_data_sees_an_empty_report(env: Env) -> None:
    await env.company("C-OTHER", units=1, hours=10, ips_per_hour=3)
    body = (await env.client.get("/reports/threats", params=PERIOD, headers=env.headers("C-NEW"))).json()
    assert body["total"] == 0
    assert body["units"] == []
    assert body["top_signatures"] == []


async def test_previous_period_and_change(env: Env) -> None:
    await env.company("C-OWN", units=1, hours=72, ips_per_hour=1)
    # Nov 2-3 against Oct 31-Nov 1: 48 threats now (hours 24-71), 24 before (hours 0-23).
    body = (
        await env.client.get(
            "/reports/threats",
            params={"first": "2026-11-02", "last": "2026-11-03"},
            headers=env.headers("C-OWN"),
        )
    ).json()
    assert body["total"] == 48
    assert body["previous"]["total"] == 24
    assert body["change_percent"] == 100.0


async def test_with_four_companies_nothing_comparative_is_shown(env: Env) -> None:
    for i in range(4):
        await env.company(f"C-{i}", units=1, hours=24, ips_per_hour=i + 1)
    response = await env.client.get("/reports/compare", params=PERIOD, headers=env.headers("C-0"))
    assert response.status_code == 200
    body = response.json()
    assert body["published"] is False
    assert body["by_category"] == []
    for figure in [body["total"], *body["by_severity"]]:
        assert figure["published"] is False
        assert not {"mean", "median", "percentile", "companies"} & set(figure)
    # Its own rate is its own business: 24 threats over 1 unit-day.
    assert body["total"]["own"] == 24.0


async def test_with_five_companies_only_aggregates_are_published(env: Env) -> None:
    # Rates (threats per unit per monitored day): 24, 48, 72, 96, 120.
    for i in range(5):
        await env.company(f"C-{i}", units=1, hours=24, ips_per_hour=i + 1)
    response = await env.client.get("/reports/compare", params=PERIOD, headers=env.headers("C-1"))
    body = response.json()
    assert body["published"] is True
    assert body["total"] == {
        "own": 48.0, "published": True, "companies": 5, "mean": 72.0, "median": 72.0, "percentile": 30
    }  # fmt: skip
    ips = body["by_category"][0]
    assert (ips["name"], ips["mean"], ips["median"]) == ("不正侵入防御(IPS)", 72.0, 72.0)
    for other in ("C-0", "C-2", "C-3", "C-4"):
        assert other not in response.text
    # No other company's own figure appears anywhere (only 48 = own, 72 = mean/median).
    assert "96" not in response.text
    assert "120" not in response.text


@pytest.mark.parametrize(
    "extra",
    [{"company_id": "C-4"}, {"companies": "C-3,C-4"}, {"unit_id": "U-C-4-0"}, {"industry": "建設"},
     {"region": "東京"}, {"min_companies": "1"}],
)  # fmt: skip
async def test_no_parameter_narrows_the_peer_set(env: Env, extra: dict[str, str]) -> None:
    for i in range(5):
        await env.company(f"C-{i}", units=1, hours=24, ips_per_hour=i + 1)
    for path in ("/reports/compare", "/reports/threats", "/reports/units"):
        response = await env.client.get(path, params={**PERIOD, **extra}, headers=env.headers("C-1"))
        assert response.status_code == 422
        assert "指定できない条件" in response.text


async def test_another_company_cannot_be_read_by_token_of_a_different_company(env: Env) -> None:
    await env.company("C-A", units=1, hours=5, ips_per_hour=2)
    body = (await env.client.get("/reports/units", params=PERIOD, headers=env.headers("C-B"))).json()
    assert body["units"] == []
    assert body["company_id"] == "C-B"


@pytest.mark.parametrize(
    ("params", "message"),
    [({"first": "2026-11-05", "last": "2026-11-01"}, "期間の開始が終了より後"),
     ({"first": "2026/11/01", "last": "2026-11-02"}, "YYYY-MM-DD"),
     ({"first": "2024-01-01", "last": "2026-01-01"}, "366日以内")],
)  # fmt: skip
async def test_bad_periods_get_a_japanese_error(env: Env, params: dict[str, str], message: str) -> None:
    response = await env.client.get("/reports/threats", params=params, headers=env.headers("C-A"))
    assert response.status_code == 422
    assert message in response.text


async def test_a_token_is_required(env: Env) -> None:
    assert (await env.client.get("/reports/compare", params=PERIOD)).status_code == 401


async def test_rolled_up_days_give_the_same_report(env: Env) -> None:
    await env.company("C-OWN", units=2, hours=30, ips_per_hour=1)
    for i in range(5):
        await env.company(f"C-{i}", units=1, hours=24, ips_per_hour=i + 1)
    headers = env.headers("C-OWN")
    hourly = (await env.client.get("/reports/threats", params=PERIOD, headers=headers)).json()
    compare_hourly = (await env.client.get("/reports/compare", params=PERIOD, headers=headers)).json()
    # 2026-11-03 05:00 JST: Nov 1 and Nov 2 are over; their hourly counters become one document per day.
    built = await env.reader.rollups.run(datetime(2026, 11, 2, 20, tzinfo=UTC))
    assert date(2026, 11, 1) in built
    assert date(2026, 11, 2) in built
    assert await env.reader.rollups.daily.count_documents({"company_id": "C-OWN"}) == 4
    rolled = (await env.client.get("/reports/threats", params=PERIOD, headers=headers)).json()
    assert rolled == hourly
    assert rolled["total"] == 60
    assert [d["total"] for d in rolled["daily"]] == [48, 12]
    assert [u["monitored_hours"] for u in rolled["units"]] == [30, 30]
    assert rolled["top_signatures"] == [{"name": "C-OWN-secret-signature", "count": 60}]
    assert (await env.client.get("/reports/compare", params=PERIOD, headers=headers)).json() == compare_hourly


def late_alert(detected_at: datetime, received_at: datetime) -> Alert:
    """A ★★☆ IPS alert of C-0's unit, detected long before it reached the pipeline."""
    return Alert(
        alert_id="late-1", company_id="C-0", unit_id="U-C-0-0", unit_name="拠点1", serial_number="SER-C-0-0",
        mac_address="00:00", detected_at=detected_at, received_at=received_at, category="不正侵入防御(IPS)",
        category_key="ips", severity=2, summary="遅れて届いた検知", explanation="", remedy="",
        source_event="", source_format="test", signature="Late.Signature",
    )  # fmt: skip


async def test_records_arriving_days_late_reach_the_rollups_exactly_once(env: Env) -> None:
    rollups = DailyRollups(env.store.db, change_margin=timedelta(0))
    await rollups.ensure_indexes()
    await env.company("C-OWN", units=1, hours=24, ips_per_hour=1)
    for i in range(4):
        await env.company(f"C-{i}", units=1, hours=24, ips_per_hour=i + 1)
    # 2026-11-03 05:00 JST: Nov 1 and Nov 2 are rolled up; a second run finds nothing changed.
    nov3 = datetime(2026, 11, 2, 20, tzinfo=UTC)
    assert date(2026, 11, 1) in await rollups.run(nov3)
    assert await rollups.run(nov3) == []
    own, other = env.headers("C-OWN"), env.headers("C-0")
    compare = (await env.client.get("/reports/compare", params=PERIOD, headers=own)).json()
    # Threats per unit-day: 24 (own), 24, 48, 72, 96 → mean 52.8.
    assert compare["total"]["mean"] == 52.8
    assert (await env.client.get("/reports/threats", params=PERIOD, headers=other)).json()["total"] == 24

    # Nov 10: a threat detected on Nov 1 at 10:30 JST arrives, nine days late, and is delivered twice.
    alert = late_alert(NOV1 + timedelta(hours=10, minutes=30), datetime(2026, 11, 10, 3, tzinfo=UTC))
    await env.store.insert_alerts([alert])
    for _ in range(2):
        await env.store.apply_counts(CountBatch(threats=[alert], reached={("utm-events", 0): 41}))
    built = await rollups.run(datetime(2026, 11, 10, 3, tzinfo=UTC))
    assert date(2026, 11, 1) in built
    assert date(2026, 11, 2) not in built

    report = (await env.client.get("/reports/threats", params=PERIOD, headers=other)).json()
    assert report["total"] == 25
    assert report["by_severity"] == {"1": 0, "2": 1, "3": 24}
    assert [d["total"] for d in report["daily"]] == [25, 0]
    assert {"name": "Late.Signature", "count": 1} in report["top_signatures"]
    compare = (await env.client.get("/reports/compare", params=PERIOD, headers=own)).json()
    assert compare["total"]["mean"] == 53.0  # (24 + 25 + 48 + 72 + 96) / 5

    # Later runs and a rebuild of the day count it no second time.
    assert date(2026, 11, 1) not in await rollups.run(datetime(2026, 11, 10, 4, tzinfo=UTC))
    await rollups.build(date(2026, 11, 1), datetime(2026, 11, 10, 4, tzinfo=UTC))
    assert (await env.client.get("/reports/threats", params=PERIOD, headers=other)).json()["total"] == 25
    compare = (await env.client.get("/reports/compare", params=PERIOD, headers=own)).json()
    assert compare["total"]["mean"] == 53.0
