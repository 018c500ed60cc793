"""Sophos Firewall (SFOS / XG / XGS) ``key=value`` syslog lines, as in Sophos' syslog field descriptions.

Identity: ``device_id`` (SFOS 17–18) or ``device_serial_id`` (SFOS 19+), ``device_name``. Type:
``log_type`` (Firewall, IPS, Anti-Virus, Content Filtering, ATP, Sandbox/Sandstorm, Anti-Spam, WAF,
SSL/TLS, Event…), ``log_component`` and ``log_subtype`` (Allowed, Denied, Detect, Drop, Virus,
Alert…). Level: ``priority`` (older) or ``severity`` (newer), Emergency…Debug. Time: ``date`` +
``time`` in the named ``timezone`` (``JST``, ``IST``, ``Asia/Tokyo``…), or the ``timestamp`` with its
offset written by SFOS 19+.
"""

from datetime import datetime

from alert_pipeline.decoders.base import (
    DEFAULT_DEVICE_TZ,
    DecodeError,
    NeutralEvent,
    bounded_fields,
    event_key_of,
    in_range,
    local_time,
    named_zone,
)

VENDOR = "sophos"
FORMAT = "sophos-kv"


def looks_like(fields: dict[str, str]) -> bool:
    """Whether a tokenized line is a Sophos Firewall log line."""
    return "log_type" in fields and (
        "device_id" in fields or "device_serial_id" in fields or "log_id" in fields
    )


# SFOS names its intrusion-prevention logs "IDP" in syslog and "IPS" on its console.
_LOG_TYPE_ALIASES = {"idp": "ips", "intrusion prevention": "ips"}


def decode(fields: dict[str, str], text: str, *, sender: str, hostname: str) -> NeutralEvent:
    """The neutral event of a tokenized Sophos line."""
    get = fields.get
    log_type = get("log_type", "").lower()
    log_type = _LOG_TYPE_ALIASES.get(log_type, log_type)
    if not log_type:
        raise DecodeError("missing log_type")
    serial = get("device_serial_id", "") or get("device_id", "")
    device_name = get("device_name", "") or hostname
    if not (serial or device_name or sender):
        raise DecodeError("no unit identity (device_id, device_name or sending host)")
    component = get("log_component", "").lower()
    subtype = get("log_subtype", "").lower()
    event = NeutralEvent(
        vendor=VENDOR,
        format=FORMAT,
        occurred_at=_time(fields),
        kind=log_type,
        subtype=subtype,
        serial=serial,
        device_name=device_name,
        sender=sender,
        action=(get("status", "") or get("action", "") or subtype).lower(),
        level=(get("priority", "") or get("severity", "")).lower(),
        src_ip=get("src_ip", ""),
        dst_ip=get("dst_ip", ""),
        url=get("url", "") or get("domain", "") or get("dst_domain", ""),
        user=get("user_name", "") or get("user", ""),
        message=get("message", ""),
        event_key=event_key_of(text),
        fields=bounded_fields(fields, checked_keys=True),
    )
    if log_type == "ips":
        event.signature = get("signature_msg", "") or get("signature_id", "")
        event.group = get("classification", "") or component
        event.level = _IPS_PRIORITY.get(get("rule_priority", ""), event.level)
    elif log_type == "anti-virus":
        event.signature = get("virus", "") or get("malware", "")
        event.group = component
    elif log_type in ("content filtering", "web filter", "application filter"):
        event.signature = get("application", "") or get("category", "")
        event.group = get("application_category", "") or get("category", "") or component
        if component == "application" or get("application", ""):
            event.subtype = f"application {subtype}".strip()
    elif log_type == "atp":
        event.signature = get("threatname", "") or get("malware", "")
        event.group = get("eventtype", "") or component
    elif log_type in ("sandbox", "sandstorm"):
        event.signature = get("filename", "") or get("file_name", "")
        event.group = subtype
    elif log_type == "anti-spam":
        event.signature = get("subject", "") or get("email_subject", "")
        event.group = component
        event.user = event.user or get("from_email_address", "") or get("sender", "")
    elif log_type == "waf":
        event.signature = get("reason", "") or get("message", "")
        event.group = component
    else:
        event.signature = get("message", "") or get("log_id", "")
        event.group = component
    return event


# IPS rule priority: 1 = high … 4 = very low.
_IPS_PRIORITY = {"1": "high", "2": "medium", "3": "low", "4": "low"}


def _time(fields: dict[str, str]) -> datetime:
    stamp = fields.get("timestamp")
    if stamp:
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError as exc:
            raise DecodeError("invalid timestamp") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=DEFAULT_DEVICE_TZ)
        return in_range(moment, "timestamp")
    date, time = fields.get("date"), fields.get("time")
    if not date or not time:
        raise DecodeError("missing date/time")
    return local_time(date, time, named_zone(fields.get("timezone", "")))
