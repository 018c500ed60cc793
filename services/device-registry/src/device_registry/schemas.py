"""HTTP bodies of the device-registry API."""

from datetime import datetime

from pydantic import BaseModel, Field


class ShipmentIn(BaseModel):
    """What the operator records for a posted unit."""

    serial_number: str = Field(max_length=64, examples=["FGT60FTK2109ABCD"])
    mac_address: str = Field(max_length=32, examples=["00:09:0F:AA:BB:CC"])
    registration_code: str = Field(
        max_length=64, description="Printed on the unit.", examples=["7K2M-9QXD-4ABF"]
    )


class RegistrationIn(BaseModel):
    """What the customer types to register an installed unit."""

    identifier: str = Field(max_length=64, description="MAC address or serial number.")
    registration_code: str = Field(max_length=64)
    name: str = Field(default="", max_length=60, description="Display name, e.g. 本社 UTM-1.")


class UnitOut(BaseModel):
    """A unit as its company sees it."""

    unit_id: str
    name: str
    destination_id: str
    destination_label: str
    status: str = Field(description="expected, shipped or registered.")
    connection: str = Field(description="online, offline or unknown for registered units.")
    serial_number: str | None
    mac_address: str | None
    shipped_at: datetime | None
    registered_at: datetime | None
    last_seen_at: datetime | None


class OperatorUnitOut(UnitOut):
    """A unit on the operator's shipment page."""

    company_id: str
    company_name: str
    application_number: str


class UnitSummary(BaseModel):
    """Counts for the dashboard (contract with the gateway)."""

    expected: int
    shipped: int
    registered: int
    unregistered: int
    online: int
    offline: int
