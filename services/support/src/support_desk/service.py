"""The support desk's use cases over MongoDB: inquiries with threads and attachments, notices, audit."""

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bson.binary import Binary
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.auth import Principal
from shared.events import AlertDetected, Event, NoticePublished, NotificationRequested, utc_now
from shared.indexes import drop_indexes
from shared.queries import newest_first
from shared.settings import BrandSettings
from support_desk.models import (
    IMPORTANT_KIND,
    OPEN_STATUSES,
    STATUS_LABELS,
    InvalidInput,
    check_email,
    is_published,
    new_inquiry_id,
    new_notice_id,
    normalize_alert_id,
    normalize_mac,
    safe_filename,
    sniff_attachment,
)

log = logging.getLogger(__name__)
# The outbox: the mails of an inquiry's write are stored in the same document (``outbox``) and removed
# once published; those still there after the grace (a publish failed, or the process died) are
# published by ``publish_outbox``, with the same event id (the notifier sends each mail once).
OUTBOX_GRACE = timedelta(seconds=10)

Publish = Callable[[Event, str], Awaitable[None]]


OLD_OUTBOX_INDEX = "outbox.event_id_1_updated_at_1"


class NotFound(LookupError):
    """Unknown, or another company's: both answer the same."""


class SupportDesk:
    """Inquiries, notices and the audit log of operator actions, in the support service's database."""

    def __init__(
        self,
        db: AsyncDatabase,
        *,
        publish: Publish,
        brand: BrandSettings,
        attachment_max_bytes: int = 5 * 1024 * 1024,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._inquiries = db["inquiries"]
        self._attachments = db["attachments"]
        self._notices = db["notices"]
        self._audit = db["audit"]
        self._serious = db["serious_alerts"]
        self._publish = publish
        self._brand = brand
        self._max_bytes = attachment_max_bytes
        self._now = now

    async def create_indexes(self) -> None:
        await self._inquiries.create_index([("company_id", ASCENDING), ("created_at", DESCENDING)])
        await self._inquiries.create_index([("status", ASCENDING), ("created_at", DESCENDING)])
        await self._inquiries.create_index([("alert_id", ASCENDING)])
        await self._inquiries.create_index([("mac_address", ASCENDING)])
        await self._inquiries.create_index([("created_at", DESCENDING)])
        # The inquiries with mails left to publish: a sparse index of one field, which a lookup by
        # ``$exists`` rides on SecantusDB too (it read every inquiry through an earlier version's
        # sparse compound index, dropped here).
        await self._inquiries.create_index([("outbox.event_id", ASCENDING)], sparse=True)
        await drop_indexes(self._inquiries, [OLD_OUTBOX_INDEX])
        await self._notices.create_index([("published_from", DESCENDING)])
        await self._audit.create_index([("at", DESCENDING)])
        await self._serious.create_index([("company_id", ASCENDING), ("detected_at", DESCENDING)])

    # ---- inquiries -------------------------------------------------------------------------------

    async def create_inquiry(
        self,
        principal: Principal,
        *,
        name: str,
        email: str,
        company_name: str,
        mac_address: str,
        alert_id: str,
        question: str,
        attachment: bytes | None = None,
        attachment_name: str = "",
    ) -> dict[str, Any]:
        """Store a customer's inquiry, mail it to the desk and acknowledge it to the customer."""
        name, question = name.strip(), question.strip()
        if not name:
            raise InvalidInput("お名前を入力してください。")
        if not question:
            raise InvalidInput("お問い合わせの内容を入力してください。")
        email = check_email(email)
        mac = normalize_mac(mac_address)
        alert = normalize_alert_id(alert_id)
        now = self._now()
        attachment_meta = None
        if attachment:
            if len(attachment) > self._max_bytes:
                raise InvalidInput("添付ファイルは5MB以下にしてください。")
            content_type = sniff_attachment(attachment)
            attachment_meta = {
                "filename": safe_filename(attachment_name),
                "content_type": content_type,
                "size": len(attachment),
            }
        doc: dict[str, Any] = {
            "company_id": principal.company_id,
            "company_name": company_name.strip(),
            "account_id": principal.account_id,
            "name": name,
            "email": email,
            "mac_address": mac,
            "alert_id": alert,
            "question": question,
            "status": "open",
            "assignee": "",
            "attachment": attachment_meta,
            "messages": [],
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(5):
            doc["_id"] = new_inquiry_id()
            context = {
                "inquiry_id": doc["_id"],
                "name": name,
                "email": email,
                "company_name": doc["company_name"],
                "mac_address": mac,
                "alert_id": alert,
                "message": question,
                "received_at": now.isoformat(),
                "attachment": attachment_meta["filename"] if attachment_meta else "",
                "inquiry_url": self._url(f"/operator/inquiries/{doc['_id']}"),
            }
            doc["outbox"] = [
                _mail("inquiry_received", self._brand.desk_email, {**context, "audience": "desk"}),
                _mail(
                    "inquiry_received",
                    email,
                    {**context, "audience": "customer", "inquiry_url": self._url(f"/inquiries/{doc['_id']}")},
                ),
            ]
            try:
                await self._inquiries.insert_one(doc)
                break
            except DuplicateKeyError:
                continue
        else:  # pragma: no cover - 32^8 numbers
            raise RuntimeError("no free inquiry number")
        if attachment is not None and attachment_meta is not None:
            await self._attachments.insert_one(
                {"_id": doc["_id"], "company_id": principal.company_id, "data": Binary(attachment)}
            )
        await self._send_outbox(doc, doc["outbox"])
        return doc

    async def list_inquiries(self, company_id: str) -> list[dict[str, Any]]:
        cursor = self._inquiries.find({"company_id": company_id}).sort("created_at", DESCENDING).limit(200)
        return [doc async for doc in cursor]

    async def get_inquiry(self, principal: Principal, inquiry_id: str) -> dict[str, Any]:
        query: dict[str, Any] = {"_id": inquiry_id}
        if not principal.is_operator:
            query["company_id"] = principal.company_id
        doc = await self._inquiries.find_one(query)
        if doc is None:
            raise NotFound(inquiry_id)
        return doc

    async def attachment(self, principal: Principal, inquiry_id: str) -> tuple[dict[str, Any], bytes]:
        doc = await self.get_inquiry(principal, inquiry_id)
        stored = await self._attachments.find_one({"_id": doc["_id"]})
        if not doc.get("attachment") or stored is None:
            raise NotFound(inquiry_id)
        return doc["attachment"], bytes(stored["data"])

    async def reply(self, principal: Principal, inquiry_id: str, body: str) -> dict[str, Any]:
        """Add a message to the thread and mail it to the other side."""
        body = body.strip()
        if not body:
            raise InvalidInput("返信の内容を入力してください。")
        doc = await self.get_inquiry(principal, inquiry_id)
        now = self._now()
        side = "operator" if principal.is_operator else "customer"
        message = {
            "author_role": side,
            "author_name": principal.name or principal.email,
            "body": body,
            "at": now,
        }
        context = {
            "inquiry_id": doc["_id"],
            "name": doc["name"],
            "company_name": doc["company_name"],
            "author_name": message["author_name"],
            "message": body,
            "replied_at": now.isoformat(),
        }
        if side == "operator":
            mail = _mail(
                "inquiry_reply",
                doc["email"],
                {**context, "audience": "customer", "inquiry_url": self._url(f"/inquiries/{doc['_id']}")},
            )
        else:
            mail = _mail(
                "inquiry_reply",
                self._brand.desk_email,
                {
                    **context,
                    "audience": "desk",
                    "inquiry_url": self._url(f"/operator/inquiries/{doc['_id']}"),
                },
            )
        # The message and its mail in one write (the outbox).
        update: dict[str, Any] = {
            "$push": {"messages": message, "outbox": mail},
            "$set": {"updated_at": now},
        }
        if side == "operator" and doc["status"] == "open":
            update["$set"]["status"] = "in_progress"
        elif side == "customer" and doc["status"] == "closed":
            update["$set"]["status"] = "open"
        await self._inquiries.update_one({"_id": doc["_id"]}, update)
        await self._send_outbox(doc, [mail])
        if side == "operator":
            await self.audit(principal, "inquiry.reply", doc["_id"], f"{doc['company_name']} への返信")
        return await self.get_inquiry(principal, inquiry_id)

    async def update_inquiry(
        self, principal: Principal, inquiry_id: str, *, status: str | None, assignee: str | None
    ) -> dict[str, Any]:
        """Operators set the status (未対応/対応中/完了) and the assignee."""
        doc = await self.get_inquiry(principal, inquiry_id)
        changes: dict[str, Any] = {}
        if status is not None:
            if status not in STATUS_LABELS:
                raise InvalidInput("状態は 未対応・対応中・完了 から選んでください。")
            changes["status"] = status
        if assignee is not None:
            changes["assignee"] = assignee.strip()[:60]
        if changes:
            changes["updated_at"] = self._now()
            await self._inquiries.update_one({"_id": doc["_id"]}, {"$set": changes})
            words = []
            if "status" in changes:
                words.append(f"状態: {STATUS_LABELS[changes['status']]}")
            if "assignee" in changes:
                words.append(f"担当: {changes['assignee'] or '(なし)'}")
            await self.audit(principal, "inquiry.update", doc["_id"], " / ".join(words))
        return await self.get_inquiry(principal, inquiry_id)

    async def search_inquiries(
        self,
        *,
        status: str = "",
        company: str = "",
        alert_id: str = "",
        mac_address: str = "",
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """The operator's inbox, newest first, filtered by status, company (id or name), alert ID or MAC."""
        query: dict[str, Any] = {}
        if status in STATUS_LABELS:
            query["status"] = status
        elif status == "active":
            query["status"] = {"$in": list(OPEN_STATUSES)}
        if company.strip():
            text = re.escape(company.strip())
            query["$or"] = [{"company_id": company.strip()}, {"company_name": {"$regex": text}}]
        if alert_id.strip():
            query["alert_id"] = alert_id.strip().upper()
        if mac_address.strip():
            try:
                query["mac_address"] = normalize_mac(mac_address)
            except InvalidInput:
                query["mac_address"] = mac_address.strip().upper()
        # An alert ID or a MAC address finds few inquiries through its own index.
        lead = ("alert_id", "mac_address")
        return await newest_first(
            self._inquiries,
            "created_at",
            query,
            now=self._now(),
            limit=limit,
            projection={"messages": 0},
            lead=lead,
        )

    async def open_counts(self) -> dict[str, int]:
        """Open inquiries (未対応 or 対応中) per company, for the operator console."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"status": {"$in": list(OPEN_STATUSES)}}},
            {"$group": {"_id": "$company_id", "count": {"$sum": 1}}},
        ]
        cursor = await self._inquiries.aggregate(pipeline)
        return {doc["_id"]: doc["count"] async for doc in cursor}

    # ---- notices ---------------------------------------------------------------------------------

    async def save_notice(
        self, principal: Principal, fields: dict[str, Any], notice_id: str | None = None
    ) -> dict[str, Any]:
        """Create (``notice_id`` None) or edit a notice; a 重要 one is mailed once it is published."""
        now = self._now()
        until = fields.get("published_until")
        if until is not None and until <= fields["published_from"]:
            raise InvalidInput("掲載終了日時は掲載開始日時より後にしてください。")
        values = {
            "title": fields["title"].strip(),
            "body": fields["body"].strip(),
            "kind": fields["kind"],
            "published_from": fields["published_from"],
            "published_until": until,
            "company_ids": sorted({c.strip() for c in fields.get("company_ids", []) if c.strip()}),
            "updated_at": now,
            "updated_by": principal.name or principal.email,
        }
        if not values["title"] or not values["body"]:
            raise InvalidInput("タイトルと本文を入力してください。")
        if notice_id is None:
            doc = {**values, "_id": new_notice_id(), "created_at": now, "mailed": False}
            await self._notices.insert_one(doc)
            await self.audit(principal, "notice.create", doc["_id"], values["title"])
        else:
            found = await self._notices.find_one_and_update({"_id": notice_id}, {"$set": values})
            if found is None:
                raise NotFound(notice_id)
            await self.audit(principal, "notice.update", notice_id, values["title"])
        await self.mail_due_notices()
        return await self.notice(notice_id or doc["_id"])

    async def notice(self, notice_id: str) -> dict[str, Any]:
        doc = await self._notices.find_one({"_id": notice_id})
        if doc is None:
            raise NotFound(notice_id)
        return doc

    async def all_notices(self) -> list[dict[str, Any]]:
        cursor = self._notices.find().sort("published_from", DESCENDING).limit(500)
        return [doc async for doc in cursor]

    def _visible_query(self, company_id: str) -> dict[str, Any]:
        now = self._now()
        return {
            "published_from": {"$lte": now},
            "$and": [
                {"$or": [{"published_until": None}, {"published_until": {"$gt": now}}]},
                {"$or": [{"company_ids": []}, {"company_ids": company_id}]},
            ],
        }

    async def notices_for(
        self, company_id: str, *, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], int]:
        """A company's published notices, newest first, one page of them, and how many there are."""
        query = self._visible_query(company_id)
        skip = (page - 1) * per_page
        cursor = (
            self._notices.find(query, {"company_ids": 0, "mailed": 0, "updated_by": 0})
            .sort("published_from", DESCENDING)
            .skip(skip)
            .limit(per_page)
        )
        items = [doc async for doc in cursor]
        if 0 < len(items) < per_page or (skip == 0 and not items):
            return items, skip + len(items)  # the last page: no count needed
        return items, await self._notices.count_documents(query)

    async def notice_for(self, company_id: str, notice_id: str) -> dict[str, Any]:
        doc = await self._notices.find_one({"_id": notice_id, **self._visible_query(company_id)})
        if doc is None:
            raise NotFound(notice_id)
        return doc

    async def mail_due_notices(self) -> int:
        """Publish NoticePublished for each 重要 notice whose publication has started and was not mailed."""
        now = self._now()
        cursor = self._notices.find(
            {"kind": IMPORTANT_KIND, "mailed": False, "published_from": {"$lte": now}}
        )
        sent = 0
        async for doc in cursor:
            if not is_published(doc, now):
                continue
            await self._publish(
                NoticePublished(
                    notice_id=doc["_id"],
                    kind=doc["kind"],
                    title=doc["title"],
                    body=doc["body"],
                    company_ids=doc["company_ids"],
                    published_from=doc["published_from"],
                    notice_url=self._url(f"/notices/{doc['_id']}"),
                ),
                doc["_id"],
            )
            await self._notices.update_one({"_id": doc["_id"]}, {"$set": {"mailed": True, "mailed_at": now}})
            sent += 1
        return sent

    # ---- ★★★ alerts, for the operator console ---------------------------------------------------

    async def record_serious_alerts(self, alerts: list[AlertDetected]) -> None:
        """Keep the ★★★ alerts' company and time (idempotent by alert ID)."""
        if not alerts:
            return
        await self._serious.bulk_write(
            [
                UpdateOne(
                    {"_id": alert.alert_id},
                    {"$set": {"company_id": alert.company_id, "detected_at": alert.detected_at}},
                    upsert=True,
                )
                for alert in alerts
            ],
            ordered=False,
        )

    async def serious_alert_counts(self, since: datetime) -> dict[str, int]:
        """★★★ alerts per company detected since ``since``."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"detected_at": {"$gte": since}}},
            {"$group": {"_id": "$company_id", "count": {"$sum": 1}}},
        ]
        cursor = await self._serious.aggregate(pipeline)
        return {doc["_id"]: doc["count"] async for doc in cursor}

    # ---- audit log -------------------------------------------------------------------------------

    async def audit(self, principal: Principal, action: str, target: str, summary: str) -> None:
        """Record an operator action (who, what, on what, when)."""
        await self._audit.insert_one(
            {
                "at": self._now(),
                "account_id": principal.account_id,
                "actor": principal.name or principal.email or principal.account_id,
                "action": action[:60],
                "target": target[:120],
                "summary": summary[:300],
            }
        )

    async def audit_log(self, *, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        total = await self._audit.count_documents({})
        skip = (page - 1) * per_page
        items = await newest_first(
            self._audit, "at", now=self._now(), limit=per_page, skip=skip, projection={"_id": 0}
        )
        return items, total

    # ---- helpers ---------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self._brand.portal_url.rstrip("/") + path

    async def _send_outbox(self, inquiry: dict[str, Any], mails: list[dict[str, Any]]) -> int:
        """Publish the inquiry's stored mails, each removed from its outbox once out; a publish that
        fails leaves it (and those after it) to ``publish_outbox``."""
        sent = 0
        for mail in mails:
            event = NotificationRequested(
                event_id=uuid.UUID(mail["event_id"]),
                channel="email",
                template=mail["template"],
                recipient=mail["recipient"],
                context=mail["context"],
                company_id=inquiry["company_id"],
            )
            try:
                await self._publish(event, inquiry["company_id"] or inquiry["_id"])
            except Exception:
                log.warning(
                    "inquiry mail not published; the outbox publishes it later",
                    extra={"inquiry_id": inquiry["_id"]},
                    exc_info=True,
                )
                return sent
            await self._inquiries.update_one(
                {"_id": inquiry["_id"]}, {"$pull": {"outbox": {"event_id": mail["event_id"]}}}
            )
            sent += 1
        return sent

    async def publish_outbox(self) -> int:
        """Publish the inquiry mails left in their outbox (a failed publish, a process that died)."""
        cursor = self._inquiries.find(
            {"outbox.event_id": {"$exists": True}, "updated_at": {"$lt": self._now() - OUTBOX_GRACE}},
            {"company_id": 1, "outbox": 1},
        ).limit(200)
        sent = 0
        async for doc in cursor:
            sent += await self._send_outbox(doc, list(doc["outbox"]))
        return sent


def _mail(template: str, recipient: str, context: dict[str, Any]) -> dict[str, Any]:
    """One mail of the outbox: what its NotificationRequested will carry, with its event id fixed now."""
    return {"event_id": uuid.uuid4().hex, "template": template, "recipient": recipient, "context": context}
