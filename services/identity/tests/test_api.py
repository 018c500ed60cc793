"""The identity HTTP API against the real MongoDB and Kafka (every endpoint, including bad input)."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from identity.main import create_app
from identity.reissue import REISSUE_ANSWER
from identity.settings import Settings
from shared.auth import Principal, issue_token, verify_token
from shared.events import AccountProvisioned, Event, NotificationRequested, PasswordReissued, SendSmsCode
from shared.sealing import Sealer
from shared.settings import DEV_GATEWAY_SECRET, DEV_SEALING_KEY, DEV_TOKEN_PRIVATE_KEY, DEV_TOKEN_PUBLIC_KEY

from .conftest import FakeClock, application

pytestmark = pytest.mark.integration

NEW_PASSWORD = "Kawasaki#2026"
SEALER = Sealer(DEV_SEALING_KEY)


class Harness:
    """The identity app with a hand-moved clock; published events are also kept here."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.app = app
        self.client = client
        self.clock = clock
        self.events: list[Event] = []

    def last(self, kind: type[Event]) -> Any:
        return [e for e in self.events if isinstance(e, kind)][-1]

    async def provision(self, users: int = 1) -> list[tuple[str, str]]:
        """Provision an application; the user IDs and temporary passwords of its users."""
        await self.app.state.identity.provision(
            application(number=f"AAP-{uuid.uuid4().hex[:8].upper()}", users=users)
        )
        provisioned = [e for e in self.events if isinstance(e, AccountProvisioned)][-users:]
        return [(e.login_id, SEALER.open(e.sealed_temporary_password)) for e in provisioned]

    async def login(self, login_id: str, password: str, client: str = "192.0.2.1") -> httpx.Response:
        gateway = {"X-Service-Token": DEV_GATEWAY_SECRET, "X-Client-Address": client}
        return await self.client.post(
            "/login", json={"login_id": login_id, "password": password}, headers=gateway
        )

    async def step(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        """POST a session step; a renewed session id replaces the old one in ``headers``."""
        response = await self.client.post(path, json=body, headers=headers)
        if response.status_code == 200 and response.json().get("session_id"):
            headers["X-Identity-Session"] = response.json()["session_id"]
        return response

    async def set_user_id(self, email: str, headers: dict[str, str]) -> httpx.Response:
        """ユーザID設定 with the code mailed to ``email``."""
        asked = await self.step("/sessions/current/user-id", {"new_login_id": email}, headers)
        assert asked.json()["code_sent_to"] == email
        mail = self.last(NotificationRequested)
        assert mail.recipient == email
        code = SEALER.open(mail.context["sealed_code"])
        return await self.step("/sessions/current/user-id/confirm", {"code": code}, headers)

    async def setup_session(self) -> tuple[str, dict[str, str]]:
        """A user through password change and user ID; the session stands at 2-step setup."""
        login_id, temporary = (await self.provision())[0]
        sid = (await self.login(login_id, temporary)).json()["session_id"]
        headers = {"X-Identity-Session": sid}
        body = {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}
        assert (await self.step("/sessions/current/password", body, headers)).status_code == 200
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        response = await self.set_user_id(email, headers)
        assert response.json()["next_step"] == "two_step_setup"
        return email, headers


@pytest.fixture
async def api(servers: object) -> AsyncIterator[Harness]:
    clock = FakeClock()
    settings = Settings(database=f"identity-test-{uuid.uuid4().hex[:8]}")
    app = create_app(settings, clock=clock)
    service = app.state.identity
    real_publish = service.publish
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            harness = Harness(app, client, clock)

            async def publish(event: Event, key: str) -> None:
                harness.events.append(event)
                await real_publish(event, key)

            service.publish = publish
            yield harness
        await app.state.runtime.mongo.drop_database(settings.database)


async def test_first_login_walks_the_setup_steps_and_gets_a_token(api: Harness) -> None:
    login_id, temporary = (await api.provision())[0]
    response = await api.login(login_id, temporary)
    assert response.status_code == 200
    assert response.json()["next_step"] == "password_change"
    headers = {"X-Identity-Session": response.json()["session_id"]}

    current = await api.client.get("/sessions/current", headers=headers)
    assert current.json()["stage"] == "password_change"
    assert current.json()["account"]["login_id"] == login_id
    token = await api.client.post("/sessions/current/token", headers=headers)
    assert token.status_code == 409
    assert token.json()["detail"]["next_step"] == "password_change"

    body = {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}
    old = dict(headers)
    changed = await api.step("/sessions/current/password", body, headers)
    assert changed.json()["next_step"] == "user_id_setup"
    assert headers != old  # renewed at the change of privilege; the old id is gone
    assert (await api.client.get("/sessions/current", headers=old)).status_code == 401
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    response = await api.set_user_id(email, headers)
    assert response.json()["next_step"] == "two_step_setup"
    response = await api.step("/sessions/current/two-step", {"use": False}, headers)
    assert response.json()["next_step"] == "complete"

    token = await api.client.post("/sessions/current/token", headers=headers)
    assert token.status_code == 200
    access = token.json()["access_token"]
    me = await api.client.get("/users/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200
    assert me.json()["login_id"] == email
    assert me.json()["company_name"] == "日本電気株式会社"
    users = await api.client.get("/users", headers={"Authorization": f"Bearer {access}"})
    assert [u["login_id"] for u in users.json()["users"]] == [email]

    assert (await api.client.delete("/sessions/current", headers=headers)).status_code == 204
    assert (await api.client.post("/sessions/current/token", headers=headers)).status_code == 401
    # The new credentials work; the temporary ones no longer do.
    assert (await api.login(email, NEW_PASSWORD)).json()["next_step"] == "complete"
    assert (await api.login(login_id, temporary)).status_code == 401


async def test_provisioning_twice_keeps_one_account_per_user(api: Harness) -> None:
    event = application(number=f"AAP-{uuid.uuid4().hex[:8].upper()}", users=2)
    await api.app.state.identity.provision(event)
    await api.app.state.identity.provision(event)
    accounts = api.app.state.runtime.db["accounts"]
    assert await accounts.count_documents({"application_number": event.application_number}) == 2
    assert len([e for e in api.events if isinstance(e, AccountProvisioned)]) == 2
    stored = await accounts.find_one({"application_number": event.application_number})
    assert stored["password_hash"].startswith("$argon2id$")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/login", {}),
        ("/login", {"login_id": 5}),
        ("/login", "not json"),
        ("/password/reissue", {"identifier": "x" * 1000}),
        ("/sessions/current/two-step", {"use": "maybe"}),
    ],
)
async def test_malformed_bodies_get_a_422_with_a_japanese_message(api: Harness, path: str, body: Any) -> None:
    response = await api.client.post(path, json=body, headers={"X-Identity-Session": "x"})
    assert response.status_code == 422
    assert response.json()["detail"]["message"] == "入力内容に誤りがあります。"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sessions/current"),
        ("POST", "/sessions/current/token"),
        ("POST", "/sessions/current/password"),
        ("POST", "/sessions/current/user-id"),
        ("POST", "/sessions/current/user-id/confirm"),
        ("POST", "/sessions/current/two-step"),
        ("GET", "/sessions/current/two-step/totp"),
        ("POST", "/sessions/current/two-step/totp/confirm"),
        ("POST", "/sessions/current/two-step/sms/confirm"),
        ("POST", "/sessions/current/sms/resend"),
        ("POST", "/sessions/current/verify"),
    ],
)
async def test_session_endpoints_without_a_session_answer_401(api: Harness, method: str, path: str) -> None:
    body = {"use": True} if path.endswith("two-step") else {}
    for headers in ({}, {"X-Identity-Session": "forged"}):
        response = await api.client.request(
            method, path, json=body if method == "POST" else None, headers=headers
        )
        assert response.status_code == 401, path
        assert "ログイン" in response.json()["detail"]["message"]


