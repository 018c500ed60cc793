"""The monthly report mail with an injected clock, against real MongoDB and SMTP (Maildir).

The pipeline's schedule claims (company, month) and announces it; the notifier mails every user
of the company once, the PDF (rendered by the gateway's internal route) attached; an opted-out
user gets nothing; a restart, a second instance and a redelivered event mail nobody twice; an
operator's re-send mails again.
"""

import asyncio
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from alert_pipeline.models import Unit
from alert_pipeline.monthly import MonthlyReports
from alert_pipeline.reports import ReportReader
from alert_pipeline.repository import MongoPipelineStore
from gateway.main import create_app as create_gateway
from gateway.settings import Settings as GatewaySettings
from notifier import api_preferences
from notifier.monthly import MonthlyMailer, MonthlyReportPreferences, gateway_pdf
from notifier.recipients import RecipientDirectory
from notifier.senders import SmtpPool
from shared.auth import Principal, issue_token
from shared.events import MonthlyReportReady
from shared.settings import DEV_RENDER_TOKEN, DEV_TOKEN_PRIVATE_KEY, DEV_TOKEN_PUBLIC_KEY
from support.maildir import Mail, read_all
from support.servers import Servers

pytestmark = pytest.mark.integration

NAMES = {"ips": "不正侵入防御(IPS)"}
# 2026-12-01 00:30 JST: November's reports are due.
DECEMBER_FIRST = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
SUBJECT = "月次セキュリティレポート(2026年11月)"


@dataclass
class Env:
    tag: str
    pipeline: MongoPipelineStore
    notifier_db: Any
    preferences: MonthlyReportPreferences
    pdf: Any
    smtp: SmtpPool
    maildir: Path
    published: list[MonthlyReportReady]

    def scheduler(self, now: datetime) -> MonthlyReports:
        async def publish(event: MonthlyReportReady) -> None:
            self.published.append(event)

        reader = ReportReader(self.pipeline.db, cache_seconds=0)
        return MonthlyReports(self.pipeline.db, reader, publish, NAMES, clock=lambda: now)

    def mailer(self) -> MonthlyMailer:
        return MonthlyMailer(
            self.notifier_db, mailer=self.smtp, pdf=self.pdf, preferences=self.preferences,
            mail_from="セキュリティサービスポータル <noreply@watch.example.jp>",
            portal_url="http://portal.example/", clock=lambda: DECEMBER_FIRST,
        )  # fmt: skip

    def email(self, who: str) -> str:
        return f"{who}-{self.tag}@example.com"

    def mails(self, who: str) -> list[Mail]:
        return [m for m in read_all(self.maildir) if self.email(who) in m.recipients and m.subject == SUBJECT]


@pytest.fixture
async def env(servers: Servers) -> AsyncIterator[Env]:
    tag = uuid.uuid4().hex[:8]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
    pipeline = MongoPipelineStore(client[f"monthly-pipeline-{tag}"])
    notifier_db = client[f"monthly-notifier-{tag}"]
    gateway = create_gateway(GatewaySettings())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway")
    smtp = SmtpPool(host=servers.smtp_host, port=servers.smtp_port, size=1, timeout=10)
    recipients = RecipientDirectory(notifier_db)
    at = DECEMBER_FIRST - timedelta(days=60)
    preferences = MonthlyReportPreferences(notifier_db)
    pdf = gateway_pdf(http, DEV_RENDER_TOKEN)
    env = Env(tag, pipeline, notifier_db, preferences, pdf, smtp, servers.maildir, [])
    for company, users in (("C-A", ("alice", "bob", "carol")), ("C-B", ("dave",))):
        company_id = f"{company}-{tag}"
        await pipeline.upsert_unit(Unit(f"SER-{company_id}", f"U-{company_id}", company_id, "本社", "00:00"))
        await pipeline.add_counts(
            {(company_id, f"SER-{company_id}", datetime(2026, 11, 10, 1, tzinfo=UTC)):
             {"threats.ips.count": 4, "threats.ips.severity_3": 1, "threats.ips.severity_2": 3}}
        )  # fmt: skip
        for user in users:
            await recipients.upsert(
                account_id=f"A-{user}-{tag}", company_id=company_id, name=f"{user} 様", email=env.email(user),
                at=at, company_name=f"見守り{company}株式会社",
            )  # fmt: skip
    # A company whose unit registered after November: no report for November.
    late = f"C-LATE-{tag}"
    await pipeline.upsert_unit(Unit(f"SER-{late}", f"U-{late}", late, "本社", "00:00"))
    try:
        yield env
    finally:
        await smtp.close()
        await http.aclose()
        await client.drop_database(f"monthly-pipeline-{tag}")
        await client.drop_database(f"monthly-notifier-{tag}")
        await client.close()


