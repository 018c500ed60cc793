"""The whole platform as real processes, and a headless Chromium to drive the portal."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from support.processes import ARTIFACTS, PACKAGES, Stack
from support.servers import Servers


def platform(servers: Servers, *, operator: tuple[str, str] | None = None) -> Stack:
    """Every service, not started yet: the portal's address given to those that write it into pages and
    mails, and, with ``operator`` (login, password), the operator identity seeds."""
    stack = Stack(servers)
    for name in PACKAGES:
        stack.add(name)
    gateway_url = stack.services["gateway"].url
    stack.services["identity"].env["IDENTITY_PORTAL_URL"] = f"{gateway_url}/"
    if operator:
        login, password = operator
        stack.services["identity"].env.update(
            IDENTITY_OPERATOR_LOGIN=login, IDENTITY_OPERATOR_PASSWORD=password
        )
    stack.services["signup"].env["SIGNUP_PUBLIC_URL"] = gateway_url
    stack.services["notifier"].env["NOTIFIER_PORTAL_URL"] = f"{gateway_url}/"
    # Plain http on 127.0.0.1 in tests: the browser would not send back a Secure cookie everywhere.
    stack.services["gateway"].env["GATEWAY_COOKIE_SECURE"] = "false"
    return stack


@pytest.fixture(scope="module")
def portal(servers: Servers) -> Iterator[Stack]:
    """Every service, with the portal's address given to those that write it into emails."""
    stack = platform(servers)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def until(check: Callable[[], bool], page: Page | None = None, within: float = 60.0) -> bool:
    """Poll ``check`` (reloading ``page`` between tries) for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
        if page is not None:
            page.reload()


class Screenshots:
    """Numbered full-page screenshots of a journey."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def __call__(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots() -> Screenshots:
    return Screenshots(ARTIFACTS / "onboarding")
