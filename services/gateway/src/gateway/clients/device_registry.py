"""The device registry as the portal uses it."""

from typing import TYPE_CHECKING, Any

from gateway.backends import Backends
from gateway.clients._base import call_json

if TYPE_CHECKING:
    from gateway.session import PortalUser

SERVICE = "device-registry"
Json = dict[str, Any]


async def units(backends: Backends, user: "PortalUser") -> list[Json]:
    """The user's company's units."""
    result: list[Json] = await call_json(backends, SERVICE, "GET", "/units", user=user)
    return result


async def operator_units(backends: Backends, user: "PortalUser", *, company_id: str = "") -> list[Json]:
    """Every company's units (or one company's), for operators."""
    params = {"company_id": company_id} if company_id else None
    result: list[Json] = await call_json(
        backends, SERVICE, "GET", "/operator/units", user=user, params=params
    )
    return result


async def summary(backends: Backends, user: "PortalUser") -> Json:
    """Counts of the user's company's units (expected, shipped, registered, unregistered, online, offline)."""
    result: Json = await call_json(backends, SERVICE, "GET", "/units/summary", user=user)
    return result
