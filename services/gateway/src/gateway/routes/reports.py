"""UTM脅威レポート, 参加企業平均と比べる, 自社UTM同士を比べる: pages, SVG charts, PDF and CSV.

The figures come from the alert pipeline's report API (the caller's token decides the company);
charts are SVG images rendered here, PDF by WeasyPrint, CSV as UTF-8 with a BOM for Excel.
"""

import asyncio
import contextlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from gateway import report_export
from gateway.backends import BackendsDep, BackendUnavailable
from gateway.clients import alert_pipeline, notifier
from gateway.clients._base import BackendRefused
from gateway.csrf import CsrfProtected
from gateway.report_charts import CHARTS
from gateway.session import CurrentOperatorUser, CurrentUser, PortalUser
from gateway.web import error_page, render
from shared.expiring import ExpiringMap
from shared.labels import JST
from shared.periods import PRESETS, Period, PeriodError, preset_period

log = logging.getLogger(__name__)
router = APIRouter(tags=["reports"])

REPORTS: dict[str, tuple[str, alert_pipeline.ReportKind]] = {
    "threats": ("UTM脅威レポート", "threats"),
    "average": ("参加企業平均との比較", "compare"),
    "units": ("自社UTM同士の比較", "units"),
}
FILE_NAMES = {"threats": "threat-report", "average": "company-comparison", "units": "unit-comparison"}
DEFAULT_PRESET = "this_month"

Preset = Annotated[str, Query(max_length=20)]
Day = Annotated[str, Query(max_length=10)]


class ReportUnavailable(Exception):
    """The alert pipeline could not give the figures."""


class ReportCache:
    """Reports kept a few seconds per company, kind and period.

    A report page is followed at once by its charts (and often by its PDF or CSV), each of which needs
    the same figures: they are asked of the pipeline once. The figures already trail the alerts by
    the counts' interval; a few seconds more change nothing a reader can tell.
    """

    def __init__(
        self, seconds: float = 30.0, size: int = 2_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._items: ExpiringMap[tuple[str, ...], dict[str, Any]] = ExpiringMap(size, clock)
        self._seconds = seconds

    def get(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        return self._items.get(key)

    def put(self, key: tuple[str, ...], report: dict[str, Any]) -> None:
        self._items.put(key, report, self._seconds)


def _cache(request: Request) -> ReportCache:
    cache: ReportCache = request.app.state.report_cache
    return cache


def _period(preset: str, first: str, last: str) -> Period:
    return preset_period(preset or DEFAULT_PRESET, datetime.now(JST), first, last)


async def fetch_report(
    backends: Any, user: PortalUser, kind: str, period: Period, cache: ReportCache | None = None
) -> dict[str, Any]:
    """The report's figures from the alert pipeline, for the user's company (from ``cache`` when
    it holds them)."""
    name = REPORTS[kind][1]
    key = (user.company_id, name, period.first.isoformat(), period.last.isoformat())
    if cache is not None and (kept := cache.get(key)) is not None:
        return kept
    try:
        report = await alert_pipeline.report(
            backends, user, name, first=period.first.isoformat(), last=period.last.isoformat()
        )
    except BackendUnavailable as exc:
        raise ReportUnavailable from exc
    except BackendRefused as exc:
        log.info("report unavailable", extra={"kind": kind, "status": exc.status_code})
        raise ReportUnavailable from exc
    if cache is not None:
        cache.put(key, report)
    return report


def _not_found(request: Request) -> HTMLResponse:
    return error_page(
        request, status_code=404, title="エラー", message="お探しのページは見つかりませんでした。"
    )


def _unavailable(request: Request, title: str) -> HTMLResponse:
    return error_page(
        request,
        status_code=502,
        title=title,
        message="レポートを取得できませんでした。しばらくしてから再度お試しください。",
    )


@router.get("/reports", response_class=HTMLResponse)
@router.get("/reports/{kind}", response_class=HTMLResponse)
async def report_page(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    kind: str = "threats",
    period: Preset = "",
    first: Day = "",
    last: Day = "",
) -> Response:
    """A report for the chosen period (default: this month), with charts and download links."""
    if kind not in REPORTS:
        return _not_found(request)
    title = REPORTS[kind][0]
    picker = {"period": period or DEFAULT_PRESET, "first": first, "last": last}
    try:
        chosen = _period(period, first, last)
    except PeriodError as exc:
        return render(
            request, "reports/page.html", status_code=400, title=title, kind=kind, picker=picker,
            presets=PRESETS, error=str(exc), report=None,
        )  # fmt: skip
    try:
        report = await fetch_report(backends, user, kind, chosen, _cache(request))
    except ReportUnavailable:
        return _unavailable(request, title)
    query = urlencode(
        {"period": picker["period"], "first": chosen.first.isoformat(), "last": chosen.last.isoformat()}
    )
    if not first:
        picker["first"], picker["last"] = chosen.first.isoformat(), chosen.last.isoformat()
    return render(
        request, "reports/page.html", title=title, kind=kind, picker=picker, presets=PRESETS, error=None,
        report=report, query=query, company_name=user.company_name,
        alts=report_export.chart_alternatives(kind, report),
        chart_src=lambda name: f"/reports/{kind}/chart/{name}.svg?{query}",
    )  # fmt: skip


@router.get("/reports/{kind}/chart/{name}.svg")
async def report_chart(
    request: Request, user: CurrentUser, backends: BackendsDep, kind: str, name: str,
    period: Preset = "", first: Day = "", last: Day = "",
) -> Response:  # fmt: skip
    """One chart of a report as an SVG image."""
    draw = CHARTS.get((kind, name))
    if draw is None:
        return _not_found(request)
    try:
        report = await fetch_report(backends, user, kind, _period(period, first, last), _cache(request))
    except (PeriodError, ReportUnavailable):
        return Response(status_code=404)
    return Response(
        draw(report), media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"}
    )


@router.get("/reports/{kind}/report.{extension}")
async def report_download(
    request: Request, user: CurrentUser, backends: BackendsDep, kind: str, extension: str,
    period: Preset = "", first: Day = "", last: Day = "",
) -> Response:  # fmt: skip
    """The report as PDF (A4, company name, period, page numbers, charts) or CSV (UTF-8 with BOM)."""
    if kind not in REPORTS or extension not in ("pdf", "csv"):
        return _not_found(request)
    title = REPORTS[kind][0]
    try:
        chosen = _period(period, first, last)
    except PeriodError as exc:
        return error_page(request, status_code=400, title=title, message=str(exc))
    try:
        report = await fetch_report(backends, user, kind, chosen, _cache(request))
    except ReportUnavailable:
        return _unavailable(request, title)
    stem = f"{FILE_NAMES[kind]}-{chosen.first:%Y%m%d}-{chosen.last:%Y%m%d}"
    filename = f"{title}_{chosen.first:%Y%m%d}-{chosen.last:%Y%m%d}.{extension}"
    disposition = f"attachment; filename=\"{stem}.{extension}\"; filename*=UTF-8''{quote(filename)}"
    if extension == "csv":
        body = report_export.report_csv(kind, title, user.company_name, report)
        return Response(
            body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition}
        )
    pdf = await asyncio.to_thread(report_export.report_pdf, kind, title, user.company_name, report)
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})


