"""Palo Alto Networks PAN-OS 10 / 11 syslog in the default CSV format, read by field position.

Positions as documented in "Syslog Field Descriptions" (0-based here; the documentation counts the
same list): every log starts ``FUTURE_USE, Receive Time, Serial Number, Type, Threat/Content Type
(subtype), FUTURE_USE, Generated Time``; THREAT and TRAFFIC then continue ``Source Address,
Destination Address, NAT Source IP, NAT Destination IP, Rule Name, Source User, Destination User,
Application, Virtual System, …, Action (30)``; THREAT has ``URL/Filename (31), Threat ID (32),
Category (33), Severity (34), Direction (35)`` and ``Device Name (59)``; SYSTEM has ``Virtual System
(7), Event ID (8), Object (9), Module (12), Severity (13), Description (14)`` and ``Device Name (22)``.
Times are the firewall's local time (JST unless told otherwise).
"""

import csv
import re

from alert_pipeline.decoders.base import (
    DEFAULT_DEVICE_TZ,
    DecodeError,
    NeutralEvent,
    bounded_fields,
    event_key_of,
    local_time,
)

VENDOR = "paloalto"
FORMAT = "panos-csv"

_START = re.compile(r"[^,]*,\d{4}/\d\d/\d\d \d\d:\d\d:\d\d,[^,]*,(?:THREAT|TRAFFIC|SYSTEM|[A-Z]+),")
# Minimum field counts: up to Severity/Direction for THREAT, Action for TRAFFIC, Description for SYSTEM.
_MIN_FIELDS = {"threat": 35, "traffic": 31, "system": 15}
_THREAT_NAMES = (
    (7, "src"), (8, "dst"), (11, "rule"), (12, "srcuser"), (13, "dstuser"), (14, "app"), (15, "vsys"),
    (16, "from"), (17, "to"), (22, "sessionid"), (24, "sport"), (25, "dport"), (29, "proto"),
    (30, "action"), (31, "misc"), (32, "threatid"), (33, "category"), (34, "severity"),
    (35, "direction"), (47, "filetype"), (50, "sender"), (51, "subject"), (52, "recipient"),
    (59, "device_name"), (69, "thr_category"),
)  # fmt: skip
_TRAFFIC_NAMES = (
    (7, "src"), (8, "dst"), (11, "rule"), (12, "srcuser"), (13, "dstuser"), (14, "app"), (15, "vsys"),
    (16, "from"), (17, "to"), (22, "sessionid"), (24, "sport"), (25, "dport"), (29, "proto"),
    (30, "action"), (31, "bytes"), (37, "category"), (46, "session_end_reason"), (59, "device_name"),
)  # fmt: skip
_SYSTEM_NAMES = (
    (7, "vsys"), (8, "eventid"), (9, "object"), (12, "module"), (13, "severity"), (14, "opaque"),
    (22, "device_name"),
)  # fmt: skip


def looks_like(body: str) -> bool:
    """Whether a message body is a PAN-OS CSV log."""
    # The first field (FUTURE_USE) is short: no need to look for its comma further.
    comma = body.find(",", 0, 16)
    return comma >= 0 and _START.match(body) is not None


def decode(body: str, *, sender: str, hostname: str) -> NeutralEvent:
    """The neutral event of a PAN-OS CSV log."""
    if "\x00" in body:
        raise DecodeError("NUL byte in a CSV log")
    try:
        row = next(csv.reader([body], strict=True))
    except (csv.Error, StopIteration) as exc:
        raise DecodeError(f"malformed CSV: {exc}") from exc
    log_type = row[3].lower() if len(row) > 3 else ""
    minimum = _MIN_FIELDS.get(log_type)
    if minimum is None:
        raise DecodeError(f"unsupported PAN-OS log type {log_type[:32]!r}")
    if len(row) < minimum:
        raise DecodeError(f"{log_type.upper()} log with {len(row)} fields, at least {minimum} expected")
    names = {"threat": _THREAT_NAMES, "traffic": _TRAFFIC_NAMES, "system": _SYSTEM_NAMES}[log_type]
    fields = {"receive_time": row[1], "serial": row[2], "type": row[3], "subtype": row[4]}
    fields["time_generated"] = row[6]
    fields.update((name, row[pos]) for pos, name in names if pos < len(row))
    serial = row[2]
    device_name = fields.get("device_name", "") or hostname
    if not (serial or device_name or sender):
        raise DecodeError("no unit identity (serial, device name or sending host)")
    generated = row[6] or row[1]
    event = NeutralEvent(
        vendor=VENDOR,
        format=FORMAT,
        occurred_at=local_time(generated[:10], generated[11:], DEFAULT_DEVICE_TZ, "generated time"),
        kind=log_type,
        subtype=row[4].lower(),
        serial=serial,
        device_name=device_name,
        sender=sender,
        action=fields.get("action", "").lower(),
        level=fields.get("severity", "").lower(),
        src_ip=fields.get("src", ""),
        dst_ip=fields.get("dst", ""),
        user=fields.get("srcuser", ""),
        event_key=event_key_of(body),
        fields=bounded_fields(fields),
    )
    if log_type == "threat":
        threat = fields.get("threatid", "")
        event.signature = threat
        event.group = fields.get("category", "")
        if event.subtype == "url":
            event.url = fields.get("misc", "")
            event.signature = fields.get("category", "")
        elif event.subtype in ("wildfire", "wildfire-virus", "file", "virus"):
            event.url = fields.get("misc", "")
        event.message = threat
    elif log_type == "traffic":
        event.signature = fields.get("app", "")
        event.group = fields.get("category", "")
    else:
        event.signature = fields.get("eventid", "")
        event.group = fields.get("module", "")
        event.message = fields.get("opaque", "")
    return event
