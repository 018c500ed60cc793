"""The dashboard (guide §4 ⑥, §6) and the pages its buttons lead to."""

import logging
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from gateway.backends import Backends, BackendsDep, BackendUnavailable
from gateway.session import CurrentUser, PortalUser
from gateway.web import STATIC_DIR, render
from shared.labels import severity_label

log = logging.getLogger(__name__)

router = APIRouter(tags=["dashboard"])

JST = ZoneInfo("Asia/Tokyo")
STATUS_PERIOD_DAYS = 30
SEVERITY_LABELS = {str(s): severity_label(s) for s in (3, 2, 1)}
MANUAL = STATIC_DIR / "manual" / "portal-manual.html"


def status_period(now: datetime) -> tuple[datetime, datetime]:
    """The last 30 days up to now, starting at midnight Japan time."""
    today = now.astimezone(JST).date()
    since = datetime.combine(today - timedelta(days=STATUS_PERIOD_DAYS), time.min, tzinfo=JST)
    return since, now.astimezone(JST)


async def _get_json(backends: Backends, service: str, path: str, user: PortalUser, **params: str) -> Any:
    """A backend's JSON answer, or None when it is down, missing or refuses."""
    try:
        response = await backends.call(service, "GET", path, user=user, params=params or None)
    except BackendUnavailable:
        return None
    if response.status_code != 200:
        log.info("dashboard source unavailable", extra={"service": service, "status": response.status_code})
        return None
    try:
        return response.json()
    except ValueError:
        return None


@router.get("/", response_class=HTMLResponse)
@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(request: Request, user: CurrentUser, backends: BackendsDep) -> Response:
    """ダッシュボード: security status of the last 30 days, notices, the unregistered-UTM warning."""
    if user.is_operator:
        return render(request, "dashboard_operator.html")
    since, until = status_period(datetime.now(JST))
    units = await _get_json(backends, "device-registry", "/units/summary", user)
    alerts = await _get_json(
        backends, "alert-pipeline", "/alerts/summary", user, since=since.isoformat(), until=until.isoformat()
    )
    notices = await _get_json(backends, "notifier", "/notices", user, limit="5")
    return render(
        request,
        "dashboard.html",
        period=f"{since:%Y-%m-%d} - {until:%Y-%m-%d}",
        units=units if isinstance(units, dict) else None,
        alerts=alerts if isinstance(alerts, dict) else None,
        severity_labels=SEVERITY_LABELS,
        notices=_notice_list(notices),
    )


def _notice_list(body: Any) -> list[dict[str, Any]] | None:
    if isinstance(body, dict):
        body = body.get("notices", body.get("items"))
    if not isinstance(body, list):
        return None
    return [n for n in body if isinstance(n, dict)]


@router.get("/notices", response_class=HTMLResponse)
async def notices_page(request: Request, user: CurrentUser, backends: BackendsDep) -> Response:
    """過去のお知らせ一覧."""
    notices = _notice_list(await _get_json(backends, "notifier", "/notices", user, limit="100"))
    return render(request, "notices.html", notices=notices)


@router.get("/downloads/portal-manual")
async def portal_manual(user: CurrentUser) -> Response:
    """ダウンロード: the セキュリティサービスポータル利用マニュアル."""
    return FileResponse(
        Path(MANUAL),
        media_type="text/html; charset=utf-8",
        filename="security-service-portal-manual.html",
    )
