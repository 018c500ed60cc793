"""The device registry as the portal uses it."""

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from gateway.backends import Backends
from gateway.clients._base import call_json
from gateway.paths import backend_path

if TYPE_CHECKING:
    from gateway.session import PortalUser

SERVICE = "device-registry"
Json = dict[str, Any]


class UnitCounts(BaseModel):
    """Counts of a company's units."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    expected: int = 0
    shipped: int = 0
    registered: int = 0
    unregistered: int = 0
    online: int = 0
    offline: int = 0


async def units(backends: Backends, user: "PortalUser") -> list[Json]:
    """The user's company's units."""
    result: list[Json] = await call_json(backends, SERVICE, "GET", "/units", user=user)
    return result


async def operator_units(
    backends: Backends, user: "PortalUser", *, company_id: str = "", status: str = ""
) -> list[Json]:
    """Every company's units (or one company's, or those of one status), for operators."""
    params = {k: v for k, v in {"company_id": company_id, "status": status}.items() if v} or None
    result: list[Json] = await call_json(
        backends, SERVICE, "GET", "/operator/units", user=user, params=params
    )
    return result


async def summary(backends: Backends, user: "PortalUser") -> UnitCounts:
    """Counts of the user's company's units (expected, shipped, registered, unregistered, online, offline)."""
    return UnitCounts.model_validate(await call_json(backends, SERVICE, "GET", "/units/summary", user=user))


async def register(
    backends: Backends, user: "PortalUser", *, identifier: str, registration_code: str, name: str
) -> Json:
    """UTM登録: the unit found by MAC address or serial number, checked by its registration code."""
    body = {"identifier": identifier, "registration_code": registration_code, "name": name}
    result: Json = await call_json(backends, SERVICE, "POST", "/units/register", user=user, json=body)
    return result


async def record_shipment(
    backends: Backends, user: "PortalUser", unit_id: str, *, serial_number: str, mac_address: str,
    registration_code: str,
) -> Json:  # fmt: skip
    """Operators: the unit left for the customer with this serial number, MAC address and code."""
    path = backend_path("/operator/units/{unit_id}/shipment", unit_id=unit_id)
    body = {
        "serial_number": serial_number,
        "mac_address": mac_address,
        "registration_code": registration_code,
    }
    result: Json = await call_json(backends, SERVICE, "POST", path, user=user, json=body)
    return result
