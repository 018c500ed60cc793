"""HTTP API of the support desk: inquiries and their threads, notices, the operators' audit log."""

import base64
import binascii
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from shared.auth import CurrentOperator, CurrentPrincipal
from shared.events import utc_now
from support_desk.models import STATUS_LABELS, InvalidInput
from support_desk.schemas import (
    AuditIn,
    AuditPage,
    InquiryIn,
    InquiryOut,
    InquiryUpdate,
    NoticeIn,
    NoticeOut,
    NoticePage,
    OperatorNoticeOut,
    ReplyIn,
)
from support_desk.service import NotFound, SupportDesk

router = APIRouter()


async def _desk(request: Request) -> SupportDesk:
    desk: SupportDesk = request.app.state.desk
    return desk


Desk = Annotated[SupportDesk, Depends(_desk)]
NOT_FOUND = "not found"


def _inquiry(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        **doc,
        "inquiry_id": doc["_id"],
        "status_label": STATUS_LABELS[doc["status"]],
        "messages": doc.get("messages", []),
    }


def _notice(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "notice_id": doc["_id"]}


def _invalid(exc: InvalidInput) -> HTTPException:
    return HTTPException(422, str(exc))


@router.post("/inquiries", response_model=InquiryOut, status_code=201, tags=["inquiries"])
async def create_inquiry(principal: CurrentPrincipal, desk: Desk, body: InquiryIn) -> dict[str, Any]:
    """A customer's inquiry: stored with an inquiry number, mailed to the desk, acknowledged by mail."""
    if principal.is_operator:
        raise HTTPException(403, "customers only")
    attachment = None
    if body.attachment_base64:
        try:
            attachment = base64.b64decode(body.attachment_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HTTPException(422, "添付ファイルを読み取れませんでした。") from exc
    try:
        doc = await desk.create_inquiry(
            principal,
            name=body.name,
            email=body.email,
            company_name=body.company_name,
            mac_address=body.mac_address,
            alert_id=body.alert_id,
            question=body.question,
            attachment=attachment,
            attachment_name=body.attachment_name,
        )
    except InvalidInput as exc:
        raise _invalid(exc) from exc
    return _inquiry(doc)


@router.get("/inquiries", response_model=list[InquiryOut], tags=["inquiries"])
async def list_inquiries(principal: CurrentPrincipal, desk: Desk) -> list[dict[str, Any]]:
    """The caller's company's inquiries, newest first."""
    return [_inquiry(d) for d in await desk.list_inquiries(principal.company_id)]


@router.get("/inquiries/{inquiry_id}", response_model=InquiryOut, tags=["inquiries"])
async def get_inquiry(principal: CurrentPrincipal, desk: Desk, inquiry_id: str) -> dict[str, Any]:
    """One inquiry with its thread; another company's answers 404 like an unknown one."""
    try:
        return _inquiry(await desk.get_inquiry(principal, inquiry_id))
    except NotFound as exc:
        raise HTTPException(404, NOT_FOUND) from exc


@router.get("/inquiries/{inquiry_id}/attachment", tags=["inquiries"])
async def get_attachment(principal: CurrentPrincipal, desk: Desk, inquiry_id: str) -> Response:
    """The inquiry's attached file, as stored."""
    try:
        meta, data = await desk.attachment(principal, inquiry_id)
    except NotFound as exc:
        raise HTTPException(404, NOT_FOUND) from exc
    return Response(
        data,
        media_type=meta["content_type"],
        headers={"X-Filename": base64.urlsafe_b64encode(meta["filename"].encode()).decode()},
    )


@router.post("/inquiries/{inquiry_id}/messages", response_model=InquiryOut, tags=["inquiries"])
async def reply(principal: CurrentPrincipal, desk: Desk, inquiry_id: str, body: ReplyIn) -> dict[str, Any]:
    """A reply in the thread (customer or operator), mailed to the other side."""
    try:
        return _inquiry(await desk.reply(principal, inquiry_id, body.body))
    except NotFound as exc:
        raise HTTPException(404, NOT_FOUND) from exc
    except InvalidInput as exc:
        raise _invalid(exc) from exc


@router.get("/operator/inquiries", response_model=list[InquiryOut], tags=["operator"])
async def operator_inquiries(
    _: CurrentOperator,
    desk: Desk,
    status: Annotated[str, Query(max_length=20)] = "",
    company: Annotated[str, Query(max_length=120)] = "",
    alert_id: Annotated[str, Query(max_length=60)] = "",
    mac_address: Annotated[str, Query(max_length=32)] = "",
) -> list[dict[str, Any]]:
    """The inbox: every company's inquiries, searchable by status, company, alert ID or MAC."""
    docs = await desk.search_inquiries(
        status=status, company=company, alert_id=alert_id, mac_address=mac_address
    )
    return [_inquiry(d) for d in docs]


@router.get("/operator/inquiries/open-counts", tags=["operator"])
async def open_counts(_: CurrentOperator, desk: Desk) -> dict[str, int]:
    """Open inquiries (未対応 and 対応中) per company id."""
    return await desk.open_counts()


@router.get("/operator/companies/serious-alerts", tags=["operator"])
async def serious_alerts(
    _: CurrentOperator, desk: Desk, days: Annotated[int, Query(ge=1, le=365)] = 30
) -> dict[str, int]:
    """★★★ alerts per company id over the last ``days`` days."""
    return await desk.serious_alert_counts(utc_now() - timedelta(days=days))


@router.patch("/operator/inquiries/{inquiry_id}", response_model=InquiryOut, tags=["operator"])
async def update_inquiry(
    principal: CurrentOperator, desk: Desk, inquiry_id: str, body: InquiryUpdate
) -> dict[str, Any]:
    """Set the status and/or the assignee."""
    try:
        doc = await desk.update_inquiry(principal, inquiry_id, status=body.status, assignee=body.assignee)
    except NotFound as exc:
        raise HTTPException(404, NOT_FOUND) from exc
    except InvalidInput as exc:
        raise _invalid(exc) from exc
    return _inquiry(doc)


@router.get("/notices", response_model=NoticePage, tags=["notices"])
async def notices(
    principal: CurrentPrincipal,
    desk: Desk,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """The notices published now for the caller's company, newest first, paged."""
    items, total = await desk.notices_for(principal.company_id, page=page, per_page=per_page)
    return {"items": [_notice(d) for d in items], "total": total, "page": page, "per_page": per_page}


@router.get("/notices/{notice_id}", response_model=NoticeOut, tags=["notices"])
async def notice(principal: CurrentPrincipal, desk: Desk, notice_id: str) -> dict[str, Any]:
    """One published notice the caller's company may see."""
    try:
        if principal.is_operator:
            return _notice(await desk.notice(notice_id))
        return _notice(await desk.notice_for(principal.company_id, notice_id))
    except NotFound as exc:
        raise HTTPException(404, NOT_FOUND) from exc


@router.get("/operator/notices", response_model=list[OperatorNoticeOut], tags=["operator"])
async def operator_notices(_: CurrentOperator, desk: Desk) -> list[dict[str, Any]]:
    """Every notice, published or not."""
    return [_notice(d) for d in await desk.all_notices()]


@router.get("/operator/notices/{notice_id}", response_model=OperatorNoticeOut, tags=["operator"])
async def operator_notice(_: CurrentOperator, desk: Desk, notice_id: str) -> dict[str, Any]:
    try:
        return _notice(await desk.notice(notice_id))
    except NotFound as exc:
        raise HTTPException(404, NOT_FOUND) from exc


@router.post("/operator/notices", response_model=OperatorNoticeOut, status_code=201, tags=["operator"])
async def create_notice(principal: CurrentOperator, desk: Desk, body: NoticeIn) -> dict[str, Any]:
    """A new notice; a 重要 one is mailed once to every targeted portal user when it is published."""
    try:
        return _notice(await desk.save_notice(principal, body.model_dump()))
    except InvalidInput as exc:
        raise _invalid(exc) from exc


@router.put("/operator/notices/{notice_id}", response_model=OperatorNoticeOut, tags=["operator"])
async def edit_notice(
    principal: CurrentOperator, desk: Desk, notice_id: str, body: NoticeIn
) -> dict[str, Any]:
    try:
        return _notice(await desk.save_notice(principal, body.model_dump(), notice_id))
    except NotFound as exc:
        raise HTTPException(404, NOT_FOUND) from exc
    except InvalidInput as exc:
        raise _invalid(exc) from exc


@router.post("/operator/audit", status_code=204, tags=["operator"])
async def record_audit(principal: CurrentOperator, desk: Desk, body: AuditIn) -> Response:
    """Record an operator action done in another service (the gateway reports shipments, questions…)."""
    await desk.audit(principal, body.action, body.target, body.summary)
    return Response(status_code=204)


@router.get("/operator/audit", response_model=AuditPage, tags=["operator"])
async def audit_log(
    _: CurrentOperator,
    desk: Desk,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Operator actions, newest first."""
    items, total = await desk.audit_log(page=page, per_page=per_page)
    return {"items": items, "total": total, "page": page, "per_page": per_page}
