"""Fortinet FortiGate (FortiOS 7.x) ``key=value`` log lines, field names of the FortiOS log reference.

Log types: ``traffic`` (forward/local/…; with ``utmaction``, ``app``/``appcat`` and the client
reputation ``crscore``/``crlevel``), ``utm`` with subtypes ``webfilter``, ``virus`` (including sandbox
submissions and FortiSandbox verdicts), ``ips``, ``anomaly``, ``app-ctrl``, ``dns``, ``dlp``,
``emailfilter``, ``ssl``, ``waf`` and ``file-filter``, the older ``type=anomaly``, and ``event``.

The unit is ``devid``; a line without it (Fortinet's documentation prints such lines) is tied to its
unit by ``devname`` or by the sending host. The time is ``eventtime`` (s/ms/µs/ns since the epoch),
else ``date`` + ``time`` in ``tz`` (the unit's local time; JST when the line has no ``tz``).
"""

from datetime import datetime

from alert_pipeline.decoders.base import (
    DEFAULT_DEVICE_TZ,
    DecodeError,
    NeutralEvent,
    bounded_fields,
    event_key_of,
    from_epoch,
    local_time,
    offset_zone,
)

VENDOR = "fortinet"
FORMAT = "fortigate-kv"

# Subtypes whose ``severity`` field (the signature's own rating) tells more than the log level.
_SEVERITY_RATED = frozenset({"ips", "anomaly", "waf", "dlp"})
_FORTIGATE_MARKS = frozenset({"devid", "devname", "logid", "subtype", "vd", "eventtime"})
_SOPHOS_MARKS = frozenset({"log_type", "device_id", "device_serial_id"})
_BLOCKING_UTM = frozenset({"block", "blocked", "reset", "deny"})


def looks_like(fields: dict[str, str]) -> bool:
    """Whether a tokenized line is a FortiGate log line."""
    return (
        "type" in fields
        and not _SOPHOS_MARKS.intersection(fields)
        and bool(_FORTIGATE_MARKS.intersection(fields))
    )


def decode(fields: dict[str, str], text: str, *, sender: str, hostname: str) -> NeutralEvent:
    """The neutral event of a tokenized FortiGate line."""
    log_type = fields.get("type", "").lower()
    if not log_type:
        raise DecodeError("missing type")
    subtype = fields.get("subtype", "").lower()
    serial = fields.get("devid", "")
    device_name = fields.get("devname", "")
    if not (serial or device_name or sender or hostname):
        raise DecodeError("no unit identity (devid, devname or sending host)")
    event = NeutralEvent(
        vendor=VENDOR,
        format=FORMAT,
        occurred_at=_time(fields),
        kind=log_type,
        subtype=subtype,
        serial=serial,
        device_name=device_name or hostname,
        sender=sender,
        action=fields.get("action", "").lower(),
        level=fields.get("level", "").lower(),
        src_ip=fields.get("srcip", ""),
        dst_ip=fields.get("dstip", ""),
        user=fields.get("user", "") or fields.get("unauthuser", ""),
        message=fields.get("msg", "") or fields.get("logdesc", ""),
        event_key=event_key_of(text),
        fields=bounded_fields(fields, checked_keys=True),
    )
    hostname_f, url = fields.get("hostname", ""), fields.get("url", "")
    event.url = f"{hostname_f}{url}" if hostname_f and url.startswith("/") else (url or hostname_f)
    if log_type == "traffic":
        _traffic(event, fields)
    elif log_type == "anomaly" or subtype == "anomaly":
        event.kind, event.subtype = "utm", "anomaly"
        _utm(event, fields, "anomaly")
    elif log_type == "utm":
        if not subtype:
            raise DecodeError("utm log without subtype")
        _utm(event, fields, subtype)
    elif log_type == "event":
        event.signature = fields.get("logdesc", "")
        event.group = subtype
    else:
        event.signature = fields.get("logdesc", "") or fields.get("attack", "")
    return event


def _traffic(event: NeutralEvent, fields: dict[str, str]) -> None:
    utm_action = fields.get("utmaction", "").lower()
    if utm_action in _BLOCKING_UTM:
        # The session was accepted by the policy and then stopped by a security profile.
        event.action = utm_action
    event.signature = fields.get("app", "")
    event.group = fields.get("appcat", "")
    # The client-reputation level (threat weight) rates the session better than the log level.
    event.level = fields.get("crlevel", "").lower() or event.level


def _utm(event: NeutralEvent, fields: dict[str, str], subtype: str) -> None:
    get = fields.get
    if subtype in _SEVERITY_RATED:
        event.level = get("severity", "").lower() or event.level
    if subtype == "webfilter":
        event.signature = get("catdesc", "") or event.url
        event.group = get("catdesc", "")
    elif subtype == "virus":
        event.signature = get("virus", "") or get("filename", "")
        verdict = get("fsaverdict", "")
        event.group = verdict or get("dtype", "") or get("eventtype", "")
        if get("eventtype", "").lower() == "analytics" or event.action == "analytics":
            event.subtype = "sandbox"
            event.group = verdict.lower()
    elif subtype in ("ips", "anomaly"):
        event.signature = get("attack", "")
        event.group = get("ref", "") or get("eventtype", "")
    elif subtype == "app-ctrl":
        event.signature = get("app", "")
        event.group = get("appcat", "")
        event.level = get("apprisk", "").lower() or event.level
    elif subtype == "dns":
        botnet = get("botnetdomain", "") or get("botnetip", "")
        event.signature = botnet or get("qname", "")
        event.group = "Botnet C&C" if botnet else get("catdesc", "")
        event.url = event.url or get("qname", "")
    elif subtype == "dlp":
        event.signature = get("filtertype", "") or get("sensor", "")
        event.group = get("dlpextra", "") or get("filtercat", "") or get("filtername", "")
    elif subtype == "emailfilter":
        event.signature = get("subject", "")
        event.group = get("eventtype", "")
        event.user = event.user or get("from", "") or get("sender", "")
    elif subtype == "ssl":
        event.signature = get("eventtype", "")
        event.group = get("reason", "") or get("certdesc", "") or get("eventtype", "")
        event.url = event.url or get("hostname", "")
    elif subtype == "waf":
        event.signature = get("name", "") or get("eventtype", "")
        event.group = get("eventtype", "")
    elif subtype == "file-filter":
        event.signature = get("filename", "")
        event.group = get("filetype", "")
    else:
        event.signature = get("attack", "") or get("virus", "") or get("eventtype", "")
        event.group = get("catdesc", "")


def _time(fields: dict[str, str]) -> datetime:
    eventtime = fields.get("eventtime")
    if eventtime:
        return from_epoch(eventtime, "eventtime")
    date, time = fields.get("date"), fields.get("time")
    if not date or not time:
        raise DecodeError("missing date/time")
    tz = fields.get("tz")
    return local_time(date, time, offset_zone(tz) if tz else DEFAULT_DEVICE_TZ)
