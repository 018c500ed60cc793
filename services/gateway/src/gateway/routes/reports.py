"""UTM脅威レポート, 参加企業平均と比べる, 自社UTM同士を比べる: pages, SVG charts, PDF and CSV.

The figures come from the alert pipeline's report API (the caller's token decides the company);
charts are SVG images rendered here, PDF by WeasyPrint, CSV as UTF-8 with a BOM for Excel.
"""

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from gateway import report_export
from gateway.backends import BackendsDep, BackendUnavailable
from gateway.report_charts import CHARTS
from gateway.session import CurrentUser, PortalUser
from gateway.web import error_page, render
from shared.labels import JST
from shared.periods import PRESETS, Period, PeriodError, preset_period

log = logging.getLogger(__name__)
router = APIRouter(tags=["reports"])

REPORTS = {
    "threats": ("UTM脅威レポート", "/reports/threats"),
    "average": ("参加企業平均との比較", "/reports/compare"),
    "units": ("自社UTM同士の比較", "/reports/units"),
}
FILE_NAMES = {"threats": "threat-report", "average": "company-comparison", "units": "unit-comparison"}
DEFAULT_PRESET = "this_month"

Preset = Annotated[str, Query(max_length=20)]
Day = Annotated[str, Query(max_length=10)]


class ReportUnavailable(Exception):
    """The alert pipeline could not give the figures."""


def _period(preset: str, first: str, last: str) -> Period:
    return preset_period(preset or DEFAULT_PRESET, datetime.now(JST), first, last)


async def fetch_report(backends: Any, user: PortalUser, kind: str, period: Period) -> dict[str, Any]:
    """The report's figures from the alert pipeline, for the user's company."""
    path = REPORTS[kind][1]
    params = {"first": period.first.isoformat(), "last": period.last.isoformat()}
    try:
        response = await backends.call("alert-pipeline", "GET", path, user=user, params=params)
    except BackendUnavailable as exc:
        raise ReportUnavailable from exc
    if response.status_code != 200:
        log.info("report unavailable", extra={"kind": kind, "status": response.status_code})
        raise ReportUnavailable
    body: dict[str, Any] = response.json()
    return body


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
        report = await fetch_report(backends, user, kind, chosen)
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
        report = await fetch_report(backends, user, kind, _period(period, first, last))
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
        report = await fetch_report(backends, user, kind, chosen)
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
