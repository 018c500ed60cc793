"""アラートログ (filters: period, severity, category, unit; paged) and アラート詳細."""

import asyncio
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.backends import BackendsDep, BackendUnavailable
from gateway.clients import alert_pipeline, device_registry
from gateway.clients._base import BackendRefused
from gateway.csrf import CsrfProtected
from gateway.pages import paging
from gateway.paths import backend_path
from gateway.session import CurrentUser
from gateway.web import error_page, render
from shared.labels import MONITORING_CATEGORY, TRIAGE_STATUSES, category_name, format_jst, severity_label

router = APIRouter(tags=["alerts"])
JST = ZoneInfo("Asia/Tokyo")
PER_PAGE = 50
DEFAULT_DAYS = 30
SEVERITY_LABELS = {s: severity_label(s) for s in (3, 2, 1)}
AT_LEAST = {"2+": "★★☆(中)以上"}
# The categories the classifier stores (by name), then the service's own UTM監視.
CATEGORIES = tuple(
    category_name(code)
    for code in (
        "webfilter",
        "antivirus",
        "ips",
        "app-control",
        "botnet",
        "dns-filter",
        "other",
        MONITORING_CATEGORY,
    )
)


def _jst(value: str | None) -> str:
    if not value:
        return "-"
    return format_jst(value)


def _day(value: str, fallback: date) -> date:
    try:
        return date.fromisoformat(value) if value else fallback
    except ValueError:
        return fallback


