"""The operator console's home: open ★★★ alerts per company from the real alert pipeline (MongoDB)."""

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from pymongo import AsyncMongoClient

from alert_pipeline.repository import MongoPipelineStore
from gateway.backends import Backends
from gateway.main import create_app as create_gateway
from gateway.settings import Settings as GatewaySettings
from shared.auth import Principal, issue_token
from shared.settings import DEV_TOKEN_PRIVATE_KEY
from support.pipeline import alert_api, store_alert
from support.portal import HandlesByHand, log_in
from support.servers import Servers

pytestmark = pytest.mark.integration
PORTAL = "http://portal.test"
COMPANIES = {"C-KAWA": "川崎工業株式会社", "C-YOKO": "横浜商事株式会社"}
ROW = re.compile(r"<tr>\s*<td><a href=\"/operator/companies/([^\"]+)\">.*?</tr>", re.S)
CELL = re.compile(r"<td>([^<]*)</td>")


def _registry() -> FastAPI:
    """A stand-in device registry: one registered unit per company."""
    app = FastAPI()
    units = [
        {
            "unit_id": f"U-{c}",
            "company_id": c,
            "company_name": name,
            "status": "registered",
            "connection": "online",
        }
        for c, name in COMPANIES.items()
    ]
    app.get("/operator/units")(lambda: units)
    return app


@dataclass
class Console:
    client: httpx.AsyncClient
    store: MongoPipelineStore
    pipeline: FastAPI
    handles: HandlesByHand
    session_id: str
    logged_out: list[str]

    async def alert(self, alert_id: str, company_id: str, severity: int) -> None:
        await store_alert(self.store, alert_id, company_id, severity, detected_at=datetime.now(UTC))

    async def serious_column(self) -> dict[str, str]:
        """Company id → the home's 未解決の★★★アラート cell."""
        page = await self.client.get("/operator")
        assert page.status_code == 200, page.text
        assert "<th>未解決の★★★アラート</th>" in page.text
        return {m.group(1): CELL.findall(m.group(0))[5] for m in ROW.finditer(page.text)}


@pytest.fixture
async def console(servers: Servers) -> AsyncIterator[Console]:
    mongo: AsyncMongoClient = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
    db = mongo[f"console-{uuid.uuid4().hex[:8]}"]
    store = MongoPipelineStore(db)
    pipeline = alert_api(store)
    logged_out: list[str] = []
    identity = FastAPI()

    @identity.delete("/sessions/current", status_code=204)
    async def logout(request: Request) -> None:
        logged_out.append(request.headers["x-identity-session"])

    apps = {"alert-pipeline": pipeline, "device-registry": _registry(), "identity": identity}

    class Routing(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            app = apps.get(request.url.host)
            if app is None:
                raise httpx.ConnectError("connection refused", request=request)
            return await httpx.ASGITransport(app=app).handle_async_request(request)

    gateway = create_gateway(GatewaySettings(app_env="development"))
    gateway.state.backends = Backends(
        {name: f"http://{name}" for name in (*apps, "support")}, transport=Routing()
    )
    handles = HandlesByHand()
    gateway.state.session_store = handles
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway), base_url=PORTAL, headers={"Origin": PORTAL}
    ) as client:
        sid = await log_in(client, gateway, "operator")
        yield Console(client, store, pipeline, handles, sid, logged_out)
    await mongo.drop_database(db.name)
    await mongo.close()


async def test_the_home_counts_open_serious_alerts_and_resolving_one_lowers_it(console: Console) -> None:
    for alert_id, company, severity in [
        ("K1", "C-KAWA", 3), ("K2", "C-KAWA", 3), ("K3", "C-KAWA", 2), ("Y1", "C-YOKO", 1),
    ]:  # fmt: skip
        await console.alert(alert_id, company, severity)
    assert await console.serious_column() == {"C-KAWA": "2", "C-YOKO": "0"}

    customer = Principal(account_id="A-1", company_id="C-KAWA", role="customer", name="川崎 一郎")
    token = {"Authorization": f"Bearer {issue_token(customer, private_key=DEV_TOKEN_PRIVATE_KEY)}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console.pipeline), base_url="http://pipeline"
    ) as pipeline:
        acknowledged = await pipeline.post(
            "/alerts/K1/status", json={"status": "acknowledged"}, headers=token
        )
        assert acknowledged.status_code == 200
        assert await console.serious_column() == {"C-KAWA": "2", "C-YOKO": "0"}  # 確認済み is still open
        resolved = await pipeline.post("/alerts/K2/status", json={"status": "resolved"}, headers=token)
        assert resolved.status_code == 200
    assert await console.serious_column() == {"C-KAWA": "1", "C-YOKO": "0"}


async def test_an_operator_session_unused_longer_than_the_idle_limit_ends(console: Console) -> None:
    handle = console.client.cookies["watch_session"]
    console.handles.idle[handle] = 29 * 60 + 59  # identity says: unused for just under 30 minutes
    assert (await console.client.get("/operator")).status_code == 200
    assert console.logged_out == []
    console.handles.idle[handle] = 30 * 60 + 1
    ended = await console.client.get("/operator")
    assert ended.status_code == 303
    assert ended.headers["location"] == "/login?logged_out=1"
    assert console.logged_out == [console.session_id]  # identity ended the session at once
