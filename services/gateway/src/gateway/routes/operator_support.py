"""Operator pages of the support desk: the inquiry inbox and threads, お知らせ管理, the audit log."""

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.backends import BackendsDep
from gateway.clients import support
from gateway.clients._base import BackendRefused
from gateway.csrf import CsrfProtected
from gateway.pages import ReplyText, not_found, paging, reply_in_thread, thread_page
from gateway.session import CurrentOperatorUser
from gateway.web import render

router = APIRouter(tags=["operator"], include_in_schema=False)

JST = ZoneInfo("Asia/Tokyo")
STATUSES = {"open": "未対応", "in_progress": "対応中", "closed": "完了"}
INQUIRY_PAGE = "operator/inquiry.html"
PERIODS = {"upcoming": "掲載予定", "current": "掲載中", "ended": "掲載終了"}
KINDS = ("重要", "メンテナンス", "お知らせ")
AUDIT_ACTIONS = {
    "inquiry.reply": "お問い合わせに返信",
    "inquiry.update": "お問い合わせの状態・担当を変更",
    "notice.create": "お知らせを作成",
    "notice.update": "お知らせを編集",
    "shipment.record": "UTMの出荷を登録",
    "questions.update": "追加質問を編集",
}


@router.get("/operator/inquiries", response_class=HTMLResponse)
async def inbox(
    request: Request,
    user: CurrentOperatorUser,
    backends: BackendsDep,
    status: Annotated[str, Query(max_length=20)] = "active",
    company: Annotated[str, Query(max_length=120)] = "",
    alert_id: Annotated[str, Query(max_length=60)] = "",
    mac: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """お問い合わせ (operators): every company's inquiries; by status, company, alert ID or MAC."""
    status = status if status in STATUSES or status in ("active", "all") else "active"
    items = await support.search_inquiries(
        backends, user, status="" if status == "all" else status, company=company, alert_id=alert_id,
        mac_address=mac,
    )  # fmt: skip
    filters = {"status": status, "company": company, "alert_id": alert_id, "mac": mac}
    return render(request, "operator/inquiries.html", inquiries=items, filters=filters, statuses=STATUSES)


async def _inquiry_page(
    request: Request, user: Any, backends: Any, inquiry_id: str, *, error: str = "", status_code: int = 200
) -> Response:
    return await thread_page(
        request, user, backends, inquiry_id, INQUIRY_PAGE, status_code=status_code, error=error,
        **_inquiry_context(request),
    )  # fmt: skip


def _inquiry_context(request: Request) -> dict[str, Any]:
    return {"statuses": STATUSES, "saved": request.query_params.get("saved")}


@router.get("/operator/inquiries/{inquiry_id}", response_class=HTMLResponse)
async def inquiry(
    request: Request, user: CurrentOperatorUser, backends: BackendsDep, inquiry_id: str
) -> Response:
    """One inquiry: the six items, the thread, the reply form, status and assignee."""
    return await _inquiry_page(request, user, backends, inquiry_id)


@router.post("/operator/inquiries/{inquiry_id}/reply", response_class=HTMLResponse)
async def reply(
    request: Request,
    user: CurrentOperatorUser,
    backends: BackendsDep,
    _: CsrfProtected,
    inquiry_id: str,
    body: ReplyText = "",
) -> Response:
    """The desk's answer, mailed to the customer."""
    done = f"/operator/inquiries/{quote(inquiry_id)}?saved=reply"
    context = _inquiry_context(request)
    return await reply_in_thread(
        request, user, backends, inquiry_id, body, done=done, template=INQUIRY_PAGE, **context
    )


@router.post("/operator/inquiries/{inquiry_id}/status", response_class=HTMLResponse)
async def update(
    request: Request,
    user: CurrentOperatorUser,
    backends: BackendsDep,
    _: CsrfProtected,
    inquiry_id: str,
    status: Annotated[str, Form(max_length=20)] = "",
    assignee: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    """Set 未対応 / 対応中 / 完了 and the assignee."""
    if status not in STATUSES:
        return await _inquiry_page(
            request, user, backends, inquiry_id, error="状態を選んでください。", status_code=422
        )
    try:
        await support.update_inquiry(backends, user, inquiry_id, status=status, assignee=assignee)
    except BackendRefused as exc:
        if exc.not_found:
            return not_found(request, "お問い合わせ")
        error = exc.detail or "入力内容をご確認ください。"
        return await _inquiry_page(request, user, backends, inquiry_id, error=error, status_code=422)
    return RedirectResponse(f"/operator/inquiries/{quote(inquiry_id)}?saved=status", status_code=303)


# ---- お知らせ管理 --------------------------------------------------------------------------------


@router.get("/operator/notices", response_class=HTMLResponse)
async def notices(request: Request, user: CurrentOperatorUser, backends: BackendsDep) -> Response:
    """お知らせ管理: every notice with its period and audience."""
    items = await support.all_notices(backends, user)
    return render(
        request, "operator/notices.html", notices=items, now=datetime.now(JST), periods=PERIODS,
        saved=request.query_params.get("saved"),
    )  # fmt: skip


def _local(value: datetime | None) -> str:
    """A time as the value of a datetime-local field (Japan time)."""
    if value is None:
        return ""
    return value.astimezone(JST).strftime("%Y-%m-%dT%H:%M")


def _parse_local(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=JST)


@router.get("/operator/notices/new", response_class=HTMLResponse)
async def new_notice(request: Request, user: CurrentOperatorUser) -> Response:
    form = {
        "title": "", "body": "", "kind": "お知らせ", "audience": "all", "company_ids": "",
        "published_from": datetime.now(JST).strftime("%Y-%m-%dT%H:%M"), "published_until": "",
    }  # fmt: skip
    return render(request, "operator/notice_form.html", form=form, kinds=KINDS, notice_id="", error="")


@router.get("/operator/notices/{notice_id}/edit", response_class=HTMLResponse)
async def edit_notice(
    request: Request, user: CurrentOperatorUser, backends: BackendsDep, notice_id: str
) -> Response:
    try:
        item = await support.operator_notice(backends, user, notice_id)
    except BackendRefused:
        return not_found(request, "お知らせ管理")
    form = {
        "title": item.title, "body": item.body, "kind": item.kind,
        "audience": "chosen" if item.company_ids else "all", "company_ids": "\n".join(item.company_ids),
        "published_from": _local(item.published_from), "published_until": _local(item.published_until),
    }  # fmt: skip
    return render(request, "operator/notice_form.html", form=form, kinds=KINDS, notice_id=notice_id, error="")


@router.post("/operator/notices/new", response_class=HTMLResponse)
@router.post("/operator/notices/{notice_id}/edit", response_class=HTMLResponse)
async def save_notice(
    request: Request,
    user: CurrentOperatorUser,
    backends: BackendsDep,
    _: CsrfProtected,
    notice_id: str = "",
    title: Annotated[str, Form(max_length=120)] = "",
    body: Annotated[str, Form(max_length=20_000)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    audience: Annotated[str, Form(max_length=10)] = "all",
    company_ids: Annotated[str, Form(max_length=20_000)] = "",
    published_from: Annotated[str, Form(max_length=30)] = "",
    published_until: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """Create or edit a notice; a 重要 one is mailed once to every portal user it targets."""
    form = {
        "title": title, "body": body, "kind": kind, "audience": audience, "company_ids": company_ids,
        "published_from": published_from, "published_until": published_until,
    }  # fmt: skip
    companies = [c for c in company_ids.replace(",", "\n").split() if c] if audience == "chosen" else []
    error = ""
    try:
        starts = _parse_local(published_from)
        ends = _parse_local(published_until)
    except ValueError:
        starts = ends = None
        error = "掲載期間の日時を正しく入力してください。"
    if not error and (not title.strip() or not body.strip()):
        error = "タイトルと本文を入力してください。"
    elif not error and kind not in KINDS:
        error = "種別を選んでください。"
    elif not error and starts is None:
        error = "掲載開始日時を入力してください。"
    elif not error and audience == "chosen" and not companies:
        error = "対象の会社IDを入力してください。"
    if not error:
        fields = {
            "title": title, "body": body, "kind": kind, "company_ids": companies,
            "published_from": starts.isoformat() if starts else "",
            "published_until": ends.isoformat() if ends else None,
        }  # fmt: skip
        try:
            await support.save_notice(backends, user, fields, notice_id)
        except BackendRefused as exc:
            if exc.not_found:
                return not_found(request, "お知らせ管理")
            error = exc.detail or "入力内容をご確認ください。"
        else:
            return RedirectResponse("/operator/notices?saved=1", status_code=303)
    return render(
        request, "operator/notice_form.html", status_code=422, form=form, kinds=KINDS, notice_id=notice_id,
        error=error,
    )  # fmt: skip


# ---- 操作ログ ------------------------------------------------------------------------------------


@router.get("/operator/audit", response_class=HTMLResponse)
async def audit(
    request: Request,
    user: CurrentOperatorUser,
    backends: BackendsDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """操作ログ: operator actions, newest first."""
    result = await support.audit_log(backends, user, page=page)
    for item in result.items:
        item["action_label"] = AUDIT_ACTIONS.get(item["action"], item["action"])
    return render(
        request, "operator/audit.html", entries=result.items, page=page,
        **paging("/operator/audit", page=page, total=result.total, per_page=support.AUDIT_PER_PAGE),
    )  # fmt: skip