async def test_user_endpoints_need_a_bearer_token(api: Harness) -> None:
    assert (await api.client.get("/users/me")).status_code == 401
    assert (await api.client.get("/users", headers={"Authorization": "Bearer forged"})).status_code == 401


async def test_login_errors_missing_wrong_expired_throttled(api: Harness) -> None:
    empty = await api.login("", "")
    assert empty.status_code == 400
    login_id, temporary = (await api.provision())[0]
    wrong = await api.login(login_id, "Wrong#pass1")
    assert wrong.status_code == 401
    assert wrong.json()["detail"]["message"] == "ユーザIDまたはパスワードが正しくありません。"

    api.clock.advance(days=14, seconds=1)
    expired = await api.login(login_id, temporary)
    assert expired.status_code == 403
    assert expired.json()["detail"]["code"] == "credentials_expired"

    attempts = [await api.login(login_id, "Wrong#pass1") for _ in range(4)]
    assert [a.status_code for a in attempts] == [401, 401, 429, 429]  # waiting after 3 failures
    assert "しばらく時間をおいて" in attempts[-1].json()["detail"]["message"]
    # Another client is not held back by them (the temporary password has expired: 403, not 429).
    assert (await api.login(login_id, temporary, client="192.0.2.99")).status_code == 403


async def test_setup_steps_refuse_bad_input_and_wrong_order(api: Harness) -> None:
    login_id, temporary = (await api.provision())[0]
    headers = {"X-Identity-Session": (await api.login(login_id, temporary)).json()["session_id"]}
    early = await api.client.post(
        "/sessions/current/user-id", json={"new_login_id": "a@example.com"}, headers=headers
    )
    assert early.status_code == 409
    assert early.json()["detail"]["next_step"] == "password_change"
    weak = await api.client.post(
        "/sessions/current/password",
        json={"new_password": "password", "new_password_confirm": "password"},
        headers=headers,
    )
    assert weak.status_code == 422
    assert "記号" in weak.json()["detail"]["errors"]["new_password"]
    same = await api.client.post(
        "/sessions/current/password",
        json={"new_password": temporary, "new_password_confirm": temporary},
        headers=headers,
    )
    assert "仮パスワード" in same.json()["detail"]["message"]

    email, other_headers = await api.setup_session()
    body = {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}
    await api.step("/sessions/current/password", body, headers)
    taken = await api.set_user_id(email, headers)  # told only once the address is proven
    assert taken.status_code == 409
    assert "すでに使用されています" in taken.json()["detail"]["errors"]["new_login_id"]
    invalid = await api.client.post(
        "/sessions/current/user-id", json={"new_login_id": "no-at-sign"}, headers=headers
    )
    assert invalid.status_code == 422

    no_method = await api.client.post("/sessions/current/two-step", json={"use": True}, headers=other_headers)
    assert no_method.status_code == 422
    bad_phone = await api.client.post(
        "/sessions/current/two-step",
        json={"use": True, "method": "sms", "phone": "abc"},
        headers=other_headers,
    )
    assert bad_phone.json()["detail"]["errors"]["phone"].startswith("SMSを受信できる")
    no_totp = await api.client.get("/sessions/current/two-step/totp", headers=other_headers)
    assert no_totp.status_code == 409
    bad_code = await api.client.post("/sessions/current/verify", json={"code": "12"}, headers=other_headers)
    assert bad_code.status_code == 409


