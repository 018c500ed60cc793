"""Customer API of the alert pipeline: the alert log, one alert, and the dashboard summary."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from alert_pipeline.repository import MongoPipelineStore
from shared.auth import CurrentPrincipal
from shared.labels import TRIAGE_STATUSES
from shared.openapi import problem

router = APIRouter(tags=["alerts"])
DEFAULT_PERIOD = timedelta(days=30)


class StatusEntry(BaseModel):
    """One change of an alert's status: who, when, and their comment."""

    status: str
    by: str
    by_name: str = ""
    at: datetime
    comment: str = ""


class AlertView(BaseModel):
    """An alert as customers see it."""

    alert_id: str = Field(examples=["ALT-20261125-8F3K2QAB7Z"])
    unit_id: str
    unit_name: str
    serial_number: str
    mac_address: str
    category: str = Field(examples=["Webガード"])
    severity: int = Field(ge=1, le=3)
    severity_label: str = Field(examples=["★★☆(中)"])
    signature: str
    action: str
    source: str
    destination: str
    summary: str
    explanation: str
    remedy: str
    detected_at: datetime
    cleared_at: datetime | None = None
    status: str = Field(default="open", examples=["open"], description="open, acknowledged or resolved.")
    status_label: str = Field(default="未対応", examples=["未対応"])
    status_history: list[StatusEntry] = Field(default_factory=list)


class AlertPage(BaseModel):
    """One page of the alert log."""

    items: list[AlertView]
    total: int
    page: int
    per_page: int


class AlertSummary(BaseModel):
    """Counts for the dashboard's セキュリティステータス."""

    total: int
    by_severity: dict[str, int]
    by_category: dict[str, int]
    latest: list[AlertView]
    unresolved_important: int = Field(default=0, description="未対応 alerts of ★★☆ and above.")


def _store(request: Request) -> MongoPipelineStore:
    store: MongoPipelineStore = request.app.state.pipeline_store
    return store


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = (until or datetime.now(UTC)).astimezone(UTC)
    since = (since or until - DEFAULT_PERIOD).astimezone(UTC)
    if since > until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "期間の開始が終了より後になっています。")
    return since, until


@router.get(
    "/alerts", response_model=AlertPage, responses={422: problem("Invalid period, severity or paging.")}
)
async def list_alerts(
    request: Request,
    principal: CurrentPrincipal,
    since: datetime | None = None,
    until: datetime | None = None,
    severity: Annotated[list[int] | None, Query()] = None,
    category: str | None = None,
    unit_id: str | None = None,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The company's alerts, newest first, filtered by period, severity, category, unit and status."""
    start, end = _period(since, until)
    if severity and any(s not in (1, 2, 3) for s in severity):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "重要度は1〜3で指定してください。")
    if status_filter and status_filter not in TRIAGE_STATUSES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "対応状況の指定が正しくありません。")
    total, alerts = await _store(request).alert_page(
        principal.company_id,
        since=start,
        until=end,
        severities=severity or (),
        category=category,
        unit_id=unit_id,
        status=status_filter,
        skip=(page - 1) * per_page,
        limit=per_page,
    )
    return {"items": [a.public() for a in alerts], "total": total, "page": page, "per_page": per_page}


@router.get("/alerts/summary", response_model=AlertSummary, responses={422: problem("Invalid period.")})
async def alert_summary(
    request: Request,
    principal: CurrentPrincipal,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Totals by severity and category over a period (default: the last 30 days), and the latest alerts."""
    start, end = _period(since, until)
    summary = await _store(request).alert_summary(principal.company_id, since=start, until=end)
    by_severity = {"1": 0, "2": 0, "3": 0}
    by_category: dict[str, int] = {}
    for (severity, category), n in summary.totals.items():
        by_severity[str(severity)] = by_severity.get(str(severity), 0) + n
        by_category[category] = by_category.get(category, 0) + n
    return {
        "unresolved_important": summary.unresolved_important,
        "total": sum(by_severity.values()),
        "by_severity": by_severity,
        "by_category": dict(sorted(by_category.items(), key=lambda kv: -kv[1])),
        "latest": [a.public() for a in summary.latest],
    }


@router.get(
    "/alerts/{alert_id}", response_model=AlertView, responses={404: problem("No such alert of this company.")}
)
async def get_alert(request: Request, principal: CurrentPrincipal, alert_id: str) -> dict[str, Any]:
    """One alert of the company; another company's alert is simply not found."""
    alert = await _store(request).company_alert(principal.company_id, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "アラートが見つかりません。")
    return alert.public()
