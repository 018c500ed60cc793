"""The monthly report schedule: from the 1st of each month (JST), once per company and month.

Each check claims (company, last month) for every company with a registered unit by inserting
``{_id: "<company>|<YYYY-MM>"}`` into ``monthly_reports``: the unique ``_id`` makes the claim happen
once across restarts and across several instances (companies whose units sent nothing that month
get no report). The claimer publishes ``monthly-report-ready`` with the month's figures and marks
the claim published; a claim left unpublished (the process died in between) is published by a
later check. The event id is derived from (company, month), so a
second publication is the same event and the notifier mails each user once.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from alert_pipeline.reports import ReportReader
from shared.events import MonthlyReportReady
from shared.periods import Period, jst_today, month_period, previous_month

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
# A claim still unpublished this long after it was made belongs to a process that died.
STALE_CLAIM = timedelta(minutes=5)

Publisher = Callable[[MonthlyReportReady], Awaitable[None]]


def month_key(period: Period) -> str:
    return f"{period.first:%Y-%m}"


def event_id_for(company_id: str, month: str, resend: str = "") -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"watch:monthly-report:{company_id}:{month}:{resend}")


class MonthlyReports:
    """Claims and announces each company's monthly report."""

    def __init__(
        self,
        db: AsyncDatabase,
        reader: ReportReader,
        publish: Publisher,
        names: Mapping[str, str],
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.claims = db["monthly_reports"]
        self.units = db["units"]
        self.counters = db["counters"]
        self.reader = reader
        self.publish = publish
        self.names = names
        self.clock = clock
        # Tells this instance's claims from another's (they may share a clock reading).
        self.owner = uuid.uuid4().hex

    async def ensure_indexes(self) -> None:
        await self.claims.create_index([("month", ASCENDING), ("published", ASCENDING)])

    async def check(self) -> int:
        """Claim and announce last month's report of every company not done yet; returns how many."""
        now = self.clock()
        period = previous_month(jst_today(now))
        month = month_key(period)
        # Companies with a registered unit that was heard from during the month, not claimed yet: one
        # that joined later gets its first report the month after. Once the month's claims are made, a
        # check reads only the units and the claims; a company's month is asked for one counter.
        claimed = {d["company_id"] async for d in self.claims.find({"month": month}, {"company_id": 1})}
        unclaimed = sorted({c for c in await self.units.distinct("company_id") if c} - claimed)
        month_hours = {"$gte": period.since, "$lt": period.until}
        companies = [
            c
            for c in unclaimed
            if await self.counters.find_one({"company_id": c, "hour": month_hours}, {"_id": 1}) is not None
        ]
        docs = [
            {
                "_id": f"{c}|{month}",
                "company_id": c,
                "month": month,
                "claimed_at": now,
                "owner": self.owner,
                "published": False,
            }
            for c in companies
        ]
        if docs:
            try:
                await self.claims.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                    raise
        # Ours (just claimed) and any left unpublished by a process that died: the month's unpublished
        # claims, read through (month, published), told apart here (an ``$or`` in the filter would
        # read every claim of every month on SecantusDB).
        unpublished = self.claims.find({"month": month, "published": False})
        due = [
            claim
            async for claim in unpublished
            if claim.get("owner") == self.owner or claim["claimed_at"] < now - STALE_CLAIM
        ]
        sent = 0
        for claim in due:
            await self.announce(claim["company_id"], period)
            await self.claims.update_one(
                {"_id": claim["_id"]}, {"$set": {"published": True, "published_at": now}}
            )
            sent += 1
        if sent:
            log.info("monthly reports announced", extra={"month": month, "companies": sent})
        return sent

    async def announce(self, company_id: str, period: Period, *, resend: str = "") -> MonthlyReportReady:
        report = await self.reader.threat_report(company_id, period, self.names)
        month = month_key(period)
        event = MonthlyReportReady(
            event_id=event_id_for(company_id, month, resend),
            company_id=company_id,
            month=month,
            report={"company_id": company_id, **_jsonable(report)},
            resend=resend,
        )
        await self.publish(event)
        return event

    async def resend(self, company_id: str, year: int, month: int) -> MonthlyReportReady:
        """An operator's re-send of one company's report: every user (not opted out) gets it again."""
        return await self.announce(company_id, month_period(year, month), resend=uuid.uuid4().hex)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
