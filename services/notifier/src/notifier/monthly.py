"""The monthly report mail: 月次セキュリティレポート(YYYY年MM月) to every portal user of the company.

One mail per user and month (per operator re-send), with the month's PDF attached. A user who opted
out (ユーザ情報) gets none. Each mail is claimed first in ``monthly_deliveries`` under a unique id
(account, month, re-send), so a redelivered event, a restart or a second instance never mails twice;
a mail that could not be sent releases its claim and the event is handled again.
"""

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any, Protocol

import httpx
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from notifier.rendering import render_mail
from shared.events import MonthlyReportReady
from shared.labels import severity_label

log = logging.getLogger(__name__)
TEMPLATE = "monthly_report"

PdfSource = Callable[[str, dict[str, Any]], Awaitable[bytes]]


class MailSender(Protocol):
    async def send(self, mail: EmailMessage) -> None: ...


class MonthlyReportPreferences:
    """Per-user opt-out of the monthly report mail (collection ``report_preferences``)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._collection = db["report_preferences"]

    async def opted_out(self, account_id: str) -> bool:
        doc = await self._collection.find_one({"_id": account_id})
        return bool(doc and doc.get("monthly_opt_out"))

    async def set_opt_out(self, account_id: str, company_id: str, opted_out: bool, at: datetime) -> None:
        await self._collection.update_one(
            {"_id": account_id},
            {"$set": {"company_id": company_id, "monthly_opt_out": opted_out, "updated_at": at}},
            upsert=True,
        )

    async def opted_out_of(self, account_ids: list[str]) -> set[str]:
        cursor = self._collection.find({"_id": {"$in": account_ids}, "monthly_opt_out": True}, {"_id": 1})
        return {doc["_id"] async for doc in cursor}


class MonthlyMailer:
    """Mails a company's monthly report to its users."""

    def __init__(
        self,
        db: AsyncDatabase,
        *,
        mailer: MailSender,
        pdf: PdfSource,
        preferences: MonthlyReportPreferences,
        mail_from: str,
        portal_url: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._recipients = db["recipients"]
        self._deliveries = db["monthly_deliveries"]
        self._mailer = mailer
        self._pdf = pdf
        self._preferences = preferences
        self._mail_from = mail_from
        self._portal_url = portal_url
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self._deliveries.create_index([("company_id", ASCENDING), ("month", ASCENDING)])

    async def report_ready(self, event: MonthlyReportReady) -> int:
        """Mail the report to each user of the company who has not had it (nor opted out); how many."""
        users = [
            doc async for doc in self._recipients.find({"company_id": event.company_id}) if doc.get("email")
        ]
        skipped = await self._preferences.opted_out_of([u["_id"] for u in users])
        pdf: bytes | None = None
        sent = 0
        for user in users:
            if user["_id"] in skipped:
                continue
            claim = f"{user['_id']}|{event.month}|{event.resend}"
            try:
                await self._deliveries.insert_one(
                    {"_id": claim, "company_id": event.company_id, "month": event.month,
                     "account_id": user["_id"], "recipient": user["email"], "status": "sending",
                     "claimed_at": self._clock()}
                )  # fmt: skip
            except DuplicateKeyError:
                continue
            try:
                company_name = user.get("company_name", "")
                if pdf is None:
                    pdf = await self._pdf(company_name, event.report)
                await self._mailer.send(self._mail(event, user, company_name, pdf))
            except Exception:
                # Released: the event is handled again (Kafka redelivers it) and this user is mailed then.
                await self._deliveries.delete_one({"_id": claim, "status": "sending"})
                raise
            await self._deliveries.update_one(
                {"_id": claim}, {"$set": {"status": "sent", "sent_at": self._clock()}}
            )
            sent += 1
        log.info(
            "monthly report mailed",
            extra={"company_id": event.company_id, "month": event.month, "sent": sent},
        )
        return sent

    def _mail(
        self, event: MonthlyReportReady, user: dict[str, Any], company_name: str, pdf: bytes
    ) -> EmailMessage:
        report = event.report
        year, month = event.month.split("-")
        change = report.get("change_percent")
        categories = report.get("by_category") or []
        rendered = render_mail(
            TEMPLATE,
            {
                "company_name": company_name,
                "name": user.get("name", ""),
                "year": year,
                "month": int(month),
                "period_label": report.get("period", {}).get("label", ""),
                "total": report.get("total", 0),
                "important": report.get("important", 0),
                "change": None if change is None else f"{'+' if change > 0 else ''}{change}%",
                "severities": [
                    {"label": severity_label(s), "count": (report.get("by_severity") or {}).get(str(s), 0)}
                    for s in (3, 2, 1)
                ],
                "top_category": categories[0]["name"] if categories else "",
                "reports_url": f"{self._portal_url.rstrip('/')}/reports/threats?period=last_month",
            },
        )
        mail = EmailMessage(policy=policy.default)
        mail["From"] = self._mail_from
        mail["To"] = user["email"]
        mail["Subject"] = rendered.subject
        mail["Date"] = format_datetime(self._clock())
        mail["Message-ID"] = make_msgid(
            domain=parseaddr(self._mail_from)[1].rpartition("@")[2] or "localhost"
        )
        mail.set_content(rendered.body, charset="utf-8", cte="base64")
        mail.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=f"monthly-security-report-{event.month}.pdf"
        )
        return mail


def gateway_pdf(client: httpx.AsyncClient, token: str) -> PdfSource:
    """The PDF source that asks the gateway to render the report (internal route, render token)."""

    async def fetch(company_name: str, report: dict[str, Any]) -> bytes:
        response = await client.post(
            "/internal/reports/threats.pdf",
            json={"company_name": company_name, "report": report},
            headers={"X-Render-Token": token},
        )
        response.raise_for_status()
        if not response.content.startswith(b"%PDF"):
            raise RuntimeError("the gateway did not answer with a PDF")
        return response.content

    return fetch
