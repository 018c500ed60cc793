"""UTM監視状況 (the company's units with status and last seen) and UTM登録 (register an installed unit)."""

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.backends import BackendsDep
from gateway.clients import device_registry
from gateway.clients._base import BackendRefused
from gateway.csrf import CsrfProtected
from gateway.session import CurrentUser
from gateway.web import error_page, render

router = APIRouter(tags=["units"])
JST = ZoneInfo("Asia/Tokyo")
STATUS_LABELS = {"expected": "出荷準備中", "shipped": "未登録", "registered": "登録済み"}
CONNECTION_LABELS = {"online": "正常", "offline": "通信途絶", "unknown": "未受信"}


@router.get("/units", response_class=HTMLResponse, responses={502: {"description": "Backend error."}})
async def unit_list(request: Request, user: CurrentUser, backends: BackendsDep) -> Response:
    """UTM監視状況."""
    try:
        units = await device_registry.units(backends, user)
    except BackendRefused:
        return error_page(
            request, status_code=502, title="UTM監視状況", message="UTMの情報を取得できませんでした。"
        )
    unregistered = sum(1 for u in units if u.status == "shipped")
    return render(
        request, "units/list.html", units=units, statuses=STATUS_LABELS, connections=CONNECTION_LABELS,
        unregistered=unregistered, registered=request.query_params.get("registered"),
    )  # fmt: skip


@router.get("/units/register", response_class=HTMLResponse)
async def register_form(request: Request, user: CurrentUser) -> Response:
    """UTM登録 form: MAC address or serial number, and the registration code printed on the unit."""
    return render(request, "units/register.html", identifier="", unit_name="", error=None)


@router.post(
    "/units/register",
    response_class=HTMLResponse,
    responses={
        404: {"description": "No unit with this MAC address or serial number."},
        409: {"description": "The unit is registered already."},
        422: {"description": "Missing fields or a wrong registration code."},
        502: {"description": "Backend error."},
    },
)
async def register_unit(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    _: CsrfProtected,
    identifier: Annotated[str, Form(max_length=64)] = "",
    registration_code: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    """Register the unit; errors are shown on the form in Japanese."""
    if not identifier.strip() or not registration_code.strip():
        error = "MACアドレスまたはシリアル番号と、登録コードを入力してください。"
        return render(
            request,
            "units/register.html",
            status_code=422,
            identifier=identifier,
            unit_name=name,
            error=error,
        )
    try:
        await device_registry.register(
            backends, user, identifier=identifier, registration_code=registration_code, name=name
        )
    except BackendRefused as exc:
        detail = _detail(exc.body)
        status = exc.status_code if 400 <= exc.status_code < 500 else 502
    else:
        return RedirectResponse("/units?registered=1", status_code=303)
    return render(
        request, "units/register.html", status_code=status, identifier=identifier, unit_name=name,
        error=detail or "UTMを登録できませんでした。入力内容をご確認ください。",
    )  # fmt: skip


def _detail(body: Any) -> str:
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    return (
        "入力内容に誤りがあります。MACアドレスまたはシリアル番号と登録コードをご確認ください。"
        if detail
        else ""
    )
