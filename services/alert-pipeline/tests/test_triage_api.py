"""Alert triage against a real MongoDB: status with history, bulk acknowledge, unresolved counts."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pymongo import AsyncMongoClient

from alert_pipeline import api_triage
from alert_pipeline.repository import MongoPipelineStore
from shared.auth import Principal, issue_token
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
