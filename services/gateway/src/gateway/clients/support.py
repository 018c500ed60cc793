"""The support service (inquiries, notices, audit log) as the portal uses it."""

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import Field

from gateway.backends import Backends
from gateway.clients._base import Answer, BackendRefused, Page, call_json

if TYPE_CHECKING:
    from gateway.session import PortalUser

SERVICE = "support"
AUDIT_PER_PAGE = 50
Json = dict[str, Any]


class Message(Answer):
    """One message in an inquiry's thread."""

    author_role: Literal["customer", "operator"]
    author_name: str
    body: str
    at: datetime


class Attachment(Answer):
    """The file attached to an inquiry (its content is fetched apart)."""

    filename: str
    content_type: str
    size: int


class Inquiry(Answer):
    """お問い合わせ: the guide's six items, its state and assignee, attachment and thread."""

    inquiry_id: str
    company_id: str
    company_name: str
    name: str
    email: str
    mac_address: str
    alert_id: str
    question: str
    status: str
    status_label: str
    assignee: str
    attachment: Attachment | None = None
    messages: list[Message] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class Notice(Answer):
    """お知らせ: what every reader sees, and for operators its audience and whether it was mailed."""

    notice_id: str
    title: str
    body: str
    kind: str
    published_from: datetime
    published_until: datetime | None = None
    # Operators' views only.
    company_ids: list[str] = Field(default_factory=list)
    mailed: bool = False

    def period(self, now: datetime) -> Literal["upcoming", "current", "ended"]:
        """Where ``now`` stands against the publication period."""
        if self.published_from > now:
            return "upcoming"
        if self.published_until is not None and self.published_until <= now:
            return "ended"
        return "current"


def _id(value: str) -> str:
    return quote(value, safe="")


async def create_inquiry(
    backends: Backends, user: "PortalUser", fields: Json, attachment: bytes | None
) -> Json:
    body = dict(fields)
    if attachment:
        body["attachment_base64"] = base64.b64encode(attachment).decode()
    result: Json = await call_json(backends, SERVICE, "POST", "/inquiries", user=user, json=body)
    return result


async def my_inquiries(backends: Backends, user: "PortalUser") -> list[Inquiry]:
    result = await call_json(backends, SERVICE, "GET", "/inquiries", user=user)
    return [Inquiry.model_validate(item) for item in result or []]


async def inquiry(backends: Backends, user: "PortalUser", inquiry_id: str) -> Inquiry:
    return Inquiry.model_validate(
        await call_json(backends, SERVICE, "GET", f"/inquiries/{_id(inquiry_id)}", user=user)
    )


async def attachment(backends: Backends, user: "PortalUser", inquiry_id: str) -> tuple[bytes, str, str]:
    """(content, content type, file name) of an inquiry's attachment."""
    response = await backends.call(SERVICE, "GET", f"/inquiries/{_id(inquiry_id)}/attachment", user=user)
    if response.status_code != 200:
        raise BackendRefused(response.status_code, "")
    name = base64.urlsafe_b64decode(response.headers.get("x-filename", "")).decode(errors="replace")
    return response.content, response.headers.get("content-type", "application/octet-stream"), name


async def reply(backends: Backends, user: "PortalUser", inquiry_id: str, body: str) -> Json:
    path = f"/inquiries/{_id(inquiry_id)}/messages"
    result: Json = await call_json(backends, SERVICE, "POST", path, user=user, json={"body": body})
    return result


async def search_inquiries(backends: Backends, user: "PortalUser", **filters: str) -> list[Inquiry]:
    params = {k: v for k, v in filters.items() if v}
    result = await call_json(backends, SERVICE, "GET", "/operator/inquiries", user=user, params=params)
    return [Inquiry.model_validate(item) for item in result or []]


async def update_inquiry(
    backends: Backends, user: "PortalUser", inquiry_id: str, *, status: str, assignee: str
) -> Json:
    path = f"/operator/inquiries/{_id(inquiry_id)}"
    body = {"status": status, "assignee": assignee}
    result: Json = await call_json(backends, SERVICE, "PATCH", path, user=user, json=body)
    return result


async def open_inquiry_counts(backends: Backends, user: "PortalUser") -> dict[str, int]:
    result: dict[str, int] = await call_json(
        backends, SERVICE, "GET", "/operator/inquiries/open-counts", user=user
    )
    return result


async def notices(
    backends: Backends, user: "PortalUser", *, page: int = 1, per_page: int = 10
) -> Page[Notice]:
    """One page of the notices the user's company sees, newest first."""
    params = {"page": page, "per_page": per_page}
    result = Page.of(await call_json(backends, SERVICE, "GET", "/notices", user=user, params=params))
    return Page([Notice.model_validate(item) for item in result.items], result.total)


async def notice(backends: Backends, user: "PortalUser", notice_id: str) -> Notice:
    return Notice.model_validate(
        await call_json(backends, SERVICE, "GET", f"/notices/{_id(notice_id)}", user=user)
    )


async def all_notices(backends: Backends, user: "PortalUser") -> list[Notice]:
    result = await call_json(backends, SERVICE, "GET", "/operator/notices", user=user)
    return [Notice.model_validate(item) for item in result or []]


async def operator_notice(backends: Backends, user: "PortalUser", notice_id: str) -> Notice:
    path = f"/operator/notices/{_id(notice_id)}"
    return Notice.model_validate(await call_json(backends, SERVICE, "GET", path, user=user))


async def save_notice(backends: Backends, user: "PortalUser", fields: Json, notice_id: str = "") -> Json:
    if notice_id:
        path, method = f"/operator/notices/{_id(notice_id)}", "PUT"
    else:
        path, method = "/operator/notices", "POST"
    result: Json = await call_json(backends, SERVICE, method, path, user=user, json=fields)
    return result


async def record_audit(
    backends: Backends, user: "PortalUser", action: str, target: str, summary: str
) -> None:
    body = {"action": action, "target": target[:120], "summary": summary[:300]}
    await call_json(backends, SERVICE, "POST", "/operator/audit", user=user, json=body)


async def audit_log(backends: Backends, user: "PortalUser", *, page: int = 1) -> Page:
    """One page (``AUDIT_PER_PAGE`` entries) of the operators' actions, newest first."""
    params = {"page": page, "per_page": AUDIT_PER_PAGE}
    return Page.of(await call_json(backends, SERVICE, "GET", "/operator/audit", user=user, params=params))
