"""A forged X-Forwarded-For cannot change the client address the portal hands to the services.

identity limits logins per client and signup limits confirmation mails per client; both get the
address from the gateway. Changing the header on every attempt used to give each attempt a fresh
limit. The gateway runs in-process here, with stand-ins for identity and signup that record what
they were told.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.backends import Backends
from gateway.main import create_app
from gateway.security import client_address
from gateway.settings import Settings

PORTAL = "http://portal.test"


class Recorder:
    """Stand-ins for identity's login and signup's application form."""

    def __init__(self) -> None:
        self.login_clients: list[str] = []
        self.signup_clients: list[str] = []
        self.identity = FastAPI()
        self.signup = FastAPI()

        @self.identity.post("/login")
        async def login(request: Request) -> JSONResponse:
            body: dict[str, Any] = await request.json()
            self.login_clients.append(request.headers.get("x-client-address") or str(body.get("client")))
            return JSONResponse(
                {
                    "detail": {
                        "code": "invalid_credentials",
                        "message": "ユーザIDまたはパスワードが正しくありません。",
                    }
                },
                status_code=401,
            )

        @self.signup.post("/applications")
        async def apply(request: Request) -> JSONResponse:
            self.signup_clients.append(request.headers.get("x-client-address", ""))
            return JSONResponse({"errors": {"_form": "x"}}, status_code=422)


class Routing(httpx.AsyncBaseTransport):
    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self._apps = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._apps[request.url.host].handle_async_request(request)


async def _portal(recorder: Recorder, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(cookie_secure=False, **settings))
    app.state.backends = Backends(
        {"identity": "http://identity", "signup": "http://signup"},
        transport=Routing({"identity": recorder.identity, "signup": recorder.signup}),
        service_tokens={"identity": "gateway-service-token"},
    )
    # ASGITransport presents the browser as peer 127.0.0.1.
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=PORTAL, headers={"Origin": PORTAL}) as client:
        yield client


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def portal(recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _portal(recorder):
        yield client


@pytest.fixture
async def portal_behind_proxy(recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _portal(recorder, trusted_proxies="127.0.0.1"):
        yield client


async def _csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/login")
    marker = 'name="csrf_token" value="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


async def test_forged_forwarded_for_does_not_give_each_login_attempt_a_new_client(
    portal: httpx.AsyncClient, recorder: Recorder
) -> None:
    token = await _csrf(portal)
    for forged in ("198.51.100.1", "198.51.100.2", "203.0.113.9, 198.51.100.3", "not-an-address"):
        response = await portal.post(
            "/login",
            data={"login_id": "victim@example.com", "password": "guess", "csrf_token": token},
            headers={"X-Forwarded-For": forged},
        )
        assert response.status_code == 401
    assert recorder.login_clients == ["127.0.0.1"] * 4


async def test_forged_forwarded_for_does_not_reach_signup(
    portal: httpx.AsyncClient, recorder: Recorder
) -> None:
    token = await _csrf(portal)
    for forged in ("198.51.100.1", "198.51.100.2"):
        await portal.post(
            "/signup/applications", json={}, headers={"X-Forwarded-For": forged, "X-CSRF-Token": token}
        )
    assert recorder.signup_clients == ["127.0.0.1", "127.0.0.1"]


async def test_a_configured_proxy_is_believed(
    portal_behind_proxy: httpx.AsyncClient, recorder: Recorder
) -> None:
    token = await _csrf(portal_behind_proxy)
    await portal_behind_proxy.post(
        "/signup/applications", json={}, headers={"X-Forwarded-For": "203.0.113.7", "X-CSRF-Token": token}
    )
    assert recorder.signup_clients == ["203.0.113.7"]


def test_the_client_is_the_rightmost_address_no_trusted_proxy_added() -> None:
    proxies = Settings(trusted_proxies="127.0.0.1 10.0.0.0/8").trusted_proxies
    # The client prepends a fake hop; the proxies append what they saw: the fake hop is never read.
    assert client_address("127.0.0.1", "1.1.1.1, 203.0.113.7, 10.0.0.2", proxies) == "203.0.113.7"
    assert client_address("127.0.0.1", "203.0.113.7", proxies) == "203.0.113.7"
    assert client_address("192.0.2.50", "203.0.113.7", proxies) == "192.0.2.50"
    assert client_address("127.0.0.1", "garbage", proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", "203.0.113.7", []) == "127.0.0.1"
