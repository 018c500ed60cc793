"""Alert triage against a real MongoDB: status with history, bulk acknowledge, unresolved counts."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pymongo import AsyncMongoClient

from alert_pipeline import api_triage
from alert_pipeline.models import MONITORING_CATEGORY
from alert_pipeline.monitoring import offline_alert
from alert_pipeline.repository import MongoPipelineStore
from shared.auth import Principal, issue_token
from shared.events import UtmStatusChanged
from shared.settings import DEV_TOKEN_PRIVATE_KEY
from support.pipeline import alert_api, store_alert
from support.servers import Servers

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Env:
    store: MongoPipelineStore
    client: httpx.AsyncClient

    def headers(self, company_id: str, name: str = "日電 太郎") -> dict[str, str]:
        principal = Principal(account_id=f"A-{company_id}", company_id=company_id, role="customer", name=name)
        return {"Authorization": f"Bearer {issue_token(principal, private_key=DEV_TOKEN_PRIVATE_KEY)}"}

    async def alert(self, alert_id: str, company_id: str, severity: int, minutes_ago: int = 5) -> None:
        detected_at = NOW - timedelta(minutes=minutes_ago)
        await store_alert(self.store, alert_id, company_id, severity, detected_at=detected_at)


@pytest.fixture
async def env(servers: Servers) -> AsyncIterator[Env]:
    client: AsyncMongoClient = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
    db = client[f"triage-api-{uuid.uuid4().hex[:8]}"]
    store = MongoPipelineStore(db)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=alert_api(store)), base_url="http://pipeline")
    try:
        yield Env(store, http)
    finally:
        await http.aclose()
        await client.drop_database(db.name)
        await client.close()


async def test_status_change_keeps_who_when_and_comment(env: Env) -> None:
    await env.alert("ALT-1", "C-A", 3)
    headers = env.headers("C-A")
    assert (await env.client.get("/alerts/ALT-1", headers=headers)).json()["status_label"] == "未対応"
    changed = await env.client.post(
        "/alerts/ALT-1/status", json={"status": "acknowledged", "comment": "PCを確認中"}, headers=headers
    )
    assert changed.status_code == 200
    resolved = await env.client.post(
        "/alerts/ALT-1/status", json={"status": "resolved", "comment": "駆除済み"}, headers=headers
    )
    assert resolved.json()["status_label"] == "対応済み"
    alert = (await env.client.get("/alerts/ALT-1", headers=headers)).json()
    assert alert["status"] == "resolved"
    assert [(h["status"], h["by_name"], h["comment"]) for h in alert["status_history"]] == [
        ("acknowledged", "日電 太郎", "PCを確認中"),
        ("resolved", "日電 太郎", "駆除済み"),
    ]
    assert datetime.fromisoformat(alert["status_history"][0]["at"]) >= NOW - timedelta(minutes=1)


async def test_another_companys_alert_answers_like_an_unknown_one(env: Env) -> None:
    await env.alert("ALT-B", "C-B", 3)
    for alert_id in ("ALT-B", "ALT-NONE"):
        response = await env.client.post(
            f"/alerts/{alert_id}/status", json={"status": "resolved"}, headers=env.headers("C-A")
        )
        assert response.status_code == 404
        assert "アラートが見つかりません" in response.text
    bulk = await env.client.post(
        "/alerts/acknowledge", json={"alert_ids": ["ALT-B"]}, headers=env.headers("C-A")
    )
    assert bulk.json() == {"updated": 0}
    assert (await env.client.get("/alerts/ALT-B", headers=env.headers("C-B"))).json()["status"] == "open"


async def test_bad_status_and_too_long_comment_are_refused(env: Env) -> None:
    await env.alert("ALT-1", "C-A", 2)
    bad = await env.client.post("/alerts/ALT-1/status", json={"status": "done"}, headers=env.headers("C-A"))
    assert bad.status_code == 422
    assert "対応状況の指定が正しくありません" in bad.text
    long = await env.client.post(
        "/alerts/ALT-1/status",
        json={"status": "resolved", "comment": "あ" * 1001},
        headers=env.headers("C-A"),
    )
    assert long.status_code == 422


async def test_bulk_acknowledge_and_the_unresolved_count(env: Env) -> None:
    for i, severity in enumerate((3, 2, 2, 1)):
        await env.alert(f"ALT-{i}", "C-A", severity, minutes_ago=i + 1)
    headers = env.headers("C-A")
    summary = (await env.client.get("/alerts/summary", headers=headers)).json()
    assert summary["unresolved_important"] == 3
    bulk = await env.client.post(
        "/alerts/acknowledge", json={"alert_ids": ["ALT-0", "ALT-1", "ALT-3"], "comment": "まとめて確認"},
        headers=headers,
    )  # fmt: skip
    assert bulk.json() == {"updated": 3}
    summary = (await env.client.get("/alerts/summary", headers=headers)).json()
    assert summary["unresolved_important"] == 1
    assert summary["total"] == 4
    open_important = (
        await env.client.get("/alerts", params={"status": "open", "severity": [2, 3]}, headers=headers)
    ).json()
    assert [a["alert_id"] for a in open_important["items"]] == ["ALT-2"]
    # Acknowledging again changes nothing and adds no history.
    again = await env.client.post("/alerts/acknowledge", json={"alert_ids": ["ALT-0"]}, headers=headers)
    assert again.json() == {"updated": 0}
    history = (await env.client.get("/alerts/ALT-0", headers=headers)).json()["status_history"]
    assert [(h["status"], h["comment"]) for h in history] == [("acknowledged", "まとめて確認")]


async def test_open_serious_counts_per_company_drop_when_an_alert_is_resolved(env: Env) -> None:
    await api_triage.create_indexes(env.store)
    for alert_id, company, severity in [
        ("S-A1", "C-A", 3), ("S-A2", "C-A", 3), ("S-A3", "C-A", 3), ("S-A4", "C-A", 2),
        ("S-B1", "C-B", 3), ("S-C1", "C-C", 1),
    ]:  # fmt: skip
        await env.alert(alert_id, company, severity)
    operator = Principal(account_id="OP-1", company_id="", role="operator", name="運用 担当")
    as_operator = {"Authorization": f"Bearer {issue_token(operator, private_key=DEV_TOKEN_PRIVATE_KEY)}"}
    path = "/operator/alerts/open-serious-counts"
    assert (await env.client.get(path, headers=as_operator)).json() == {"C-A": 3, "C-B": 1}

    customer = env.headers("C-A")
    await env.client.post("/alerts/S-A1/status", json={"status": "acknowledged"}, headers=customer)
    assert (await env.client.get(path, headers=as_operator)).json() == {"C-A": 3, "C-B": 1}  # 確認済み: open
    await env.client.post("/alerts/S-A2/status", json={"status": "resolved"}, headers=customer)
    await env.client.post("/alerts/S-B1/status", json={"status": "resolved"}, headers=env.headers("C-B"))
    assert (await env.client.get(path, headers=as_operator)).json() == {"C-A": 2}
    assert (await env.client.get(path, headers=customer)).status_code == 403


def _operator_headers() -> dict[str, str]:
    operator = Principal(account_id="OP-1", company_id="", role="operator", name="運用 担当")
    return {"Authorization": f"Bearer {issue_token(operator, private_key=DEV_TOKEN_PRIVATE_KEY)}"}


async def test_a_resolved_serious_alert_set_open_again_is_counted_again(env: Env) -> None:
    await env.store.create_indexes()
    await env.alert("S-1", "C-A", 3)
    await env.alert("S-2", "C-A", 3)
    path, customer = "/operator/alerts/open-serious-counts", env.headers("C-A")
    await env.client.post("/alerts/S-1/status", json={"status": "resolved"}, headers=customer)
    assert (await env.client.get(path, headers=_operator_headers())).json() == {"C-A": 1}
    assert (await env.client.get(path, headers=_operator_headers())).json() == {"C-A": 1}
    await env.client.post("/alerts/S-1/status", json={"status": "open"}, headers=customer)
    assert (await env.client.get(path, headers=_operator_headers())).json() == {"C-A": 2}


async def test_a_unit_back_online_clears_its_own_offline_alert_only(env: Env) -> None:
    await env.store.create_indexes()
    unit = {"company_id": "C-A", "mac_address": "00:09:0F:00:00:01", "name": "本社"}
    for serial in ("SER-1", "SER-2"):
        offline = UtmStatusChanged(**unit, unit_id=f"U-{serial}", serial_number=serial, status="offline")
        await env.store.insert_alert(offline_alert(offline))
    back = NOW + timedelta(minutes=3)
    cleared = await env.store.clear_alerts(unit_id="U-SER-1", category=MONITORING_CATEGORY, cleared_at=back)
    assert cleared == 1
    again = await env.store.clear_alerts(unit_id="U-SER-1", category=MONITORING_CATEGORY, cleared_at=back)
    assert again == 0
    docs = {d["unit_id"]: d.get("cleared_at") async for d in env.store.alerts.find({})}
    assert docs == {"U-SER-1": back, "U-SER-2": None}


async def test_a_database_of_the_former_version_keeps_its_answers_without_the_former_indexes(
    env: Env,
) -> None:
    # Alerts written by a version that indexed them for these queries (no id collections then).
    alerts = env.store.alerts
    await alerts.create_index([("unit_id", 1), ("category", 1)])
    await alerts.create_index(
        [("status", 1), ("company_id", 1)], name="serious_by_status", partialFilterExpression={"severity": 3}
    )
    for alert_id, company, severity in [("S-A1", "C-A", 3), ("S-A2", "C-A", 3), ("S-B1", "C-B", 2)]:
        await env.alert(alert_id, company, severity)
    await env.store.open_serious.delete_many({})
    await env.client.post("/alerts/S-A2/status", json={"status": "resolved"}, headers=env.headers("C-A"))
    unit = {
        "company_id": "C-A",
        "mac_address": "00:09:0F:00:00:01",
        "name": "本社",
        "serial_number": "SER-C-A",
    }
    offline = offline_alert(UtmStatusChanged(**unit, unit_id="U-C-A", status="offline"))
    await alerts.insert_one(offline.document())

    await env.store.create_indexes()

    names = {index["name"] async for index in await alerts.list_indexes()}
    assert names == {"_id_", "company_id_1_detected_at_-1"}
    path = "/operator/alerts/open-serious-counts"
    assert (await env.client.get(path, headers=_operator_headers())).json() == {"C-A": 1}
    back = NOW + timedelta(minutes=3)
    assert await env.store.clear_alerts(unit_id="U-C-A", category=MONITORING_CATEGORY, cleared_at=back) == 1