async def test_authenticator_setup_and_login_with_code(api: Harness) -> None:
    email, headers = await api.setup_session()
    started = await api.client.post(
        "/sessions/current/two-step", json={"use": True, "method": "totp"}, headers=headers
    )
    assert started.status_code == 200
    totp = started.json()["totp"]
    assert totp["qr_data_url"].startswith("data:image/png;base64,")
    assert "issuer=%E3%82%BB%E3%82%AD" in totp["otpauth_uri"]
    again = await api.client.get("/sessions/current/two-step/totp", headers=headers)
    assert again.json()["secret"] == totp["secret"]
    wrong = await api.client.post(
        "/sessions/current/two-step/totp/confirm", json={"code": "000000"}, headers=headers
    )
    assert wrong.status_code == 422
    code = pyotp.TOTP(totp["secret"]).at(api.clock.now)
    confirmed = await api.step("/sessions/current/two-step/totp/confirm", {"code": code}, headers)
    assert confirmed.json()["next_step"] == "complete"
    stored = await api.app.state.runtime.db["accounts"].find_one({"login_id": email})
    assert totp["secret"] not in str(stored)  # sealed at rest

    login = await api.login(email, NEW_PASSWORD)
    assert login.json()["next_step"] == "second_factor"
    assert login.json()["second_factor"] == "totp"
    second = {"X-Identity-Session": login.json()["session_id"]}
    assert (await api.client.post("/sessions/current/token", headers=second)).status_code == 409
    replay = await api.client.post("/sessions/current/verify", json={"code": code}, headers=second)
    assert replay.status_code == 422
    api.clock.advance(seconds=30)
    fresh = pyotp.TOTP(totp["secret"]).at(api.clock.now)
    verified = await api.step("/sessions/current/verify", {"code": fresh}, second)
    assert verified.json()["next_step"] == "complete"
    assert (await api.client.post("/sessions/current/token", headers=second)).status_code == 200


