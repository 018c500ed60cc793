"""Portal users for ``make load`` (benchmarks/load.py runs this with locust, headless).

Each simulated user is one seeded customer account (``LOAD_USERS_FILE``, written by load.py): it
logs in as a browser does — the login form with its CSRF token, then the authenticator code of its
TOTP secret (pyotp) — and then, with a reader's pauses, opens the dashboard, the alert log with
filters, an alert's detail and the threat report page (with its two charts). Any answer other than
the expected page counts as an error.
"""

import json
import os
import random
import re
from typing import Any

import pyotp
from locust import HttpUser, between, task

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ALERT_LINK = re.compile(r'href="/alerts/(ALT-[^"?/]+)"')
SEVERITIES = ("", "1", "2", "3", "2+")
CATEGORIES = ("", "Webガード", "不正侵入防御(IPS)", "アプリケーション制御", "アンチウイルス")
PRESETS = ("this_month", "last_30_days", "last_7_days")
DASHBOARD = 'data-testid="dashboard-company"'

with open(os.environ["LOAD_USERS_FILE"], encoding="utf-8") as users_file:
    ACCOUNTS: list[dict[str, Any]] = json.load(users_file)
_next_account = 0


def _token(html: str) -> str:
    match = CSRF.search(html)
    if match is None:
        raise ValueError("no CSRF token on the page")
    return match.group(1)


class PortalUser(HttpUser):
    """A customer reading the portal."""

    wait_time = between(0.5, 2.5)

    def on_start(self) -> None:
        global _next_account
        self.account = ACCOUNTS[_next_account % len(ACCOUNTS)]
        _next_account += 1
        self.origin = {"Origin": self.host.rstrip("/")}
        self.alert_ids: list[str] = list(self.account["alert_ids"])
        self._login()

    def _login(self) -> None:
        page = self.client.get("/login", name="/login")
        with self.client.post(
            "/login",
            name="/login (password)",
            data={
                "login_id": self.account["login_id"],
                "password": self.account["password"],
                "csrf_token": _token(page.text),
            },
            headers=self.origin,
            catch_response=True,
        ) as response:
            if not response.url.endswith("/login/verify"):
                response.failure(f"password step ended at {response.url} ({response.status_code})")
                return
            token = _token(response.text)
        code = pyotp.TOTP(self.account["totp_secret"]).now()
        with self.client.post(
            "/login/verify",
            name="/login/verify (TOTP)",
            data={"code": code, "csrf_token": token},
            headers=self.origin,
            catch_response=True,
        ) as response:
            if DASHBOARD not in response.text:
                response.failure(f"second factor ended at {response.url} ({response.status_code})")

    def _page(self, path: str, name: str, must_contain: str) -> str:
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.status_code != 200 or must_contain not in response.text:
                response.failure(f"{response.status_code} at {response.url}")
            return response.text

    @task(3)
    def dashboard(self) -> None:
        self._page("/", "/ (dashboard)", DASHBOARD)

    @task(3)
    def alert_log(self) -> None:
        params = {
            "severity": random.choice(SEVERITIES),
            "category": random.choice(CATEGORIES),
            "unit": random.choice(["", *self.account["unit_ids"]]),
            "page": random.choice((1, 1, 1, 2)),
        }
        if random.random() < 0.3:
            params["since"] = self.account["week_ago"]
        query = "&".join(f"{k}={v}" for k, v in params.items() if v)
        html = self._page(f"/alerts?{query}", "/alerts?filters", "アラートログ")
        found = ALERT_LINK.findall(html)
        if found:
            self.alert_ids = (found[:5] + self.alert_ids)[:50]

    @task(2)
    def alert_detail(self) -> None:
        alert_id = random.choice(self.alert_ids)
        self._page(f"/alerts/{alert_id}", "/alerts/[id]", alert_id)

    @task(1)
    def threat_report(self) -> None:
        preset = random.choice(PRESETS)
        self._page(f"/reports/threats?period={preset}", "/reports/threats", "UTM脅威レポート")
        for chart in self.account["charts"]:
            with self.client.get(
                f"/reports/threats/chart/{chart}.svg?period={preset}",
                name="/reports/threats/chart/[name].svg",
                catch_response=True,
            ) as response:
                if response.status_code != 200 or "<svg" not in response.text:
                    response.failure(f"{response.status_code} at {response.url}")
