"""アラートログ (filters: period, severity, category, unit; paged) and アラート詳細."""

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from gateway.backends import BackendsDep, BackendUnavailable
from gateway.session import CurrentUser
from gateway.web import error_page, render
from shared.labels import format_jst

router = APIRouter(tags=["alerts"])
JST = ZoneInfo("Asia/Tokyo")
PER_PAGE = 50
DEFAULT_DAYS = 30
SEVERITY_LABELS = {3: "★★★(高)", 2: "★★☆(中)", 1: "★☆☆(低)"}
CATEGORIES = (
    "Webガード",
    "アンチウイルス",
    "不正侵入防御(IPS)",
    "アプリケーション制御",
    "C&C/ボット通信",
    "DNSフィルタ",
    "その他の脅威",
    "UTM監視",
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


@router.get("/alerts", response_class=HTMLResponse)
async def alert_log(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    severity: Annotated[str, Query(max_length=1)] = "",
    min_severity: Annotated[str, Query(max_length=1)] = "",
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
    if severity in ("1", "2", "3"):
        params["severity"] = [int(severity)]
    elif min_severity in ("1", "2", "3"):
        params["severity"] = [s for s in (1, 2, 3) if s >= int(min_severity)]
    if category in CATEGORIES:
        params["category"] = category
    if unit:
        params["unit_id"] = unit
    response = await backends.call("alert-pipeline", "GET", "/alerts", user=user, params=params)
    if response.status_code != 200:
        return error_page(
            request, status_code=502, title="アラートログ", message="アラートを取得できませんでした。"
        )
    body = response.json()
    for item in body["items"]:
        item["detected_jst"] = _jst(item["detected_at"])
    units = await _units(backends, user)
    filters = {
        "since": first.isoformat(),
        "until": last.isoformat(),
        "severity": severity,
        "min_severity": min_severity,
        "category": category,
        "unit": unit,
    }
    pages = max(1, -(-body["total"] // PER_PAGE))
    query = {k: v for k, v in filters.items() if v}
    return render(
        request, "alerts/list.html", alerts=body["items"], total=body["total"], page=page, pages=pages,
        filters=filters, categories=CATEGORIES, severities=SEVERITY_LABELS, units=units,
        prev_url=f"/alerts?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
        next_url=f"/alerts?{urlencode({**query, 'page': page + 1})}" if page < pages else None,
    )  # fmt: skip


async def _units(backends: Any, user: Any) -> list[dict[str, Any]]:
    try:
        response = await backends.call("device-registry", "GET", "/units", user=user)
    except BackendUnavailable:
        return []
    if response.status_code != 200:
        return []
    return [u for u in response.json() if u["status"] == "registered"]


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_detail(request: Request, user: CurrentUser, backends: BackendsDep, alert_id: str) -> Response:
    """アラート詳細 with what happened, 説明, 対処 and an お問い合わせ link carrying the alert ID and MAC."""
    response = await backends.call("alert-pipeline", "GET", f"/alerts/{alert_id}", user=user)
    if response.status_code == 404:
        return error_page(
            request, status_code=404, title="アラート詳細", message="アラートが見つかりません。"
        )
    if response.status_code != 200:
        return error_page(
            request, status_code=502, title="アラート詳細", message="アラートを取得できませんでした。"
        )
    alert = response.json()
    alert["detected_jst"] = _jst(alert["detected_at"])
    alert["cleared_jst"] = _jst(alert.get("cleared_at")) if alert.get("cleared_at") else None
    inquiry_url = "/inquiries/new?" + urlencode({"alert_id": alert["alert_id"], "mac": alert["mac_address"]})
    return render(request, "alerts/detail.html", alert=alert, inquiry_url=inquiry_url)
