"""The application form is no mail cannon: confirmation mails are limited per client and per address,
and an address holds one pending application at a time. signup and the gateway run as real processes.
"""

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from support.processes import Stack
from support.servers import Servers
from support.signup_form import application_form

pytestmark = pytest.mark.integration

# Several services starting at once on a busy two-core machine can take more than a minute.
START_TIMEOUT = 240.0

GATEWAY_SECRET = "signup-secret-of-this-test"
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
TOO_MANY = "お申込みの操作が続いたため、受付を一時停止しています。しばらくしてから再度お試しください。"
PENDING_START = "このメールアドレスには確認待ちのお申込みがあります。"


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    stack = Stack(servers)
    stack.add(
        "signup",
        SIGNUP_GATEWAY_SECRET=GATEWAY_SECRET,
        SIGNUP_MAILS_PER_CLIENT_PER_HOUR="4",
        SIGNUP_MAILS_PER_EMAIL_PER_HOUR="2",
    )
    stack.add("gateway", GATEWAY_SIGNUP_SECRET=GATEWAY_SECRET, GATEWAY_COOKIE_SECURE="false")
    try:
        stack.start(timeout=START_TIMEOUT)
        yield stack
    finally:
        stack.stop()


def wizard(stack: Stack) -> tuple[httpx.Client, str]:
    url = stack.services["gateway"].url
    client = httpx.Client(base_url=url, headers={"Origin": url}, timeout=20)
    match = META_CSRF.search(client.get("/signup").text)
    assert match is not None
    return client, match.group(1)


def apply(client: httpx.Client, token: str, email: str, **headers: str) -> httpx.Response:
    return client.post(
        "/signup/applications",
        json=application_form(email),
        headers={"X-CSRF-Token": token, "Idempotency-Key": uuid.uuid4().hex, **headers},
    )


def direct(stack: Stack, email: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{stack.services['signup'].url}/applications",
        json=application_form(email),
        headers={"Idempotency-Key": uuid.uuid4().hex, **headers},
        timeout=20,
    )


def test_one_client_cannot_mail_many_addresses(stack: Stack) -> None:
    client, token = wizard(stack)
    tag = uuid.uuid4().hex[:6]
    for n in range(4):
        assert apply(client, token, f"victim{n}-{tag}@example.com").status_code == 201
    refused = apply(client, token, f"victim4-{tag}@example.com")
    assert refused.status_code == 429
    assert refused.json() == {"errors": {"_form": TOO_MANY}}
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    # A forged X-Forwarded-For is not another client.
    forged = apply(client, token, f"victim5-{tag}@example.com", **{"X-Forwarded-For": "198.51.100.77"})
    assert forged.status_code == 429
    # Nor is an X-Client-Address sent to signup without the gateway's secret.
    unvouched = direct(stack, f"victim6-{tag}@example.com", {"X-Client-Address": "198.51.100.78"})
    assert unvouched.status_code == 429
    client.close()


def test_one_address_gets_one_pending_application_and_few_mails(stack: Stack) -> None:
    email = f"target-{uuid.uuid4().hex[:6]}@example.com"

    def from_client(n: int) -> dict[str, str]:
        return {"X-Gateway-Secret": GATEWAY_SECRET, "X-Client-Address": f"192.0.2.{n}"}

    first = direct(stack, email, from_client(1))
    assert first.status_code == 201
    second = direct(stack, email.upper(), from_client(2))
    assert second.status_code == 409
    message = second.json()["errors"]["company.email"]
    assert message.startswith(PENDING_START)
    assert "確認メールのURLからお手続きを完了してください" in message
    third = direct(stack, email, from_client(3))
    assert third.status_code == 429
    assert third.json() == {"errors": {"_form": TOO_MANY}}
    assert int(third.headers["retry-after"]) > 0
    # Another address from the same clients is unaffected.
    assert direct(stack, f"other-{uuid.uuid4().hex[:6]}@example.com", from_client(2)).status_code == 201


def test_a_repeat_of_the_same_submission_is_not_a_second_application(stack: Stack) -> None:
    email = f"double-{uuid.uuid4().hex[:6]}@example.com"
    headers = {
        "X-Gateway-Secret": GATEWAY_SECRET,
        "X-Client-Address": "192.0.2.200",
        "Idempotency-Key": "k-" + email,
    }
    first = httpx.post(
        f"{stack.services['signup'].url}/applications", json=application_form(email), headers=headers
    )
    again = httpx.post(
        f"{stack.services['signup'].url}/applications", json=application_form(email), headers=headers
    )
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["application_number"] == first.json()["application_number"]