async def test_sms_setup_resend_and_login(api: Harness) -> None:
    email, headers = await api.setup_session()
    started = await api.client.post(
        "/sessions/current/two-step",
        json={"use": True, "method": "sms", "phone": "08011112222"},
        headers=headers,
    )
    assert started.json()["sms_sent_to"] == "080****2222"
    sms = api.last(SendSmsCode)
    assert sms.phone == "08011112222"
    too_soon = await api.client.post("/sessions/current/sms/resend", headers=headers)
    assert too_soon.status_code == 429
    api.clock.advance(minutes=5, seconds=1)
    expired = await api.client.post(
        "/sessions/current/two-step/sms/confirm", json={"code": SEALER.open(sms.sealed_code)}, headers=headers
    )
    assert expired.json()["detail"]["code"] == "sms_expired"
    resent = await api.client.post("/sessions/current/sms/resend", headers=headers)
    assert resent.status_code == 200
    code = SEALER.open(api.last(SendSmsCode).sealed_code)
    confirmed = await api.step("/sessions/current/two-step/sms/confirm", {"code": code}, headers)
    assert confirmed.json()["next_step"] == "complete"

    login = await api.login(email, NEW_PASSWORD)
    assert login.json()["second_factor"] == "sms"
    second = {"X-Identity-Session": login.json()["session_id"]}
    login_code = SEALER.open(api.last(SendSmsCode).sealed_code)
    verified = await api.client.post("/sessions/current/verify", json={"code": login_code}, headers=second)
    assert verified.json()["next_step"] == "complete"


async def test_reissue_same_answer_and_a_temporary_password_beside_the_current_one(api: Harness) -> None:
    email, headers = await api.setup_session()
    await api.step("/sessions/current/two-step", {"use": False}, headers)
    unknown = await api.client.post("/password/reissue", json={"identifier": "nobody@example.com"})
    known = await api.client.post("/password/reissue", json={"identifier": email.upper()})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json() == {"message": REISSUE_ANSWER}
    empty = await api.client.post("/password/reissue", json={"identifier": " "})
    assert empty.status_code == 422
    await api.app.state.identity.reissue.drain()
    reissued = api.last(PasswordReissued)
    assert reissued.email == email
    assert reissued.temporary_password_expires_at == api.clock.now + timedelta(hours=24)
    # The session and the current password still work.
    assert (await api.client.post("/sessions/current/token", headers=headers)).status_code == 200
    assert (await api.login(email, NEW_PASSWORD)).json()["next_step"] == "complete"
    login = await api.login(email, SEALER.open(reissued.sealed_temporary_password))
    assert login.json()["next_step"] == "password_change"


async def test_client_address_is_read_only_from_the_authenticated_gateway(api: Harness) -> None:
    login_id, temporary = (await api.provision())[0]
    forged = {"X-Client-Address": "192.0.2.200", "X-Service-Token": "guess"}
    body = {"login_id": login_id, "password": "Wrong#pass1"}
    statuses = []
    for i in range(4):
        # A caller without the gateway's token changes the header every time: still one client.
        headers = {**forged, "X-Client-Address": f"192.0.2.{200 + i}"}
        statuses.append((await api.client.post("/login", json=body, headers=headers)).status_code)
    assert statuses == [401, 401, 401, 429]
    # The gateway, proving itself, passes on another browser's address: that browser is not held back.
    assert (await api.login(login_id, temporary, client="192.0.2.250")).status_code == 200


