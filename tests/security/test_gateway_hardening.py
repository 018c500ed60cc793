"""Attacks on the portal's web layer, against every service running as real processes.

Each test performs what an attacker tried (issue 8) and asserts that it now fails: forged CSRF
tokens and foreign origins, pages without CSP/HSTS/no-store or with a server header, public
/metrics and operator routes in the OpenAPI document, session handles that survive a change of
privilege, a revoked session the portal keeps serving, and 5xx answers to hostile paths and JSON.
"""

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from shared.settings import DEV_GATEWAY_SECRET
from support.processes import PACKAGES, Stack
from support.servers import Servers

pytestmark = pytest.mark.integration

# Several services starting at once on a busy two-core machine can take more than a minute.
START_TIMEOUT = 240.0

OPERATOR_LOGIN = "ops.security@watch.example"
OPERATOR_PASSWORD = "Kanshi#Security-2026"
NEW_PASSWORD = "Kanshi#Security-2027"
METRICS_TOKEN = "metrics-token-of-this-test"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
TOTP_SECRET = re.compile(r'data-testid="totp-secret">([A-Z2-7]+)<')
REVOCATION_LIMIT_SECONDS = 5.0


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    """Every service; the operator's credentials and a metrics token are set."""
    stack = Stack(servers)
    for name in PACKAGES:
        stack.add(name, METRICS_TOKEN=METRICS_TOKEN)
    stack.services["identity"].env.update(
        IDENTITY_OPERATOR_LOGIN=OPERATOR_LOGIN, IDENTITY_OPERATOR_PASSWORD=OPERATOR_PASSWORD
    )
    stack.services["gateway"].env["GATEWAY_COOKIE_SECURE"] = "false"
    try:
        stack.start(timeout=START_TIMEOUT)
        yield stack
    finally:
        stack.stop()


def browser(stack: Stack) -> httpx.Client:
    """A client that behaves like the portal's own pages (same Origin, cookies kept)."""
    url = stack.services["gateway"].url
    return httpx.Client(base_url=url, headers={"Origin": url}, timeout=20)


def csrf_of(client: httpx.Client, path: str) -> str:
    match = CSRF_FIELD.search(client.get(path).text)
    assert match is not None, f"no CSRF field on {path}"
    return match.group(1)


def post_form(
    client: httpx.Client, path: str, data: dict[str, str], *, page: str | None = None
) -> httpx.Response:
    return client.post(path, data={**data, "csrf_token": csrf_of(client, page or path)})


def handle(client: httpx.Client) -> str:
    value = client.cookies.get("watch_session")
    assert value, "no session cookie"
    return value


