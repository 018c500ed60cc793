"""Portal account pages and the dashboard, through the gateway, against the real identity service
(in-process, real MongoDB and Kafka). Other backends are small stand-ins or unreachable."""

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.backends import Backends
from gateway.main import create_app as create_gateway
from gateway.settings import Settings as GatewaySettings
from identity.main import create_app as create_identity
from identity.settings import Settings as IdentitySettings
from shared.events import (
    AccountProvisioned,
    ApplicationSubmitted,
    CompanyProfile,
    DeliveryDestination,
    Event,
    LoginUser,
)
from shared.sealing import Sealer
from shared.settings import DEV_GATEWAY_SECRET, DEV_SEALING_KEY

pytestmark = pytest.mark.integration

NEW_PASSWORD = "Kawasaki#2026"
ADDRESS = {
    "company_name": "見守り商事株式会社",
    "last_name": "日電",
    "first_name": "太郎",
    "postal_code": "2118666",
    "prefecture": "神奈川県",
    "address": "川崎市中原区下沼部1753",
    "phone": "0441234567",
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each backend's requests to its ASGI app; a backend without one is unreachable."""

    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self._transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transports.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError("connection refused", request=request)
        return await transport.handle_async_request(request)


def summaries(units: dict[str, int], alerts: dict[str, Any]) -> FastAPI:
    """A stand-in answering the dashboard's two summary calls."""
    app = FastAPI()
    app.get("/units/summary")(lambda: units)
    app.get("/alerts/summary")(lambda since, until: alerts)
    return app


class Portal:
    """A browser-like client of the gateway, plus the identity app behind it."""

    def __init__(self, client: httpx.AsyncClient, identity: FastAPI, gateway: FastAPI) -> None:
        self.client = client
        self.identity = identity
        self.gateway = gateway
        self.events: list[Event] = []

    def use_backends(self, **apps: FastAPI) -> None:
        hosts = {"identity": self.identity, **{name.replace("_", "-"): app for name, app in apps.items()}}
        self.gateway.state.backends = Backends(
            {
                name: f"http://{name}"
                for name in ("signup", "identity", "device-registry", "alert-pipeline", "notifier", "support")
            },
            transport=RoutingTransport(hosts),
            service_tokens={"identity": DEV_GATEWAY_SECRET},
        )

    async def csrf(self, path: str) -> str:
        page = await self.client.get(path)
        match = CSRF.search(page.text)
        assert match is not None, page.text
        return match.group(1)

    async def post(self, path: str, data: dict[str, str], *, form_page: str | None = None) -> httpx.Response:
        token = await self.csrf(form_page or path)
        return await self.client.post(path, data={**data, "csrf_token": token})

    async def provision(self) -> tuple[str, str, str]:
        """A new company with one user; their user ID, temporary password and email."""
        tag = uuid.uuid4().hex[:8]
        email = f"user-{tag}@example.com"
        event = ApplicationSubmitted(
            application_number=f"AAP-{tag.upper()}",
            company_id=f"C-{tag.upper()}",
            company=CompanyProfile(email=email, **ADDRESS),
            destinations=[DeliveryDestination(destination_id="D1", units=1, **ADDRESS)],
            login_users=[LoginUser(name="日電 太郎", email=email, mobile="09055556666")],
        )
        await self.identity.state.identity.provision(event)
        provisioned = [e for e in self.events if isinstance(e, AccountProvisioned)][-1]
        return (
            provisioned.login_id,
            Sealer(DEV_SEALING_KEY).open(provisioned.sealed_temporary_password),
            email,
        )

    async def log_in_new_user(self) -> str:
        """A new user through the whole first-login setup (2-step verification off); returns the email."""
        login_id, temporary, email = await self.provision()
        await self.post("/login", {"login_id": login_id, "password": temporary})
        await self.post(
            "/account/password", {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}
        )
        await self.post("/account/user-id", {"new_login_id": email})
        done = await self.post("/account/two-step", {"use": "no"})
        assert done.headers["location"] == "/"
        return email


@pytest.fixture
async def portal(servers: object) -> AsyncIterator[Portal]:
    identity_settings = IdentitySettings(database=f"identity-test-{uuid.uuid4().hex[:8]}")
    identity = create_identity(identity_settings)
    gateway = create_gateway(GatewaySettings(cookie_secure=False))
    async with identity.router.lifespan_context(identity):
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://portal", headers={"Origin": "http://portal"}
        ) as client:
            harness = Portal(client, identity, gateway)
            service = identity.state.identity
            real_publish = service.publish

            async def publish(event: Event, key: str) -> None:
                harness.events.append(event)
                await real_publish(event, key)

            service.publish = publish
            harness.use_backends()
            yield harness
        await identity.state.runtime.mongo.drop_database(identity_settings.database)