@router.get("/alerts", response_class=HTMLResponse, responses={502: {"description": "Backend error."}})
async def alert_log(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    severity: Annotated[str, Query(max_length=2)] = "",
    min_severity: Annotated[str, Query(max_length=1)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    category: Annotated[str, Query(max_length=40)] = "",
    unit: Annotated[str, Query(max_length=80)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """The company's alerts, newest first; period dates are Japan dates (until is inclusive)."""
    today = datetime.now(JST).date()
    first = _day(since, today - timedelta(days=DEFAULT_DAYS))
    last = _day(until, today)
    if first > last:
        first, last = last, first
    params: dict[str, Any] = {
        "since": datetime.combine(first, time.min, tzinfo=JST).isoformat(),
        "until": datetime.combine(last + timedelta(days=1), time.min, tzinfo=JST).isoformat(),
        "page": page,
        "per_page": PER_PAGE,
    }
    # The drop-down offers exact levels and "N以上" (N+); the dashboard's 問題を確認 sends min_severity=2.
    if not severity and min_severity in ("1", "2", "3"):
        severity = f"{min_severity}+"
    if severity in ("1", "2", "3"):
        params["severity"] = [int(severity)]
    elif severity in AT_LEAST:
        params["severity"] = [s for s in (1, 2, 3) if s >= int(severity[0])]
    else:
        severity = ""
    if status in TRIAGE_STATUSES:
        params["status"] = status
    else:
        status = ""
    if category in CATEGORIES:
        params["category"] = category
    if unit:
        params["unit_id"] = unit
    # The units of the filter are asked beside the alerts, not after them.
    body, units = await asyncio.gather(
        alert_pipeline.alerts(backends, user, params), _units(backends, user), return_exceptions=True
    )
    if isinstance(body, BackendRefused):
        return _log_error(request, 502, "アラートを取得できませんでした。")
    if isinstance(body, BaseException):
        raise body
    if isinstance(units, BaseException):
        raise units
    for item in body.items:
        item["detected_jst"] = _jst(item["detected_at"])
    filters = {
        "since": first.isoformat(),
        "until": last.isoformat(),
        "severity": severity,
        "status": status,
        "category": category,
        "unit": unit,
    }
    query = {k: v for k, v in filters.items() if v}
    return render(
        request, "alerts/list.html", alerts=body.items, total=body.total, page=page,
        filters=filters, categories=CATEGORIES, severities=SEVERITY_LABELS, units=units, at_least=AT_LEAST,
        statuses=TRIAGE_STATUSES, back=f"/alerts?{urlencode({**query, 'page': page})}",
        **paging("/alerts", page=page, total=body.total, per_page=PER_PAGE, **query),
    )  # fmt: skip


async def _units(backends: Any, user: Any) -> list[device_registry.Unit]:
    try:
        units = await device_registry.units(backends, user)
    except (BackendUnavailable, BackendRefused):
        return []
    return [u for u in units if u.status == "registered"]


@router.get(
    "/alerts/{alert_id}",
    response_class=HTMLResponse,
    responses={
        404: {"description": "No such alert of this company."},
        502: {"description": "Backend error."},
    },
)
async def alert_detail(request: Request, user: CurrentUser, backends: BackendsDep, alert_id: str) -> Response:
    """アラート詳細 with what happened, 説明, 対処 and an お問い合わせ link carrying the alert ID and MAC."""
    try:
        alert = await alert_pipeline.alert(backends, user, alert_id)
    except BackendRefused as exc:
        if exc.status_code < 500:
            return _no_alert(request)
        return _detail_error(request, 502, "アラートを取得できませんでした。")
    if not isinstance(alert, dict) or alert.get("alert_id") != alert_id:
        return _no_alert(request)  # the backend answered for another route (a path like ``summary``)
    alert["detected_jst"] = _jst(alert["detected_at"])
    alert["cleared_jst"] = _jst(alert.get("cleared_at")) if alert.get("cleared_at") else None
    for entry in alert.get("status_history", []):
        entry["at_jst"] = _jst(entry["at"])
        entry["status_label"] = TRIAGE_STATUSES.get(entry["status"], entry["status"])
    inquiry_url = "/inquiries/new?" + urlencode({"alert_id": alert["alert_id"], "mac": alert["mac_address"]})
    return render(
        request, "alerts/detail.html", alert=alert, inquiry_url=inquiry_url, statuses=TRIAGE_STATUSES
    )


def _no_alert(request: Request) -> Response:
    return _detail_error(request, 404, "アラートが見つかりません。")


def _log_error(request: Request, status_code: int, message: str) -> Response:
    return error_page(request, status_code=status_code, title="アラートログ", message=message)


def _detail_error(request: Request, status_code: int, message: str) -> Response:
    return error_page(request, status_code=status_code, title="アラート詳細", message=message)


def _back(value: str) -> str:
    """Only a path of the alert log itself is a place to go back to."""
    return value if value.startswith("/alerts") and not value.startswith("//") else "/alerts"


@router.post("/alerts/acknowledge", response_class=HTMLResponse)
async def acknowledge_alerts(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    _: CsrfProtected,
    alert_ids: Annotated[list[str] | None, Form(max_length=64)] = None,
    back: Annotated[str, Form(max_length=2000)] = "/alerts",
) -> Response:
    """一括確認: the selected alerts become 確認済み."""
    if not alert_ids:
        return _log_error(request, 400, "確認済みにするアラートを選択してください。")
    if len(alert_ids) > PER_PAGE:
        return _log_error(request, 400, "一度に選択できるのは50件までです。")
    try:
        await alert_pipeline.acknowledge(backends, user, alert_ids)
    except BackendRefused:
        return _log_error(request, 502, "対応状況を更新できませんでした。")
    return RedirectResponse(_back(back), status_code=303)


@router.post("/alerts/{alert_id}/status", response_class=HTMLResponse)
async def change_status(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    alert_id: str,
    _: CsrfProtected,
    status: Annotated[str, Form(max_length=20)] = "",
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """アラート詳細's 対応状況 form."""
    if status not in TRIAGE_STATUSES:
        return _detail_error(request, 400, "対応状況を選択してください。")
    try:
        await alert_pipeline.change_status(backends, user, alert_id, status=status, comment=comment)
    except BackendRefused as exc:
        if exc.not_found:
            return _no_alert(request)
        return _detail_error(request, 503, "対応状況を更新できませんでした。")
    return RedirectResponse(backend_path("/alerts/{alert_id}", alert_id=alert_id), status_code=303)
