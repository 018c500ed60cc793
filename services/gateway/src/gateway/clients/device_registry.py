"""The device registry as the portal uses it."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from gateway.backends import Backends
from gateway.clients._base import Answer, call_json
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


class Unit(Answer):
    """A UTM unit: expected (not yet posted), shipped, or registered by the customer."""

    unit_id: str
    name: str = ""
    destination_id: str = ""
    destination_label: str = ""
    status: str
    connection: str = "unknown"
    serial_number: str | None = None
    mac_address: str | None = None
    shipped_at: datetime | None = None
    registered_at: datetime | None = None
    last_seen_at: datetime | None = None
    # Operators' lists only.
    company_id: str = ""
    company_name: str = ""
    application_number: str = ""

    @property
    def connection_state(self) -> str | None:
        """online, offline or unknown for a registered unit; None before registration."""
        return self.connection if self.status == "registered" else None


async def units(backends: Backends, user: "PortalUser") -> list[Unit]:
    """The user's company's units."""
    result = await call_json(backends, SERVICE, "GET", "/units", user=user)
    return [Unit.model_validate(item) for item in result or []]


async def operator_units(
    backends: Backends, user: "PortalUser", *, company_id: str = "", status: str = ""
) -> list[Unit]:
    """Every company's units (or one company's, or those of one status), for operators."""
    params = {k: v for k, v in {"company_id": company_id, "status": status}.items() if v} or None
    result = await call_json(backends, SERVICE, "GET", "/operator/units", user=user, params=params)
    return [Unit.model_validate(item) for item in result or []]


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
