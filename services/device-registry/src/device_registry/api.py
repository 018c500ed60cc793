"""HTTP API of the device registry: customers list and register units, operators record shipments."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from device_registry.models import InvalidIdentifier, public_unit
from device_registry.schemas import OperatorUnitOut, RegistrationIn, ShipmentIn, UnitOut, UnitSummary
from device_registry.service import DeviceRegistry, RegistryError
from shared.auth import CurrentOperator, CurrentPrincipal
from shared.openapi import problem

router = APIRouter()


async def _registry(request: Request) -> DeviceRegistry:
    registry: DeviceRegistry = request.app.state.registry
    return registry


Registry = Annotated[DeviceRegistry, Depends(_registry)]
REGISTRATION_ERRORS: dict[int | str, dict[str, Any]] = {
    400: problem("Wrong registration code."),
    404: problem("No such unit (of this company)."),
    409: problem("Already registered or shipped."),
    422: problem("Malformed identifier or fields."),
    429: problem("Too many failed attempts."),
}


def _refused(exc: RegistryError | InvalidIdentifier) -> HTTPException:
    if isinstance(exc, RegistryError):
        return HTTPException(exc.status_code, exc.message)
    return HTTPException(422, str(exc))


@router.get("/units", response_model=list[UnitOut], tags=["units"])
async def list_units(principal: CurrentPrincipal, registry: Registry) -> list[dict[str, Any]]:
    """The caller's company's units with their status and last-seen time."""
    return [public_unit(d) for d in await registry.list_units(principal.company_id)]


@router.get("/units/summary", response_model=UnitSummary, tags=["units"])
async def units_summary(principal: CurrentPrincipal, registry: Registry) -> dict[str, int]:
    """Counts for the dashboard; 【重要】 shows while ``unregistered`` > 0."""
    return await registry.summary(principal.company_id)


@router.get(
    "/units/{unit_id}",
    response_model=UnitOut,
    tags=["units"],
    responses={404: problem("No such unit of this company.")},
)
async def get_unit(principal: CurrentPrincipal, registry: Registry, unit_id: str) -> dict[str, Any]:
    """One unit of the caller's company; any other unit is not found."""
    try:
        return public_unit(await registry.get_unit(principal.company_id, unit_id))
    except RegistryError as exc:
        raise _refused(exc) from exc


@router.post(
    "/units/register",
    response_model=UnitOut,
    tags=["units"],
    responses=REGISTRATION_ERRORS,
)
async def register_unit(
    principal: CurrentPrincipal, registry: Registry, body: RegistrationIn
) -> dict[str, Any]:
    """Register an installed unit by MAC address or serial number and its registration code.

    404 for a unit that is not the caller's company's (or does not exist), 400 for a wrong code, 409 when
    already registered, 429 after too many failures.
    """
    try:
        doc = await registry.register(
            principal.company_id,
            identifier=body.identifier,
            registration_code=body.registration_code,
            name=body.name,
        )
    except (RegistryError, InvalidIdentifier) as exc:
        raise _refused(exc) from exc
    return public_unit(doc)


@router.get("/operator/units", response_model=list[OperatorUnitOut], tags=["operator"])
async def operator_units(
    _: CurrentOperator, registry: Registry, company_id: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Units of every company (or one), for the shipment page."""
    docs = await registry.list_for_operator(company_id=company_id, status=status)
    return [_operator_unit(d) for d in docs]


@router.post(
    "/operator/units/{unit_id}/shipment",
    response_model=OperatorUnitOut,
    tags=["operator"],
    responses=REGISTRATION_ERRORS,
)
async def record_shipment(
    _: CurrentOperator, registry: Registry, unit_id: str, body: ShipmentIn
) -> dict[str, Any]:
    """Record the serial number, MAC address and registration code of a posted unit."""
    try:
        doc = await registry.record_shipment(
            unit_id,
            serial_number=body.serial_number,
            mac_address=body.mac_address,
            registration_code=body.registration_code,
        )
    except (RegistryError, InvalidIdentifier) as exc:
        raise _refused(exc) from exc
    return _operator_unit(doc)


def _operator_unit(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        **public_unit(doc),
        "company_id": doc["company_id"],
        "company_name": doc.get("company_name", ""),
        "application_number": doc.get("application_number", ""),
    }
