"""Parsing of raw UTM records: the project's JSON ``UtmEvent`` and FortiGate ``key=value`` syslog lines.

This is the hot path of the pipeline: most records are benign traffic that is only counted, so the
parser extracts the few fields it needs with plain string searches and builds the full field map only
for threats. Field names follow Fortinet's FortiOS log reference (``devid``, ``type``, ``subtype``,
``level``, ``action``, ``srcip``, ``dstip``, ``hostname``, ``url``, ``catdesc``, ``virus``, ``attack``,
``app``, ``appcat``, ``msg``, ...).
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

JSON_FORMAT = "watch.utm-event"
JSON_KINDS = frozenset({"heartbeat", "traffic", "webfilter", "virus", "ips", "app-ctrl", "botnet"})
BENIGN_KINDS = frozenset({"traffic", "heartbeat"})

# FortiGate date/time fields are the unit's local time; units in the field are set to JST unless the
# line carries its own ``tz``.
DEFAULT_DEVICE_TZ = timezone(timedelta(hours=9))

_KV = re.compile(r'([A-Za-z_][\w-]*)=("(?:[^"\\]|\\.)*"|[^\s]*)')
_SYSLOG_PRI = re.compile(r"^<\d{1,3}>")
# The syslog collector's envelope (deploy/rsyslog/collector.conf) and the headers of the message in it.
SYSLOG_ENVELOPE_PREFIX = '{"v":1,"src":"syslog"'
_RFC5424_HEADER = re.compile(
    r'^<\d{1,3}>1 \S+ \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\])+)(?: |$)(?:\ufeff)?'
)
_RFC3164_HEADER = re.compile(
    r"^<\d{1,3}>(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) \S+ "
    r"(?:[^\s:\[=]+(?:\[\d+\])?: )?"
)


class ParseError(ValueError):
    """A record that is not a valid UTM event; the reason says why."""


@dataclass(slots=True)
class ParsedEvent:
    """One UTM record reduced to what the pipeline needs."""

    serial_number: str
    occurred_at: datetime
    kind: str
    event_key: str = ""
    action: str = ""
    level: str = ""
    signature: str = ""
    group: str = ""
    src_ip: str = ""
    dst_ip: str = ""
    url: str = ""
    message: str = ""
    source_format: str = "json"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_threat(self) -> bool:
        return self.kind not in BENIGN_KINDS


def parse_record(raw: bytes) -> ParsedEvent:
    """Parse one raw record from the ``utm-events`` topic or raise ``ParseError``."""
    if not raw:
        raise ParseError("empty record")
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        # The collector forwards a sender's bytes as they came: replaced inside the envelope.
        if not raw.startswith(SYSLOG_ENVELOPE_PREFIX.encode()):
            raise ParseError(f"not UTF-8: {exc}") from exc
        text = raw.decode(errors="replace")
    text = text.strip()
    if text.startswith(SYSLOG_ENVELOPE_PREFIX):
        return parse_syslog_envelope(text)
    if text.startswith(("{", "[")):
        return parse_json(text)
    return parse_fortigate(text, raw)


def parse_syslog_envelope(text: str) -> ParsedEvent:
    """Unwrap the collector's envelope: the syslog message without its RFC 5424/3164 header."""
    try:
        envelope = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"invalid syslog envelope: {exc}") from exc
    message = envelope.get("msg") if isinstance(envelope, dict) else None
    if not isinstance(message, str):
        raise ParseError("syslog envelope without msg")
    header = _RFC5424_HEADER.match(message) or _RFC3164_HEADER.match(message)
    body = (message[header.end() :] if header else message).strip()
    if not body:
        raise ParseError("empty syslog message")
    if body.startswith("{"):
        return parse_json(body)
    return parse_fortigate(body, body.encode())


# --- project JSON -----------------------------------------------------------------------------