async def test_login_page_has_the_guide_fields_and_a_csrf_token(portal: Portal) -> None:
    page = await portal.client.get("/login")
    assert page.status_code == 200
    for text in ("ログイン", "ユーザID", "パスワード", "パスワードをお忘れの方・パスワードの再発行はこちら"):
        assert text in page.text
    cookie = page.headers["set-cookie"]
    assert "watch_csrf=" in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    refused = await portal.client.post("/login", data={"login_id": "x", "password": "y"})
    assert refused.status_code == 403
    assert "有効期限が切れました" in refused.text


async def test_first_login_setup_dashboard_users_and_logout(portal: Portal) -> None:
    login_id, temporary, email = await portal.provision()
    wrong = await portal.post("/login", {"login_id": login_id, "password": "Wrong#pass1"})
    assert wrong.status_code == 401
    assert "ユーザIDまたはパスワードが正しくありません。" in wrong.text

    response = await portal.post("/login", {"login_id": login_id, "password": temporary})
    assert response.status_code == 303
    assert response.headers["location"] == "/account/password"
    session_cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("watch_session=")
    )
    assert "httponly" in session_cookie.lower()
    assert "samesite=lax" in session_cookie.lower()
    # Setup is unfinished: the dashboard sends the user back to the current step.
    assert (await portal.client.get("/")).headers["location"] == "/account/password"

    page = await portal.client.get("/account/password")
    for text in (
        "パスワード変更",
        "新しいパスワード",
        "新しいパスワード(確認)",
        "変更",
        "ログイン画面へ戻る",
    ):
        assert text in page.text
    mismatch = await portal.post(
        "/account/password", {"new_password": NEW_PASSWORD, "new_password_confirm": "x"}
    )
    assert mismatch.status_code == 422
    assert "一致しません" in mismatch.text
    changed = await portal.post(
        "/account/password", {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}
    )
    assert changed.headers["location"] == "/account/user-id"

    page = await portal.client.get("/account/user-id")
    assert "ログインに使用するユーザIDを設定します。" in page.text
    invalid = await portal.post("/account/user-id", {"new_login_id": "not-an-email"})
    assert invalid.status_code == 422
    assert "メールアドレス" in invalid.text
    assert (await portal.post("/account/user-id", {"new_login_id": email})).headers[
        "location"
    ] == "/account/two-step"

    page = await portal.client.get("/account/two-step")
    for text in ("利用する", "利用しない", "認証アプリケーション", "SMS認証", "電話番号", "次へ"):
        assert text in page.text
    assert 'name="phone" value="09055556666"' in page.text  # the 携帯番号 of the application
    bad_phone = await portal.post("/account/two-step", {"use": "yes", "method": "sms", "phone": "123"})
    assert bad_phone.status_code == 422
    assert "携帯電話番号" in bad_phone.text
    sms = await portal.post("/account/two-step", {"use": "yes", "method": "sms", "phone": "09011112222"})
    assert sms.headers["location"] == "/account/two-step/sms"
    page = await portal.client.get("/account/two-step/sms")
    assert "SMSに記載されている認証コードを入力してください。" in page.text
    assert "2段階認証設定画面へ戻る" in page.text
    wrong_code = await portal.post("/account/two-step/sms", {"code": "abc"})
    assert wrong_code.status_code == 422
    app = await portal.post("/account/two-step", {"use": "yes", "method": "totp"})
    assert app.headers["location"] == "/account/two-step/app"
    page = await portal.client.get("/account/two-step/app")
    assert "data:image/png;base64," in page.text
    assert "認証コード" in page.text
    off = await portal.post("/account/two-step", {"use": "no"})
    assert off.headers["location"] == "/"

    # Every other backend is down: the dashboard still renders, saying what it could not get.
    dashboard = await portal.client.get("/")
    assert dashboard.status_code == 200
    assert "見守り商事株式会社" in dashboard.text
    assert "セキュリティステータスを取得できませんでした" in dashboard.text
    assert "UTMの登録状況を取得できませんでした" in dashboard.text
    assert "お知らせを取得できませんでした。" in dashboard.text

    users = await portal.client.get("/users")
    assert email in users.text
    assert "利用しない" in users.text

    logout = await portal.post("/logout", {}, form_page="/")
    assert logout.headers["location"] == "/login?logged_out=1"
    assert (await portal.client.get("/")).headers["location"] == "/login"
    assert "ログアウトしました。" in (await portal.client.get("/login?logged_out=1")).text