class Totp:
    """Codes from oathtool, never the same time step twice (identity refuses a replayed code)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.last_step = -1

    def code(self) -> str:
        while True:
            step = int(time.time()) // 30
            if step != self.last_step:
                code = subprocess.run(
                    ["oathtool", "--totp", "-b", self.secret], check=True, capture_output=True, text=True
                ).stdout.strip()
                if int(time.time()) // 30 == step:
                    self.last_step = step
                    return code
            time.sleep(0.5)


@dataclass
class Operator:
    client: httpx.Client
    totp: Totp
    password: str
    handles: dict[str, str]


@pytest.fixture(scope="module")
def operator(stack: Stack) -> Iterator[Operator]:
    """The operator through the first login (authenticator setup), noting the handle at each step."""
    client = browser(stack)
    handles: dict[str, str] = {}
    client.get("/login")
    handles["before_login"] = client.cookies.get("watch_session") or ""
    logged_in = post_form(client, "/login", {"login_id": OPERATOR_LOGIN, "password": OPERATOR_PASSWORD})
    assert logged_in.status_code == 303, logged_in.text
    handles["login"] = handle(client)
    chosen = post_form(client, "/account/two-step", {"use": "yes", "method": "totp"})
    assert chosen.headers["location"] == "/account/two-step/app"
    handles["two_step_chosen"] = handle(client)
    secret = TOTP_SECRET.search(client.get("/account/two-step/app").text)
    assert secret is not None
    totp = Totp(secret.group(1))
    confirmed = post_form(client, "/account/two-step/app", {"code": totp.code()})
    assert confirmed.status_code in (200, 303), confirmed.text
    handles["second_factor_set_up"] = handle(client)
    assert client.get("/operator").status_code == 200
    yield Operator(client, totp, OPERATOR_PASSWORD, handles)
    client.close()


def is_logged_in(stack: Stack, session_handle: str) -> bool:
    with httpx.Client(base_url=stack.services["gateway"].url, timeout=20) as other:
        other.cookies.set("watch_session", session_handle)
        response = other.get("/operator")
        return response.status_code == 200


# --- CSRF and origin ---------------------------------------------------------------------------


def test_a_csrf_token_chosen_by_the_attacker_is_refused(stack: Stack) -> None:
    with browser(stack) as client:
        client.cookies.set("watch_csrf", "x")
        forged = client.post("/login", data={"login_id": OPERATOR_LOGIN, "password": "x", "csrf_token": "x"})
        assert forged.status_code == 403
        assert "画面の有効期限が切れました" in forged.text


def test_unsafe_requests_from_another_origin_or_none_are_refused(stack: Stack) -> None:
    with browser(stack) as client:
        token = csrf_of(client, "/login")
        form = {"login_id": OPERATOR_LOGIN, "password": "wrong-password", "csrf_token": token}
        foreign = client.post("/login", data=form, headers={"Origin": "https://attacker.example"})
        assert foreign.status_code == 403
        assert "ポータルの画面から操作してください" in foreign.text
        del client.headers["Origin"]
        missing = client.post("/login", data=form)
        assert missing.status_code == 403
        foreign_referer = client.post("/login", data=form, headers={"Referer": "https://attacker.example/x"})
        assert foreign_referer.status_code == 403
        wizard = client.post(
            "/signup/applications",
            json={"company": {}},
            headers={"X-CSRF-Token": token, "Origin": "https://attacker.example"},
        )
        assert wizard.status_code == 403
        assert wizard.json() == {
            "errors": {"_form": "この操作は受け付けられません。ポータルの画面から操作してください。"}
        }
        # The same form from the portal's own page goes through to the password check.
        own = client.post("/login", data=form, headers={"Origin": stack.services["gateway"].url})
        assert own.status_code == 401


def test_a_token_of_one_session_is_refused_in_another(stack: Stack, operator: Operator) -> None:
    stolen = csrf_of(operator.client, "/operator")
    with browser(stack) as client:
        csrf_of(client, "/login")
        refused = client.post(
            "/login", data={"login_id": OPERATOR_LOGIN, "password": "x", "csrf_token": stolen}
        )
        assert refused.status_code == 403


# --- headers -----------------------------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


@pytest.mark.parametrize(
    "path", ["/operator", "/operator/notices", "/operator/shipments", "/operator/applications"]
)
def test_logged_in_pages_have_csp_hsts_no_store_and_no_server_header(operator: Operator, path: str) -> None:
    page = operator.client.get(path)
    assert page.status_code == 200, page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["strict-transport-security"].startswith("max-age=")
    assert page.headers["cache-control"] == "no-store"
    assert "server" not in page.headers
    assert not INLINE_SCRIPT.search(page.text)
    assert not INLINE_STYLE.search(page.text)
    assert not INLINE_HANDLER.search(page.text)


def test_public_pages_and_scripts_carry_the_policy_too(stack: Stack) -> None:
    with browser(stack) as client:
        for path in ("/login", "/signup", "/password/reissue"):
            page = client.get(path)
            assert "default-src 'self'" in page.headers["content-security-policy"], path
            assert "server" not in page.headers, path
            assert not INLINE_SCRIPT.search(page.text), path
            assert not INLINE_STYLE.search(page.text), path
            assert not INLINE_HANDLER.search(page.text), path
        script = client.get("/static/signup.js")
        assert script.status_code == 200
        assert "server" not in script.headers


# --- metrics and the public OpenAPI ------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(PACKAGES))
def test_metrics_are_refused_without_the_token(stack: Stack, service: str) -> None:
    url = f"{stack.services[service].url}/metrics"
    anonymous = httpx.get(url, timeout=10)
    assert anonymous.status_code == 404
    assert "http_requests_total" not in anonymous.text
    wrong = httpx.get(url, headers={"Authorization": "Bearer guessed"}, timeout=10)
    assert wrong.status_code == 404
    scraper = httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert scraper.status_code == 200
    assert "http_requests_total" in scraper.text
    assert "server" not in anonymous.headers


def test_operator_and_internal_routes_are_not_in_the_public_openapi(stack: Stack) -> None:
    document = httpx.get(f"{stack.services['gateway'].url}/openapi.json", timeout=10).json()
    paths = set(document["paths"])
    assert "/login" in paths
    assert not [p for p in paths if p.startswith("/operator")]
    assert "/metrics" not in paths
    assert "/dashboard" not in paths


# --- session handles ---------------------------------------------------------------------------


def test_the_session_handle_changes_at_every_change_of_privilege(stack: Stack, operator: Operator) -> None:
    handles = operator.handles
    assert handles["login"] != handles["before_login"]
    assert handles["two_step_chosen"] != handles["login"]
    assert handles["second_factor_set_up"] != handles["two_step_chosen"]
    # A handle seen before a change no longer opens anything.
    assert not is_logged_in(stack, handles["login"])
    assert not is_logged_in(stack, handles["two_step_chosen"])
    assert is_logged_in(stack, handles["second_factor_set_up"])

    client = operator.client
    before_password = handle(client)
    # A form rendered before the change carries a token bound to the old identity session.
    earlier_token = csrf_of(client, "/operator")
    changed = post_form(
        client, "/account/password", {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}
    )
    assert changed.status_code == 200, changed.text
    assert "パスワードを変更しました。" in changed.text
    after_password = handle(client)
    assert after_password != before_password
    assert not is_logged_in(stack, before_password)
    # Identity renewed its session at the password change: the old form's token is refused.
    assert client.post("/logout", data={"csrf_token": earlier_token}).status_code == 403
    logged_out = client.post("/logout", data={"csrf_token": csrf_of(client, "/operator")})
    assert logged_out.status_code == 303
    assert not is_logged_in(stack, after_password)

    relogin = post_form(client, "/login", {"login_id": OPERATOR_LOGIN, "password": NEW_PASSWORD})
    assert relogin.headers["location"] == "/login/verify"
    at_second_factor = handle(client)
    assert at_second_factor != after_password
    assert not is_logged_in(stack, at_second_factor)
    verified = post_form(client, "/login/verify", {"code": operator.totp.code()})
    assert verified.headers["location"] == "/"
    after_verify = handle(client)
    assert after_verify != at_second_factor
    assert not is_logged_in(stack, at_second_factor)
    assert is_logged_in(stack, after_verify)


def _identity_session_of(stack: Stack, session_handle: str) -> str:
    """The identity session behind a cookie handle, asked of identity as the gateway would."""
    found = httpx.post(
        f"{stack.services['identity'].url}/internal/browser-sessions/lookup",
        json={"handle": session_handle},
        headers={"X-Service-Token": DEV_GATEWAY_SECRET},
        timeout=10,
    )
    assert found.status_code == 200, found.text
    return str(found.json()["session_id"])


def test_a_session_revoked_at_identity_stops_working_within_five_seconds(
    stack: Stack, operator: Operator
) -> None:
    client = operator.client
    assert client.get("/operator").status_code == 200  # the portal now holds a token for this session
    sid = _identity_session_of(stack, handle(client))
    revoked = httpx.delete(
        f"{stack.services['identity'].url}/sessions/current", headers={"X-Identity-Session": sid}, timeout=10
    )
    assert revoked.status_code < 300
    revoked_at = time.monotonic()
    while True:
        page = client.get("/operator")
        if page.status_code == 303 and page.headers["location"] == "/login":
            break
        assert time.monotonic() - revoked_at < REVOCATION_LIMIT_SECONDS + 1.0, "revoked session still served"
        time.sleep(0.25)
    assert time.monotonic() - revoked_at <= REVOCATION_LIMIT_SECONDS + 1.0
    relogin = post_form(client, "/login", {"login_id": OPERATOR_LOGIN, "password": NEW_PASSWORD})
    assert relogin.status_code == 303
    verified = post_form(client, "/login/verify", {"code": operator.totp.code()})
    assert verified.headers["location"] == "/"


# --- no 5xx ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/alerts/summary", "/alerts/%3F", "/alerts/%23", "/alerts/..%2F..%2Fhealth%2Flive"],
)
def test_hostile_alert_paths_get_not_found_not_a_server_error(operator: Operator, path: str) -> None:
    response = operator.client.get(path)
    assert response.status_code == 404, response.text
    assert (
        "アラートが見つかりません。" in response.text
        or "お探しのページは見つかりませんでした。" in response.text
    )


DEEP = "[" * 5000 + "]" * 5000


def test_deeply_nested_json_gets_a_clear_422_everywhere(stack: Stack) -> None:
    with browser(stack) as client:
        token = csrf_of(client, "/login")
        wizard = client.post(
            "/signup/applications",
            content=DEEP,
            headers={"Content-Type": "application/json", "X-CSRF-Token": token},
        )
        assert wizard.status_code == 422
        assert wizard.json()["errors"] == {"_form": "入力形式が正しくありません。"}
    for service, path in (
        ("signup", "/applications"),
        ("identity", "/login"),
        ("device-registry", "/units/register"),
    ):
        response = httpx.post(
            f"{stack.services[service].url}{path}",
            content='{"a": ' + DEEP + "}",
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 422, (service, response.text)


def test_oversized_bodies_are_refused_with_413(stack: Stack) -> None:
    with browser(stack) as client:
        token = csrf_of(client, "/login")
        huge = client.post(
            "/signup/applications",
            content=b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}',
            headers={"Content-Type": "application/json", "X-CSRF-Token": token},
        )
        assert huge.status_code == 413
        assert huge.json()["errors"] == {"_form": "入力内容が大きすぎます。"}
