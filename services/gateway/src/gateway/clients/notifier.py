"""The notifier as the portal uses it: the monthly report mail setting."""

from typing import TYPE_CHECKING

from gateway.backends import Backends
from gateway.clients._base import call_json

if TYPE_CHECKING:
    from gateway.session import PortalUser

SERVICE = "notifier"
PATH = "/preferences/monthly-report"


async def monthly_report_opted_out(backends: Backends, user: "PortalUser") -> bool:
    """Whether the user declined the monthly report mail."""
    result = await call_json(backends, SERVICE, "GET", PATH, user=user)
    return bool(result.get("opted_out"))


async def set_monthly_report_opted_out(backends: Backends, user: "PortalUser", opted_out: bool) -> None:
    await call_json(backends, SERVICE, "PUT", PATH, user=user, json={"opted_out": opted_out})
