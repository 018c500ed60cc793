"""The support service (inquiries, notices, audit log) as the portal uses it."""

import base64
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from gateway.backends import Backends
from gateway.clients._base import BackendRefused, Page, call_json

if TYPE_CHECKING:
    from gateway.session import PortalUser

SERVICE = "support"
AUDIT_PER_PAGE = 50
Json = dict[str, Any]


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


async def my_inquiries(backends: Backends, user: "PortalUser") -> list[Json]:
    result: list[Json] = await call_json(backends, SERVICE, "GET", "/inquiries", user=user)
    return result


async def inquiry(backends: Backends, user: "PortalUser", inquiry_id: str) -> Json:
    result: Json = await call_json(backends, SERVICE, "GET", f"/inquiries/{_id(inquiry_id)}", user=user)
    return result


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


async def search_inquiries(backends: Backends, user: "PortalUser", **filters: str) -> list[Json]:
    params = {k: v for k, v in filters.items() if v}
    result: list[Json] = await call_json(
        backends, SERVICE, "GET", "/operator/inquiries", user=user, params=params
    )
    return result


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


async def notices(backends: Backends, user: "PortalUser", *, page: int = 1, per_page: int = 10) -> Page:
    """One page of the notices the user's company sees, newest first."""
    params = {"page": page, "per_page": per_page}
    return Page.of(await call_json(backends, SERVICE, "GET", "/notices", user=user, params=params))


async def notice(backends: Backends, user: "PortalUser", notice_id: str) -> Json:
    result: Json = await call_json(backends, SERVICE, "GET", f"/notices/{_id(notice_id)}", user=user)
    return result


async def all_notices(backends: Backends, user: "PortalUser") -> list[Json]:
    result: list[Json] = await call_json(backends, SERVICE, "GET", "/operator/notices", user=user)
    return result


async def operator_notice(backends: Backends, user: "PortalUser", notice_id: str) -> Json:
    path = f"/operator/notices/{_id(notice_id)}"
    result: Json = await call_json(backends, SERVICE, "GET", path, user=user)
    return result


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