class RenderRequest(BaseModel):
    """A report to render as PDF for the notifier's monthly mail (figures from the pipeline's event)."""

    company_name: str = Field(max_length=200)
    report: dict[str, Any]


@router.post("/internal/reports/threats.pdf", include_in_schema=False)
async def render_monthly_pdf(request: Request, body: RenderRequest) -> Response:
    """Internal: the monthly UTM脅威レポート as PDF; only for a caller that knows the render token."""
    given = request.headers.get("x-render-token", "")
    if not hmac.compare_digest(given.encode(), request.app.state.settings.render_token.encode()):
        return Response(status_code=403)
    try:
        pdf = await asyncio.to_thread(
            report_export.report_pdf, "threats", REPORTS["threats"][0], body.company_name, body.report
        )
    except (KeyError, TypeError, ValueError):
        return Response("report figures incomplete", status_code=422)
    return Response(pdf, media_type="application/pdf")


@router.get("/users/monthly-report", response_class=HTMLResponse)
async def mail_setting(
    request: Request, user: CurrentUser, backends: BackendsDep, saved: int = 0
) -> Response:
    """ユーザ情報 → 月次レポートメールの設定 (the notifier keeps the opt-out)."""
    opted_out: bool | None = None
    with contextlib.suppress(BackendUnavailable, BackendRefused):
        opted_out = await notifier.monthly_report_opted_out(backends, user)
    return render(request, "reports/mail_setting.html", opted_out=opted_out, saved=bool(saved))


@router.post("/users/monthly-report", response_class=HTMLResponse)
async def save_mail_setting(
    request: Request,
    user: CurrentUser,
    backends: BackendsDep,
    _: CsrfProtected,
    receive: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    if receive not in ("yes", "no"):
        return error_page(
            request,
            status_code=400,
            title="月次レポートメールの設定",
            message="受け取るか受け取らないかを選んでください。",
        )
    try:
        await notifier.set_monthly_report_opted_out(backends, user, receive == "no")
    except (BackendUnavailable, BackendRefused):
        return error_page(
            request,
            status_code=502,
            title="月次レポートメールの設定",
            message="設定を保存できませんでした。しばらくしてから再度お試しください。",
        )
    return RedirectResponse("/users/monthly-report?saved=1", status_code=303)


@router.get("/operator/monthly-reports", response_class=HTMLResponse, include_in_schema=False)
async def resend_page(request: Request, user: CurrentOperatorUser) -> Response:
    """運用: re-send one company's monthly report."""
    return render(request, "reports/operator_resend.html", message="", failed=False, company_id="", month="")


@router.post("/operator/monthly-reports", response_class=HTMLResponse, include_in_schema=False)
async def resend_monthly(
    request: Request,
    user: CurrentOperatorUser,
    backends: BackendsDep,
    _: CsrfProtected,
    company_id: Annotated[str, Form(max_length=40)] = "",
    month: Annotated[str, Form(max_length=7)] = "",
) -> Response:
    company_id, month = company_id.strip(), month.strip()
    form = {"company_id": company_id, "month": month}
    if not company_id or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        return render(
            request, "reports/operator_resend.html", status_code=400, failed=True,
            message="企業IDと対象月(YYYY-MM)を入力してください。", **form,
        )  # fmt: skip
    outcome: int | None = 200
    try:
        await alert_pipeline.resend_monthly_report(backends, user, company_id, month)
    except BackendUnavailable:
        outcome = None
    except BackendRefused as exc:
        outcome = exc.status_code
    if outcome not in (200, 404):
        message, failed, status_code = (
            "再送を受け付けられませんでした。しばらくしてから再度お試しください。",
            True,
            502,
        )
    elif outcome == 404:
        message, failed, status_code = (
            "UTMが登録された企業が見つかりません。企業IDを確認してください。",
            True,
            404,
        )
    else:
        message, failed, status_code = (
            f"{company_id} の {month} のレポートの再送を受け付けました。",
            False,
            200,
        )
    return render(
        request,
        "reports/operator_resend.html",
        status_code=status_code,
        message=message,
        failed=failed,
        **form,
    )