async def _wait_for(check: Any, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "mail did not arrive"
        await asyncio.sleep(0.2)


def _preferences_api(env: Env) -> FastAPI:
    app = FastAPI()
    app.include_router(api_preferences.router)
    app.state.token_public_key = DEV_TOKEN_PUBLIC_KEY
    app.state.report_preferences = env.preferences
    return app


async def test_monthly_mail_once_per_user_with_pdf_and_opt_out(env: Env) -> None:
    # carol opts out from ユーザ情報 (the notifier's preference API, with her own token).
    app = _preferences_api(env)
    token = issue_token(
        Principal(account_id=f"A-carol-{env.tag}", company_id=f"C-A-{env.tag}", role="customer"),
        private_key=DEV_TOKEN_PRIVATE_KEY,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier") as api:
        headers = {"Authorization": f"Bearer {token}"}
        assert (await api.get("/preferences/monthly-report", headers=headers)).json() == {"opted_out": False}
        put = await api.put("/preferences/monthly-report", json={"opted_out": True}, headers=headers)
        assert put.json() == {"opted_out": True}
        assert (await api.get("/preferences/monthly-report", headers=headers)).json() == {"opted_out": True}

    # Dec 1 00:30 JST (still Nov 30 in UTC): November is due. Two instances at once claim each once.
    first, second = env.scheduler(DECEMBER_FIRST), env.scheduler(DECEMBER_FIRST)
    counts = await asyncio.gather(first.check(), second.check())
    assert sorted(counts) == [0, 2]
    assert sorted(e.company_id for e in env.published) == [f"C-A-{env.tag}", f"C-B-{env.tag}"]
    assert {e.month for e in env.published} == {"2026-11"}
    # A restart later that day claims nothing new.
    assert await env.scheduler(DECEMBER_FIRST + timedelta(hours=3)).check() == 0

    mailer = env.mailer()
    for event in env.published:
        await mailer.report_ready(event)
    await _wait_for(lambda: len(env.mails("alice")) == 1 and len(env.mails("bob")) == 1 and env.mails("dave"))

    alice = env.mails("alice")[0]
    assert "検知した脅威 : 4件" in alice.text
    assert "うち★★☆(中)以上 : 4件" in alice.text
    attachments = list(alice.iter_attachments())
    assert [a.get_content_type() for a in attachments] == ["application/pdf"]
    pdf = attachments[0].get_content()
    assert pdf.startswith(b"%PDF")
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        done = await asyncio.to_thread(
            subprocess.run, ["pdftotext", f.name, "-"], capture_output=True, text=True
        )
        text = done.stdout
    assert "見守りC-A株式会社" in text
    assert "2026/11/01〜2026/11/30" in text

    # Redelivered events after a notifier restart: nobody is mailed twice; carol never.
    restarted = env.mailer()
    # None queued (0 returned), so no mail of theirs can still be on its way.
    for event in env.published:
        assert await restarted.report_ready(event) == 0
    assert [len(env.mails(u)) for u in ("alice", "bob", "carol", "dave")] == [1, 1, 0, 1]

    # An operator re-sends company A's report: alice and bob get it once more, carol still not.
    resent = await env.scheduler(DECEMBER_FIRST).resend(f"C-A-{env.tag}", 2026, 11)
    assert await restarted.report_ready(resent) == 2
    await _wait_for(lambda: len(env.mails("alice")) == 2 and len(env.mails("bob")) == 2)
    assert [len(env.mails(u)) for u in ("carol", "dave")] == [0, 1]


async def test_claims_a_dead_instance_left_unpublished_are_published_once_stale(env: Env) -> None:
    scheduler = env.scheduler(DECEMBER_FIRST)
    await scheduler.ensure_indexes()
    companies = [f"C-A-{env.tag}", f"C-B-{env.tag}"]
    await env.pipeline.db["monthly_reports"].insert_many(
        [
            {"_id": f"{c}|2026-11", "company_id": c, "month": "2026-11", "claimed_at": DECEMBER_FIRST}
            | {"owner": "a-dead-instance", "published": False}
            for c in companies
        ]
    )
    assert await env.scheduler(DECEMBER_FIRST + timedelta(minutes=4)).check() == 0  # it may be alive
    assert await env.scheduler(DECEMBER_FIRST + timedelta(minutes=5, seconds=1)).check() == 2
    assert await env.scheduler(DECEMBER_FIRST + timedelta(minutes=10)).check() == 0
    assert sorted(e.company_id for e in env.published) == companies


async def test_the_render_route_needs_the_token(env: Env) -> None:
    gateway = create_gateway(GatewaySettings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway), base_url="http://gateway"
    ) as http:
        body = {"company_name": "x", "report": {}}
        assert (await http.post("/internal/reports/threats.pdf", json=body)).status_code == 403
        wrong = {"X-Render-Token": "guess"}
        assert (await http.post("/internal/reports/threats.pdf", json=body, headers=wrong)).status_code == 403
        right = {"X-Render-Token": DEV_RENDER_TOKEN}
        assert (await http.post("/internal/reports/threats.pdf", json=body, headers=right)).status_code == 422
