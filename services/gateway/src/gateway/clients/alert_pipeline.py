"""The alert pipeline as the portal uses it."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.backends import Backends
from gateway.clients._base import call_json

if TYPE_CHECKING:
    from gateway.session import PortalUser

SERVICE = "alert-pipeline"
Json = dict[str, Any]


async def summary(backends: Backends, user: "PortalUser", *, since: datetime, until: datetime) -> Json:
    """The company's alerts of a period: ``total``, ``by_severity``, ``by_category``."""
    params = {"since": since.isoformat(), "until": until.isoformat()}
    result: Json = await call_json(backends, SERVICE, "GET", "/alerts/summary", user=user, params=params)
    return result
