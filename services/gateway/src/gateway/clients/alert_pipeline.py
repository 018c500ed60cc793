"""The alert pipeline as the portal uses it: the alert log, triage, reports, and the operators' counts."""

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from gateway.backends import Backends
from gateway.clients._base import call_json
from gateway.paths import backend_path

if TYPE_CHECKING:
    from gateway.session import PortalUser

SERVICE = "alert-pipeline"
Json = dict[str, Any]
ReportKind = Literal["threats", "compare", "units"]


async def summary(backends: Backends, user: "PortalUser", *, since: datetime, until: datetime) -> Json:
    """The company's alerts of a period: ``total``, ``by_severity``, ``by_category``."""
    params = {"since": since.isoformat(), "until": until.isoformat()}
    result: Json = await call_json(backends, SERVICE, "GET", "/alerts/summary", user=user, params=params)
    return result


async def alerts(backends: Backends, user: "PortalUser", params: dict[str, Any]) -> Json:
    """One page of the company's alert log: ``items`` and ``total`` (filters and paging in ``params``)."""
    result: Json = await call_json(backends, SERVICE, "GET", "/alerts", user=user, params=params)
    return result


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
