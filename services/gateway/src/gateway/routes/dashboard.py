"""The dashboard (guide §4 ⑥, §6) and the pages its buttons lead to."""

import asyncio
import logging
from collections.abc import Awaitable
from datetime import datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.backends import Backends, BackendsDep, BackendUnavailable
from gateway.clients import alert_pipeline, device_registry, support
from gateway.clients._base import BackendRefused
from gateway.documents import DOCUMENTS
from gateway.session import CurrentUser, PortalUser
from gateway.web import render
from shared.labels import severity_label

log = logging.getLogger(__name__)

router = APIRouter(tags=["dashboard"])

JST = ZoneInfo("Asia/Tokyo")
STATUS_PERIOD_DAYS = 30
T = TypeVar("T")
SEVERITY_LABELS = {str(s): severity_label(s) for s in (3, 2, 1)}


def status_period(now: datetime) -> tuple[datetime, datetime]:
    """The last 30 days up to now, starting at midnight Japan time."""
    today = now.astimezone(JST).date()
    since = datetime.combine(today - timedelta(days=STATUS_PERIOD_DAYS), time.min, tzinfo=JST)
    return since, now.astimezone(JST)


async def _optional(call: Awaitable[T], source: str) -> T | None:
    """A backend's answer, or None when it is down or refuses (the dashboard says what it could not get)."""
    try:
        return await call
    except (BackendUnavailable, BackendRefused, ValueError) as exc:
        log.info("dashboard source unavailable", extra={"source": source, "error": str(exc)})
        return None


@router.get("/", response_class=HTMLResponse)
@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(request: Request, user: CurrentUser, backends: BackendsDep) -> Response:
    """ダッシュボード: security status of the last 30 days, notices, the unregistered-UTM warning."""
    if user.is_operator:
        return RedirectResponse("/operator", status_code=303)
    since, until = status_period(datetime.now(JST))
    units, alerts, notices = await asyncio.gather(  # three services asked at once
        _optional(device_registry.summary(backends, user), "units"),
        _optional(alert_pipeline.summary(backends, user, since=since, until=until), "alerts"),
        _latest_notices(backends, user),
    )
    return render(
        request,
        "dashboard.html",
        period=f"{since:%Y/%m/%d} - {until:%Y/%m/%d}",
        units=units,
        alerts=alerts,
        severity_labels=SEVERITY_LABELS,
        notices=notices,
    )


async def _latest_notices(backends: Backends, user: PortalUser) -> list[support.Notice] | None:
    """The five latest notices for the dashboard, or None when the support service cannot say."""
    try:
        page = await support.notices(backends, user, page=1, per_page=5)
    except (BackendUnavailable, BackendRefused) as exc:
        log.warning("notices unavailable", extra={"error": str(exc)})
        return None
    return page.items


@router.get("/downloads/{name}")
async def download(request: Request, user: CurrentUser, name: str) -> Response:
    """ダウンロード: the portal manual and the UTM quick-start guide, as PDF."""
    document = DOCUMENTS.get(name)
    if document is None:
        return render(
            request,
            "error.html",
            status_code=404,
            title="エラー",
            message="お探しのページは見つかりませんでした。",
        )
    pdf = await request.app.state.documents.get(name)
    disposition = f'attachment; filename="{document.filename}"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})
