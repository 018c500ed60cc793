"""The alert pipeline as the portal uses it: the alert log, triage, reports, and the operators' counts."""

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from gateway.backends import Backends
from gateway.clients._base import call_json
from gateway.paths import backend_path

if TYPE_CHECKING:
    from gateway.session import PortalUser

SERVICE = "alert-pipeline"
Json = dict[str, Any]
ReportKind = Literal["threats", "compare", "units"]


class AlertSummary(BaseModel):
    """A company's alerts of a period."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    total: int = 0
    by_severity: dict[str, int] = {}
    by_category: dict[str, int] = {}
    unresolved_important: int = 0


@dataclass(frozen=True, slots=True)
class AlertPage:
    """One page of the alert log (each alert as the pipeline gives it) and the count of all."""

    items: list[Json]
    total: int


async def summary(
    backends: Backends, user: "PortalUser", *, since: datetime, until: datetime
) -> AlertSummary:
    """The company's alerts of a period: ``total``, ``by_severity``, ``by_category``."""
    params = {"since": since.isoformat(), "until": until.isoformat()}
    result = await call_json(backends, SERVICE, "GET", "/alerts/summary", user=user, params=params)
    return AlertSummary.model_validate(result)


async def alerts(backends: Backends, user: "PortalUser", params: dict[str, Any]) -> AlertPage:
    """One page of the company's alert log (filters and paging in ``params``)."""
    result = await call_json(backends, SERVICE, "GET", "/alerts", user=user, params=params)
    return AlertPage(items=list(result["items"]), total=int(result["total"]))


async def alert(backends: Backends, user: "PortalUser", alert_id: str) -> Json:
    """One alert of the company (BackendRefused 404 for an unknown or another company's)."""
    path = backend_path("/alerts/{alert_id}", alert_id=alert_id)
    result: Json = await call_json(backends, SERVICE, "GET", path, user=user)
    return result


async def acknowledge(backends: Backends, user: "PortalUser", alert_ids: list[str]) -> int:
    """Mark the company's open alerts among ``alert_ids`` 確認済み; how many changed."""
    body = {"alert_ids": alert_ids}
    result: Json = await call_json(backends, SERVICE, "POST", "/alerts/acknowledge", user=user, json=body)
    return int(result.get("updated", 0))


async def change_status(
    backends: Backends, user: "PortalUser", alert_id: str, *, status: str, comment: str
) -> None:
    """Set one alert's triage status (kept in its history with the comment)."""
    path = backend_path("/alerts/{alert_id}/status", alert_id=alert_id)
    await call_json(backends, SERVICE, "POST", path, user=user, json={"status": status, "comment": comment})


async def report(backends: Backends, user: "PortalUser", kind: ReportKind, *, first: str, last: str) -> Json:
    """A report's figures for the user's company over the days ``first`` … ``last`` (ISO dates)."""
    path = backend_path("/reports/{kind}", kind=kind)
    params = {"first": first, "last": last}
    result: Json = await call_json(backends, SERVICE, "GET", path, user=user, params=params)
    return result


async def resend_monthly_report(backends: Backends, user: "PortalUser", company_id: str, month: str) -> None:
    """Operators: mail one company's monthly report (YYYY-MM) again."""
    path = backend_path("/reports/monthly/{company_id}/{month}/resend", company_id=company_id, month=month)
    await call_json(backends, SERVICE, "POST", path, user=user)


async def open_serious_counts(backends: Backends, user: "PortalUser") -> dict[str, int]:
    """Operators: per company id, its ★★★ alerts not yet resolved (未対応 or 確認済み)."""
    result: dict[str, int] = await call_json(
        backends, SERVICE, "GET", "/operator/alerts/open-serious-counts", user=user
    )
    return result