async def test_operator_resets_a_lost_second_factor_with_an_audit_entry(api: Harness) -> None:
    email, headers = await api.setup_session()
    await api.step("/sessions/current/two-step", {"use": False}, headers)
    me = await api.client.post("/sessions/current/token", headers=headers)
    account_id = me.json()["account"]["account_id"]
    customer = issue_token(Principal(account_id, "C-TEST0001", "customer"), private_key=DEV_TOKEN_PRIVATE_KEY)
    operator = issue_token(
        Principal("A-operator", "operator", "operator", name="運用"), private_key=DEV_TOKEN_PRIVATE_KEY
    )
    path = f"/operator/accounts/{account_id}/second-factor/reset"
    body = {"reason": "電話で本人確認済み"}
    assert (await api.client.post(path, json=body)).status_code == 401
    denied = await api.client.post(path, json=body, headers={"Authorization": f"Bearer {customer}"})
    assert denied.status_code == 403
    unknown = await api.client.post(
        "/operator/accounts/A-unknown/second-factor/reset",
        json=body,
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert unknown.status_code == 404
    done = await api.client.post(path, json=body, headers={"Authorization": f"Bearer {operator}"})
    assert done.status_code == 200
    assert done.json()["operator_id"] == "A-operator"
    log = await api.client.get("/operator/audit-log", headers={"Authorization": f"Bearer {operator}"})
    assert [e["account_id"] for e in log.json()["entries"]][:1] == [account_id]
    assert (await api.client.post("/sessions/current/token", headers=headers)).status_code == 401
    assert (await api.login(email, NEW_PASSWORD)).json()["next_step"] == "two_step_setup"


def test_openapi_declares_every_error_status_of_the_routes(api_app: FastAPI) -> None:
    paths = api_app.openapi()["paths"]
    declared = {(m.upper(), p): set(op["responses"]) for p, ops in paths.items() for m, op in ops.items()}
    assert {"401", "403", "422", "429"} <= declared[("POST", "/login")]
    assert {"401", "409", "422", "429"} <= declared[("POST", "/sessions/current/verify")]
    assert {"401", "409", "422"} <= declared[("POST", "/sessions/current/user-id/confirm")]
    assert {"422", "429"} <= declared[("POST", "/password/reissue")]
    assert {"401", "403", "404", "422"} <= declared[
        ("POST", "/operator/accounts/{account_id}/second-factor/reset")
    ]


@pytest.fixture
def api_app() -> FastAPI:
    return create_app(Settings())


async def test_operator_is_seeded_at_start_up(api: Harness) -> None:
    settings = Settings()
    login = await api.login(settings.operator_login, settings.operator_password)
    assert login.status_code == 200
    assert login.json()["next_step"] == "two_step_setup"
    headers = {"X-Identity-Session": login.json()["session_id"]}
    refused = await api.client.post("/sessions/current/two-step", json={"use": False}, headers=headers)
    assert refused.json()["detail"]["code"] == "totp_required"


async def test_the_session_names_the_applications_mobile_for_the_sms_setup(api: Harness) -> None:
    from shared.events import LoginUser

    event = application(number=f"AAP-{uuid.uuid4().hex[:8].upper()}")
    user = LoginUser(name="日電 太郎", email=f"m-{uuid.uuid4().hex[:6]}@example.com", mobile="09087654321")
    await api.app.state.identity.provision(event.model_copy(update={"login_users": [user]}))
    provisioned = api.last(AccountProvisioned)
    response = await api.login(provisioned.login_id, SEALER.open(provisioned.sealed_temporary_password))
    headers = {"X-Identity-Session": response.json()["session_id"]}
    current = await api.client.get("/sessions/current", headers=headers)
    assert current.json()["application_mobile"] == "09087654321"


# --- the portal cookie's handles (internal routes for the gateway) ------------------------------

GATEWAY = {"X-Service-Token": DEV_GATEWAY_SECRET}
BASE = "/internal/browser-sessions"


async def _handle(api: Harness, sid: str) -> str:
    created = await api.client.post(BASE, json={"session_id": sid}, headers=GATEWAY)
    assert created.status_code == 201, created.text
    handle = created.json()["handle"]
    assert handle != sid
    return str(handle)


async def _lookup(api: Harness, handle: str) -> httpx.Response:
    return await api.client.post(f"{BASE}/lookup", json={"handle": handle}, headers=GATEWAY)


async def _logged_in(api: Harness) -> tuple[str, str]:
    """A user through the whole setup; their identity session id and account id."""
    _, headers = await api.setup_session()
    done = await api.step("/sessions/current/two-step", {"use": False}, headers)
    assert done.json()["next_step"] == "complete"
    current = await api.client.get("/sessions/current", headers=headers)
    return headers["X-Identity-Session"], current.json()["account"]["account_id"]


async def test_a_handle_stands_for_its_session_until_revoked(api: Harness) -> None:
    sid, account_id = await _logged_in(api)
    handle = await _handle(api, sid)
    found = await _lookup(api, handle)
    assert found.status_code == 200
    assert found.json()["session_id"] == sid
    assert found.json()["account_id"] == account_id

    api.clock.advance(minutes=7)
    again = await _lookup(api, handle)
    assert again.json()["idle_seconds"] == 420.0  # unused for 7 minutes since the last lookup
    # A use is written once the last one written is a minute old: the idle time is never shorter.
    api.clock.advance(seconds=30)
    assert (await _lookup(api, handle)).json()["idle_seconds"] == 30.0
    api.clock.advance(seconds=40)
    assert (await _lookup(api, handle)).json()["idle_seconds"] == 70.0
    api.clock.advance(seconds=10)
    assert (await _lookup(api, handle)).json()["idle_seconds"] == 10.0

    revoked = await api.client.post(f"{BASE}/revoke", json={"handle": handle}, headers=GATEWAY)
    assert revoked.status_code == 204
    assert (await _lookup(api, handle)).status_code == 404
    # The identity session itself lives on (a new handle may stand for it).
    assert (await _lookup(api, await _handle(api, sid))).status_code == 200


async def test_a_lookup_may_bring_the_session_s_access_token_along(api: Harness) -> None:
    sid, account_id = await _logged_in(api)
    handle = await _handle(api, sid)
    assert (await _lookup(api, handle)).json()["token"] is None  # not asked for
    found = await api.client.post(
        f"{BASE}/lookup", json={"handle": handle, "with_token": True}, headers=GATEWAY
    )
    token = found.json()["token"]
    principal = verify_token(token["access_token"], public_key=DEV_TOKEN_PUBLIC_KEY)
    assert (principal.account_id, token["account"]["account_id"]) == (account_id, account_id)
    # A session with a setup step due is found, but gets no token (the token route says which step).
    _, headers = await api.setup_session()
    unfinished = await _handle(api, headers["X-Identity-Session"])
    body = {"handle": unfinished, "with_token": True}
    found = await api.client.post(f"{BASE}/lookup", json=body, headers=GATEWAY)
    assert (found.status_code, found.json()["token"]) == (200, None)
    assert (await api.client.post("/sessions/current/token", headers=headers)).status_code == 409


async def test_a_handle_dies_with_its_session(api: Harness) -> None:
    sid, _ = await _logged_in(api)
    handle = await _handle(api, sid)
    logout = await api.client.delete("/sessions/current", headers={"X-Identity-Session": sid})
    assert logout.status_code == 204
    assert (await _lookup(api, handle)).status_code == 404
    assert (await api.client.post(BASE, json={"session_id": sid}, headers=GATEWAY)).status_code == 404


async def test_a_password_change_ends_the_other_browsers(api: Harness) -> None:
    sid, _ = await _logged_in(api)
    login_id = (await api.client.get("/sessions/current", headers={"X-Identity-Session": sid})).json()[
        "account"
    ]["login_id"]
    other_sid = (await api.login(login_id, NEW_PASSWORD)).json()["session_id"]
    other = await _handle(api, other_sid)
    headers = {"X-Identity-Session": sid}
    body = {"new_password": "Yokohama#2027", "new_password_confirm": "Yokohama#2027"}
    assert (await api.step("/sessions/current/password", body, headers)).status_code == 200
    assert (await _lookup(api, other)).status_code == 404
    assert (await _lookup(api, await _handle(api, headers["X-Identity-Session"]))).status_code == 200


async def test_revoking_a_user_ends_all_their_sessions(api: Harness) -> None:
    sid, account_id = await _logged_in(api)
    first, second = await _handle(api, sid), await _handle(api, sid)
    bystander_sid, _ = await _logged_in(api)
    bystander = await _handle(api, bystander_sid)

    revoked = await api.client.post(
        f"{BASE}/revoke-account", json={"account_id": account_id}, headers=GATEWAY
    )
    assert revoked.json() == {"revoked": 2}
    assert (await _lookup(api, first)).status_code == 404
    assert (await _lookup(api, second)).status_code == 404
    assert (await api.client.get("/sessions/current", headers={"X-Identity-Session": sid})).status_code == 401
    assert (await _lookup(api, bystander)).status_code == 200


@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_only_the_gateway_may_use_the_internal_routes(api: Harness, token: str | None) -> None:
    sid, account_id = await _logged_in(api)
    handle = await _handle(api, sid)
    headers = {"X-Service-Token": token} if token else {}
    calls = [
        (BASE, {"session_id": sid}),
        (f"{BASE}/lookup", {"handle": handle}),
        (f"{BASE}/revoke", {"handle": handle}),
        (f"{BASE}/revoke-account", {"account_id": account_id}),
    ]
    for path, body in calls:
        assert (await api.client.post(path, json=body, headers=headers)).status_code == 403, path
    assert (await _lookup(api, handle)).status_code == 200


async def test_unknown_and_oversized_handles_answer_like_unknown_ones(api: Harness) -> None:
    assert (await _lookup(api, uuid.uuid4().hex)).status_code == 404
    assert (await _lookup(api, "")).status_code == 404
    assert (await _lookup(api, "x" * 201)).status_code == 422
