"""お問い合わせ (guide §7 ②, §8) and お知らせ: the customer's pages over the support service."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.backends import BackendsDep, BackendUnavailable
from gateway.clients import device_registry, support
from gateway.clients._base import BackendRefused
from gateway.csrf import CsrfProtected
from gateway.pages import ReplyText, not_found, paging, reply_in_thread, thread_page
from gateway.session import CurrentUser, PortalUser
from gateway.web import render

router = APIRouter(tags=["support"])

MAX_ATTACHMENT = 5 * 1024 * 1024
NOTICES_PER_PAGE = 10


async def _unit_choices(backends: Any, user: PortalUser) -> list[dict[str, str]]:
    """The company's units that have a MAC address, for the inquiry's UTM field."""
    try:
        units = await device_registry.units(backends, user)
    except (BackendUnavailable, BackendRefused):
        return []
    return [{"mac": u.mac_address, "label": f"{u.name} ({u.mac_address})"} for u in units if u.mac_address]


def _form_page(
    request: Request,
    user: PortalUser,
    units: list[dict[str, str]],
    form: dict[str, str],
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    known = {u["mac"] for u in units}
    if form.get("mac_address") and form["mac_address"] not in known:
        # A MAC from an alert link that is not (or no longer) among the units still shows as chosen.
        units = [*units, {"mac": form["mac_address"], "label": form["mac_address"]}]
    return render(
        request, "support/inquiry_form.html", status_code=status_code, form=form, units=units, error=error
    )


@router.get("/inquiries", response_class=HTMLResponse)
async def inquiries(request: Request, user: CurrentUser, backends: BackendsDep) -> Response:
    """お問い合わせ: the company's inquiries and the 相談窓口."""
    if user.is_operator:
        return RedirectResponse("/operator/inquiries", status_code=303)
    items = await support.my_inquiries(backends, user)
    return render(request, "support/inquiries.html", inquiries=items)


@router.get("/inquiries/new", response_class=HTMLResponse)
async def new_inquiry(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    alert_id: Annotated[str, Query(max_length=60)] = "",
    mac: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The inquiry form, prefilled from the account and, from an alert detail, with its ID and MAC."""
    if user.is_operator:
        return RedirectResponse("/operator/inquiries", status_code=303)
    form = {
        "name": user.name,
        "email": user.email or user.login_id,
        "company_name": user.company_name,
        "mac_address": mac.strip().upper(),
        "alert_id": alert_id.strip(),
        "question": "",
    }
    return _form_page(request, user, await _unit_choices(backends, user), form)


@router.post("/inquiries/new", response_class=HTMLResponse)
async def submit_inquiry(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    _: CsrfProtected,
    name: Annotated[str, Form(max_length=60)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    mac_address: Annotated[str, Form(max_length=32)] = "",
    alert_id: Annotated[str, Form(max_length=60)] = "",
    question: Annotated[str, Form(max_length=10_000)] = "",
    attachment: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Send the inquiry; errors come back on the form in Japanese."""
    if user.is_operator:
        return RedirectResponse("/operator/inquiries", status_code=303)
    form = {
        "name": name,
        "email": email,
        "company_name": user.company_name,
        "mac_address": mac_address,
        "alert_id": alert_id,
        "question": question,
    }
    data: bytes | None = None
    filename = ""
    if attachment is not None and attachment.filename:
        data = await attachment.read(MAX_ATTACHMENT + 1)
        filename = attachment.filename
        if len(data) > MAX_ATTACHMENT:
            units = await _unit_choices(backends, user)
            return _form_page(
                request, user, units, form, error="添付ファイルは5MB以下にしてください。", status_code=422
            )
        if not data:
            data = None
    try:
        created = await support.create_inquiry(backends, user, {**form, "attachment_name": filename}, data)
    except BackendRefused as exc:
        units = await _unit_choices(backends, user)
        message = exc.detail if exc.status_code == 422 and exc.detail else "入力内容をご確認ください。"
        if exc.status_code == 422 and not exc.detail:
            message = "入力内容をご確認ください(お名前・メールアドレス・お問い合わせの内容は必須です)。"
        return _form_page(request, user, units, form, error=message, status_code=422)
    return RedirectResponse(f"/inquiries/{quote(created['inquiry_id'])}?sent=1", status_code=303)


@router.get("/inquiries/{inquiry_id}", response_class=HTMLResponse)
async def inquiry_detail(
    request: Request, user: CurrentUser, backends: BackendsDep, inquiry_id: str
) -> Response:
    """One inquiry and its thread; another company's is not found."""
    if user.is_operator:
        return RedirectResponse(f"/operator/inquiries/{quote(inquiry_id)}", status_code=303)
    sent = request.query_params.get("sent")
    return await thread_page(request, user, backends, inquiry_id, "support/inquiry.html", sent=sent, error="")


@router.post("/inquiries/{inquiry_id}/reply", response_class=HTMLResponse)
async def customer_reply(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    _: CsrfProtected,
    inquiry_id: str,
    body: ReplyText = "",
) -> Response:
    """The customer's reply in the thread (mailed to the desk)."""
    done = f"/inquiries/{quote(inquiry_id)}#thread"
    return await reply_in_thread(
        request, user, backends, inquiry_id, body, done=done, template="support/inquiry.html", sent=None
    )


@router.get("/inquiries/{inquiry_id}/attachment")
async def inquiry_attachment(
    user: CurrentUser, backends: BackendsDep, inquiry_id: str, request: Request
) -> Response:
    """The file attached to an inquiry (for its company and operators)."""
    try:
        content, content_type, filename = await support.attachment(backends, user, inquiry_id)
    except BackendRefused:
        return not_found(request, "添付ファイル")
    disposition = f"attachment; filename=\"attachment\"; filename*=UTF-8''{quote(filename)}"
    return Response(content, media_type=content_type, headers={"Content-Disposition": disposition})


@router.get("/notices", response_class=HTMLResponse)
async def notices_page(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """過去のお知らせ一覧, newest first, ten a page."""
    result = await support.notices(backends, user, page=page, per_page=NOTICES_PER_PAGE)
    return render(
        request, "support/notices.html", notices=result.items, total=result.total, page=page,
        **paging("/notices", page=page, total=result.total, per_page=NOTICES_PER_PAGE),
    )  # fmt: skip


@router.get("/notices/{notice_id}", response_class=HTMLResponse)
async def notice_page(request: Request, user: CurrentUser, backends: BackendsDep, notice_id: str) -> Response:
    """One notice."""
    try:
        item = await support.notice(backends, user, notice_id)
    except BackendRefused:
        return not_found(request, "お知らせ")
    return render(request, "support/notice.html", notice=item)
