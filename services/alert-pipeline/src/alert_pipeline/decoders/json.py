"""The project's own JSON records (``shared.events.UtmEvent``, format ``watch.utm-event`` version 1).

Every field is type-checked here without building the pydantic model (this is the hot path): a value
of the wrong type is a DecodeError naming the field. ``details`` may only hold scalars (strings,
numbers, booleans, null); they are kept as strings.
"""

from datetime import datetime
from typing import Any

from alert_pipeline.decoders.base import (
    DecodeError,
    NeutralEvent,
    bounded_fields,
    in_range,
)

VENDOR = "watch"
FORMAT = "utm-event-json"
JSON_FORMAT = "watch.utm-event"
KINDS = frozenset({"heartbeat", "traffic", "webfilter", "virus", "ips", "app-ctrl", "botnet"})
_TEXT_FIELDS = ("action", "level", "signature", "src_ip", "dst_ip", "url")


def looks_like(data: dict[str, Any]) -> bool:
    """Whether a JSON object is a UtmEvent (rather than a collector envelope)."""
    return "serial_number" in data or data.get("format") == JSON_FORMAT


def decode(data: dict[str, Any], *, sender: str) -> NeutralEvent:
    """The neutral event of a UtmEvent JSON object."""
    fmt = data.get("format", JSON_FORMAT)
    if fmt != JSON_FORMAT:
        raise DecodeError("unknown format")
    version = data.get("version", 1)
    if type(version) is not int or version != 1:
        raise DecodeError("unsupported version")
    serial = _string(data, "serial_number", required=True)
    event_id = _string(data, "event_id", required=True)
    kind = _string(data, "kind", required=True)
    if kind not in KINDS:
        raise DecodeError("unknown kind")
    occurred = _string(data, "occurred_at", required=True)
    try:
        moment = datetime.fromisoformat(occurred)
    except ValueError as exc:
        raise DecodeError("invalid occurred_at") from exc
    if moment.tzinfo is None:
        raise DecodeError("occurred_at has no time zone")
    get = data.get
    texts: dict[str, str] = {}
    for key in _TEXT_FIELDS:
        value = get(key)
        if type(value) is not str:
            if value is not None:
                raise DecodeError(f"{key} is not a string")
            value = ""
        texts[key] = value
    details = get("details")
    if details is None:
        details = {}
    elif not isinstance(details, dict):
        raise DecodeError("details is not an object")
    fields: dict[str, str] = {}
    for key, value in details.items():
        if isinstance(value, bool) or value is None:
            fields[key] = "" if value is None else str(value).lower()
        elif isinstance(value, str):
            fields[key] = value
        elif isinstance(value, int | float):
            fields[key] = str(value) if abs(value) < 10**30 else "overflow"
        else:
            raise DecodeError(f"details.{str(key)[:32]} is not a scalar")
    return NeutralEvent(
        vendor=VENDOR,
        format=FORMAT,
        occurred_at=in_range(moment, "occurred_at"),
        kind=kind,
        serial=serial,
        sender=sender,
        action=texts["action"].lower(),
        level=texts["level"].lower(),
        signature=texts["signature"],
        group=fields.get("group", ""),
        src_ip=texts["src_ip"],
        dst_ip=texts["dst_ip"],
        url=texts["url"],
        user=fields.get("user", ""),
        message=fields.get("msg", ""),
        event_key=event_id,
        fields=bounded_fields(fields),
    )


def _string(data: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise DecodeError(f"missing {key}")
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{key} is not a string")
    if required and not value:
        raise DecodeError(f"missing {key}")
    return value
