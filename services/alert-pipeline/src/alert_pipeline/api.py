"""Customer API of the alert pipeline: the alert log, one alert, and the dashboard summary."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from alert_pipeline.api_triage import open_query
from alert_pipeline.models import public_alert
from alert_pipeline.repository import MongoPipelineStore
from shared.auth import CurrentPrincipal
from shared.labels import IMPORTANT_SEVERITY, TRIAGE_OPEN, TRIAGE_STATUSES

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


async def _scope(
    request: Request, company_id: str, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    unit_ids = await _store(request).company_unit_ids(company_id)
    until = (until or datetime.now(UTC)).astimezone(UTC)
    since = (since or until - DEFAULT_PERIOD).astimezone(UTC)
    if since > until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "期間の開始が終了より後になっています。")
    return {
        "company_id": company_id,
        "unit_id": {"$in": unit_ids},
        "detected_at": {"$gte": since, "$lt": until},
    }


@router.get("/alerts", response_model=AlertPage)
async def list_alerts(
    request: Request,
    principal: CurrentPrincipal,
    since: datetime | None = None,
    until: datetime | None = None,
    severity: Annotated[list[int] | None, Query()] = None,
    category: str | None = None,
    unit_id: str | None = None,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The company's alerts, newest first, filtered by period, severity, category and unit."""
    query = await _scope(request, principal.company_id, since, until)
    if severity:
        if any(s not in (1, 2, 3) for s in severity):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "重要度は1〜3で指定してください。")
        query["severity"] = {"$in": severity}
    if category:
        query["category"] = category
    if status_filter:
        if status_filter not in TRIAGE_STATUSES:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "対応状況の指定が正しくありません。")
        query.update(open_query() if status_filter == TRIAGE_OPEN else {"status": status_filter})
    if unit_id:
        allowed = query["unit_id"]["$in"]
        query["unit_id"] = unit_id if unit_id in allowed else {"$in": []}
    alerts = _store(request).alerts
    total = await alerts.count_documents(query)
    cursor = (
        alerts.find(query).sort([("detected_at", -1), ("_id", 1)]).skip((page - 1) * per_page).limit(per_page)
    )
    items = [public_alert(d) async for d in cursor]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


@router.get("/alerts/summary", response_model=AlertSummary)
async def alert_summary(
    request: Request,
    principal: CurrentPrincipal,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Totals by severity and category over a period (default: the last 30 days), and the latest alerts."""
    query = await _scope(request, principal.company_id, since, until)
    alerts = _store(request).alerts
    by_severity = {"1": 0, "2": 0, "3": 0}
    by_category: dict[str, int] = {}
    async for row in await alerts.aggregate(
        [{"$match": query}, {"$group": {"_id": {"s": "$severity", "c": "$category"}, "n": {"$sum": 1}}}]
    ):
        by_severity[str(row["_id"]["s"])] = by_severity.get(str(row["_id"]["s"]), 0) + row["n"]
        by_category[row["_id"]["c"]] = by_category.get(row["_id"]["c"], 0) + row["n"]
    latest = [public_alert(d) async for d in alerts.find(query).sort("detected_at", -1).limit(5)]
    unresolved = await alerts.count_documents(
        {**query, "severity": {"$gte": IMPORTANT_SEVERITY}, **open_query()}
    )
    return {
        "unresolved_important": unresolved,
        "total": sum(by_severity.values()),
        "by_severity": by_severity,
        "by_category": dict(sorted(by_category.items(), key=lambda kv: -kv[1])),
        "latest": latest,
    }


@router.get("/alerts/{alert_id}", response_model=AlertView)
async def get_alert(request: Request, principal: CurrentPrincipal, alert_id: str) -> dict[str, Any]:
    """One alert of the company; another company's alert is simply not found."""
    unit_ids = await _store(request).company_unit_ids(principal.company_id)
    doc = await _store(request).alerts.find_one(
        {"_id": alert_id, "company_id": principal.company_id, "unit_id": {"$in": unit_ids}}
    )
    if doc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "アラートが見つかりません。")
    return public_alert(doc)
