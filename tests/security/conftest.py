"""The identity service (and the notifier that mails for it) as real processes, attacked over HTTP.

Every test performs one attack of issue 8 and asserts that it fails. Calls that stand for the portal
carry the gateway's service token and a client address of their own; calls that stand for an
attacker reaching identity directly carry neither (or forged ones).
"""

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest

from shared.settings import DEV_GATEWAY_SECRET
from support.events import application_for
from support.kafka import send
from support.maildir import wait_for_mail
from support.processes import Stack
from support.servers import Servers
from support.sms import read_all_sms

PASSWORD = "Kawasaki#2026"


@pytest.fixture(scope="package")
def identity_stack(servers: Servers) -> Iterator[Stack]:
    stack = Stack(servers)
    stack.add("identity")
    stack.add("notifier")
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@dataclass
class User:
    """A provisioned user through the first-login setup."""

    email: str
    password: str
    account_id: str = ""
    secret: str = ""
    phone: str = ""
    session: dict[str, str] = field(default_factory=dict)


class Identity:
    """HTTP calls to identity, as the gateway (with its service token) or as anyone else."""

    def __init__(self, stack: Stack, servers: Servers) -> None:
        self.url = stack.services["identity"].url
        self.servers = servers
        self.http = httpx.Client(base_url=self.url, timeout=30)

    @staticmethod
    def gateway(client: str) -> dict[str, str]:
        return {"X-Service-Token": DEV_GATEWAY_SECRET, "X-Client-Address": client}

    def login(self, login_id: str, password: str, *, client: str | None, **headers: str) -> httpx.Response:
        sent = {**(self.gateway(client) if client else {}), **headers}
        return self.http.post("/login", json={"login_id": login_id, "password": password}, headers=sent)

    def step(self, path: str, body: dict[str, Any], session: dict[str, str]) -> httpx.Response:
        """A session step; a renewed session id replaces the old one in ``session``."""
        response = self.http.post(path, json=body, headers=session)
        if response.status_code == 200 and response.json().get("session_id"):
            session["X-Identity-Session"] = response.json()["session_id"]
        return response

    def token(self, session: dict[str, str]) -> httpx.Response:
        return self.http.post("/sessions/current/token", headers=session)

    def reissue(self, identifier: str, *, client: str) -> httpx.Response:
        return self.http.post(
            "/password/reissue", json={"identifier": identifier}, headers=self.gateway(client)
        )

    def provision(self, email: str) -> tuple[str, str]:
        """Submit an application naming ``email``; the user ID and password of the 仮登録完了 mail."""
        event = application_for(email)
        asyncio.run(send(self.servers.kafka, [(event.TOPIC, b"k", event.model_dump_json().encode())]))
        mail = wait_for_mail(
            self.servers.maildir, to=email, subject_contains="仮登録完了のお知らせ", timeout=60
        )
        return mail.value("ユーザID"), mail.value("仮パスワード")

    def user(self, two_step: str = "none") -> User:
        """A user through password change, user ID (their own address) and 2-step verification."""
        email = f"sec.{uuid.uuid4().hex[:10]}@example.com"
        client = f"10.{uuid.uuid4().int % 250}.0.1"
        login_id, temporary = self.provision(email)
        login = self.login(login_id, temporary, client=client)
        assert login.status_code == 200, login.text
        session = {"X-Identity-Session": login.json()["session_id"]}
        body = {"new_password": PASSWORD, "new_password_confirm": PASSWORD}
        assert self.step("/sessions/current/password", body, session).status_code == 200
        assert self.step("/sessions/current/user-id", {"new_login_id": email}, session).status_code == 200
        user = User(email=email, password=PASSWORD, session=session)
        if two_step == "totp":
            started = self.step("/sessions/current/two-step", {"use": True, "method": "totp"}, session)
            user.secret = started.json()["totp"]["secret"]
            code = pyotp.TOTP(user.secret).now()
            assert (
                self.step("/sessions/current/two-step/totp/confirm", {"code": code}, session).status_code
                == 200
            )
        elif two_step == "sms":
            user.phone = f"090{uuid.uuid4().int % 10**8:08d}"
            body = {"use": True, "method": "sms", "phone": user.phone}
            assert self.step("/sessions/current/two-step", body, session).status_code == 200
            confirmed = self.step(
                "/sessions/current/two-step/sms/confirm", {"code": self.sms_code(user, nth=1)}, session
            )
            assert confirmed.status_code == 200
        else:
            assert self.step("/sessions/current/two-step", {"use": False}, session).status_code == 200
        token = self.token(session)
        assert token.status_code == 200, token.text
        user.account_id = token.json()["account"]["account_id"]
        return user

    def sms_code(self, user: User, *, nth: int = 1) -> str:
        """The code of the ``nth`` SMS sent to the user's phone, waiting for it."""
        deadline = time.monotonic() + 30
        while True:
            sent = [m for m in read_all_sms(self.servers.sms_outbox) if m.get("to") == user.phone]
            if len(sent) >= nth:
                code = re.search(r"(\d{6})", sent[nth - 1]["body"])
                assert code is not None, sent[nth - 1]
                return code.group(1)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no SMS #{nth} to {user.phone}")
            time.sleep(0.1)


@pytest.fixture(scope="package")
def identity(identity_stack: Stack, servers: Servers) -> Iterator[Identity]:
    api = Identity(identity_stack, servers)
    yield api
    api.http.close()