def parse_json(text: str) -> ParsedEvent:
    """Parse the project's own JSON ``UtmEvent`` (version 1) without building a pydantic model."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ParseError("JSON record is not an object")
    if data.get("format", JSON_FORMAT) != JSON_FORMAT:
        raise ParseError(f"unknown format {data.get('format')!r}")
    if data.get("version", 1) != 1:
        raise ParseError(f"unsupported version {data.get('version')!r}")
    serial = data.get("serial_number")
    event_id = data.get("event_id")
    kind = data.get("kind")
    if not isinstance(serial, str) or not serial:
        raise ParseError("missing serial_number")
    if not isinstance(event_id, str) or not event_id:
        raise ParseError("missing event_id")
    if kind not in JSON_KINDS:
        raise ParseError(f"unknown kind {kind!r}")
    occurred_at = _iso_time(data.get("occurred_at"))
    event = ParsedEvent(serial_number=serial, occurred_at=occurred_at, kind=kind, event_key=event_id)
    if kind in BENIGN_KINDS:
        return event
    details = data.get("details") or {}
    if not isinstance(details, dict):
        raise ParseError("details is not an object")
    event.action = _text(data, "action")
    event.level = _text(data, "level")
    event.signature = _text(data, "signature")
    event.group = str(details.get("group", "") or "")
    event.src_ip = _text(data, "src_ip")
    event.dst_ip = _text(data, "dst_ip")
    event.url = _text(data, "url")
    event.message = str(details.get("msg", "") or "")
    event.details = details
    return event


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError(f"{key} is not a string")
    return value


def _iso_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ParseError("missing occurred_at")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ParseError(f"invalid occurred_at {value!r}") from exc
    if parsed.tzinfo is None:
        raise ParseError("occurred_at has no time zone")
    return parsed.astimezone(UTC)


# --- FortiGate key=value ----------------------------------------------------------------------


def _find(line: str, key: str) -> str | None:
    """The value of ``key`` in a key=value line, or None; quotes removed."""
    token = key + "="
    start = 0
    while True:
        pos = line.find(token, start)
        if pos < 0:
            return None
        if pos == 0 or line[pos - 1] in " >":
            break
        start = pos + 1
    pos += len(token)
    if pos < len(line) and line[pos] == '"':
        end = line.find('"', pos + 1)
        while end > 0 and line[end - 1] == "\\":
            end = line.find('"', end + 1)
        if end < 0:
            raise ParseError(f"unterminated quoted value of {key}")
        return line[pos + 1 : end]
    end = line.find(" ", pos)
    return line[pos:] if end < 0 else line[pos:end]


def fortigate_fields(line: str) -> dict[str, str]:
    """Every ``key=value`` pair of a FortiGate log line (quoted values unescaped)."""
    line = _SYSLOG_PRI.sub("", line, count=1)
    fields: dict[str, str] = {}
    for key, value in _KV.findall(line):
        if value.startswith('"'):
            if len(value) < 2 or not value.endswith('"'):
                raise ParseError(f"unterminated quoted value of {key}")
            value = value[1:-1].replace('\\"', '"')
        fields[key] = value
    return fields


def parse_fortigate(line: str, raw: bytes) -> ParsedEvent:
    """Parse a FortiGate-style syslog line (FortiOS log reference field names)."""
    if "=" not in line:
        raise ParseError("neither JSON nor key=value")
    log_type = _find(line, "type")
    serial = _find(line, "devid")
    if not log_type:
        raise ParseError("missing type")
    if not serial:
        raise ParseError("missing devid")
    if log_type == "traffic":
        return ParsedEvent(
            serial_number=serial,
            occurred_at=_fortigate_time(line),
            kind="traffic",
            source_format="fortigate",
        )
    fields = fortigate_fields(line)
    occurred_at = _fortigate_time(line)
    event_key = hashlib.sha256(raw.strip()).hexdigest()[:32]
    if log_type == "event":
        return ParsedEvent(
            serial_number=serial,
            occurred_at=occurred_at,
            kind="heartbeat",
            event_key=event_key,
            source_format="fortigate",
        )
    if log_type != "utm":
        raise ParseError(f"unsupported type {log_type!r}")
    subtype = fields.get("subtype", "")
    if not subtype:
        raise ParseError("utm log without subtype")
    event = ParsedEvent(
        serial_number=serial,
        occurred_at=occurred_at,
        kind=subtype,
        event_key=event_key,
        action=fields.get("action", ""),
        level=fields.get("level", ""),
        src_ip=fields.get("srcip", ""),
        dst_ip=fields.get("dstip", ""),
        message=fields.get("msg", ""),
        source_format="fortigate",
        details={k: v for k, v in fields.items() if k in _KEPT_DETAILS},
    )
    hostname, url = fields.get("hostname", ""), fields.get("url", "")
    event.url = f"{hostname}{url}" if hostname and url.startswith("/") else (url or hostname)
    if subtype == "webfilter":
        event.signature = fields.get("catdesc", "") or event.url
        event.group = fields.get("catdesc", "")
    elif subtype == "virus":
        event.signature = fields.get("virus", "")
        event.group = fields.get("dtype", "") or fields.get("eventtype", "")
    elif subtype in ("ips", "anomaly"):
        event.signature = fields.get("attack", "")
        event.group = fields.get("ref", "")
        # IPS logs carry the signature's own severity next to the log level; it is the better guide.
        event.level = fields.get("severity", "") or event.level
    elif subtype == "app-ctrl":
        event.signature = fields.get("app", "")
        event.group = fields.get("appcat", "")
    elif subtype == "dns":
        event.signature = fields.get("botnetdomain", "") or fields.get("qname", "")
        event.group = fields.get("catdesc", "") or ("Botnet" if fields.get("botnetdomain") else "")
        event.url = event.url or fields.get("qname", "")
    else:
        event.signature = fields.get("attack", "") or fields.get("virus", "") or fields.get("msg", "")
        event.group = fields.get("catdesc", "")
    return event


_KEPT_DETAILS = frozenset(
    {
        "logid",
        "devname",
        "vd",
        "policyid",
        "srcport",
        "dstport",
        "proto",
        "service",
        "direction",
        "profile",
        "attackid",
        "virusid",
        "filename",
        "appid",
        "appcat",
        "catdesc",
        "cat",
        "qname",
        "botnetdomain",
        "eventtype",
        "ref",
        "severity",
    }
)

_tz_cache: dict[str, timezone] = {}


def _fortigate_time(line: str) -> datetime:
    eventtime = _find(line, "eventtime")
    if eventtime:
        try:
            value = int(eventtime)
        except ValueError as exc:
            raise ParseError(f"invalid eventtime {eventtime!r}") from exc
        # FortiOS writes seconds in older releases and nanoseconds since 6.2.
        for scale in (1, 1_000, 1_000_000, 1_000_000_000):
            if value < 10**11 * scale:
                return datetime.fromtimestamp(value / scale, UTC)
        raise ParseError(f"invalid eventtime {eventtime!r}")
    date, time = _find(line, "date"), _find(line, "time")
    if not date or not time:
        raise ParseError("missing date/time")
    tz = _find(line, "tz")
    try:
        local = datetime.fromisoformat(f"{date}T{time}")
    except ValueError as exc:
        raise ParseError(f"invalid date/time {date!r} {time!r}") from exc
    return local.replace(tzinfo=_timezone(tz)).astimezone(UTC)


def _timezone(tz: str | None) -> timezone:
    if not tz:
        return DEFAULT_DEVICE_TZ
    cached = _tz_cache.get(tz)
    if cached is None:
        match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", tz)
        if not match:
            raise ParseError(f"invalid tz {tz!r}")
        sign = 1 if match.group(1) == "+" else -1
        cached = timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
        _tz_cache[tz] = cached
    return cached