async def test_dashboard_shows_threats_and_the_unregistered_warning(portal: Portal) -> None:
    portal.use_backends(
        device_registry=summaries(
            {"expected": 2, "shipped": 2, "registered": 1, "unregistered": 1, "online": 1, "offline": 0},
            {},
        ),
        alert_pipeline=summaries(
            {},
            {"total": 3, "by_severity": {"3": 1, "2": 2}, "by_category": {"Webガード": 3}, "latest": []},
        ),
    )
    await portal.log_in_new_user()
    page = await portal.client.get("/")
    assert "3件の脅威が検出されました" in page.text
    assert "★★★(高)" in page.text
    assert "Webガード" in page.text
    assert re.search(r"\d{4}/\d{2}/\d{2} - \d{4}/\d{2}/\d{2}", page.text)
    assert "【重要】ポータルへの登録が完了していないUTMがあります。" in page.text
    assert 'href="/units/register"' in page.text
    for text in (
        "詳細を確認",
        "問題を確認",
        "過去のお知らせ一覧",
        "UTM脅威レポートを確認する",
        "参加企業平均と比べる",
        "自社UTM同士を比べる",
    ):
        assert text in page.text

    portal.use_backends(
        device_registry=summaries(
            {"expected": 2, "shipped": 2, "registered": 2, "unregistered": 0, "online": 2, "offline": 0}, {}
        ),
        alert_pipeline=summaries({}, {"total": 0, "by_severity": {}, "by_category": {}, "latest": []}),
    )
    page = await portal.client.get("/")
    assert "検出された脅威はありません" in page.text
    assert "【重要】" not in page.text
    assert 'href="/alerts?min_severity=2&amp;status=open"' in page.text
    # The stand-in pipeline has no report API: a Japanese error page, never a 500.
    report = await portal.client.get("/reports/average")
    assert report.status_code == 502
    assert "レポートを取得できませんでした" in report.text
    manual = await portal.client.get("/downloads/portal-manual")
    assert manual.headers["content-type"] == "application/pdf"
    assert manual.content.startswith(b"%PDF-")
    assert (await portal.client.get("/downloads/unknown")).status_code == 404


async def test_reissue_page_answers_the_same_for_unknown_users(portal: Portal) -> None:
    email = await portal.log_in_new_user()
    page = await portal.client.get("/password/reissue")
    assert "パスワードの再発行" in page.text
    known = await portal.post("/password/reissue", {"identifier": email})
    unknown = await portal.post(
        "/password/reissue", {"identifier": "nobody@example.com"}, form_page="/password/reissue"
    )
    message = "仮パスワードを記載したメールを送信しました"
    assert message in known.text
    assert message in unknown.text


async def test_expired_credentials_point_to_reissue(portal: Portal) -> None:
    login_id, temporary, _ = await portal.provision()
    accounts = portal.identity.state.runtime.db["accounts"]
    await accounts.update_one(
        {"login_id": login_id}, {"$set": {"temporary_expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    page = await portal.post("/login", {"login_id": login_id, "password": temporary})
    assert page.status_code == 403
    assert "有効期限が切れています" in page.text
    error_box = page.text.split('data-testid="login-error"')[1].split("</div>")[0]
    assert '<a href="/password/reissue">パスワードをお忘れの方・パスワードの再発行はこちら</a>' in error_box


async def test_identity_down_gives_a_japanese_503_page(portal: Portal) -> None:
    portal.gateway.state.backends = Backends({"identity": "http://identity"}, transport=RoutingTransport({}))
    page = await portal.post("/login", {"login_id": "someone", "password": "x"})
    assert page.status_code == 503
    assert "認証サービスに接続できません" in page.text
