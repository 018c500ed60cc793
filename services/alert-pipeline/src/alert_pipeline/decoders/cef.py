"""ArcSight Common Event Format (CEF), any vendor.

``CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|Extension``.
In the header a pipe and a backslash are escaped (``\\|``, ``\\\\``). The extension is ``key=value``
pairs separated by spaces; a value may hold spaces and ends where the next ``key=`` begins; in it an
equal sign and a backslash are escaped (``\\=``, ``\\\\``) and ``\\n`` / ``\\r`` are line breaks.
Duplicate extension keys: the first occurrence wins, as for every ``key=value`` format.

Severity is 0–10 or a word (Unknown, Low, Medium, High, Very-High); it is kept as the level word:
0–3 low, 4–6 medium, 7–8 high, 9–10 very-high. The unit is ``deviceExternalId`` (else ``dvchost``,
``dvc`` or the sending host); the time is ``rt`` (epoch milliseconds or ``MMM dd yyyy HH:mm:ss``),
else ``end``/``start``, else the time of the syslog header or of the collector's reception.
"""

import re
from datetime import datetime

from alert_pipeline.decoders.base import (
    DEFAULT_DEVICE_TZ,
    DecodeError,
    NeutralEvent,
    bounded_fields,
    event_key_of,
    from_epoch,
    in_range,
    named_zone,
)

VENDOR = "cef"
FORMAT = "cef"

_HEADER_FIELD = re.compile(r"((?:[^|\\]|\\.)*)\|", re.DOTALL)
_EXT_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z0-9_.\[\]-]{1,64})=")
_EXT_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_EXT_UNESCAPE = {"n": "\n", "r": "\r"}
_WORD_LEVELS = frozenset({"unknown", "low", "medium", "high", "very-high"})
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def looks_like(body: str) -> bool:
    """Whether a message body is a CEF record."""
    return body.startswith("CEF:")


def decode(body: str, *, sender: str, hostname: str, fallback_time: datetime | None = None) -> NeutralEvent:
    """The neutral event of a CEF record."""
    head = body[4:].split("|", 7)
    if len(head) == 8 and "\\" not in body[: len(body) - len(head[7])]:
        header, rest = head[:7], head[7]
    else:
        header, rest = _escaped_header(body)
    version, dev_vendor, product, dev_version, class_id, name, severity = header
    if version not in ("0", "1"):
        raise DecodeError(f"unsupported CEF version {version[:8]!r}")
    ext = extension(rest)
    serial = ext.get("deviceExternalId", "")
    device_name = ext.get("dvchost", "") or hostname or ext.get("dvc", "")
    if not (serial or device_name or sender):
        raise DecodeError("no unit identity (deviceExternalId, dvchost or sending host)")
    fields = {"deviceVendor": dev_vendor, "deviceProduct": product, "deviceVersion": dev_version}
    fields.update(signatureId=class_id, name=name, severity=severity)
    for key, value in ext.items():
        fields.setdefault(key, value)
    category = ext.get("cat", "")
    return NeutralEvent(
        vendor=VENDOR,
        format=FORMAT,
        occurred_at=_time(ext, fallback_time),
        kind=category.lower(),
        subtype=class_id.lower()[:128],
        serial=serial,
        device_name=device_name,
        sender=sender,
        action=(ext.get("act", "") or ext.get("outcome", "")).lower(),
        level=_level(severity),
        signature=name,
        group=category,
        src_ip=ext.get("src", "") or ext.get("c6a2", ""),
        dst_ip=ext.get("dst", "") or ext.get("c6a3", ""),
        url=ext.get("request", "") or ext.get("dhost", ""),
        user=ext.get("suser", "") or ext.get("duser", ""),
        message=ext.get("msg", ""),
        event_key=event_key_of(body),
        fields=bounded_fields(fields),
    )


def _escaped_header(body: str) -> tuple[list[str], str]:
    """The seven header fields (escapes resolved) and the extension, for a header with backslashes."""
    header: list[str] = []
    pos = 4
    while len(header) < 7:
        match = _HEADER_FIELD.match(body, pos)
        if match is None:
            raise DecodeError(f"CEF header with {len(header) + 1} fields, 8 expected")
        header.append(_EXT_ESCAPE.sub(r"\1", match.group(1)))
        pos = match.end()
    return header, body[pos:]


def extension(text: str) -> dict[str, str]:
    """The pairs of a CEF extension; the first occurrence of a key wins."""
    # A key is preceded by white space (or starts the text) and made of key characters only, so an
    # escaped equal sign ("\\=") can never end one.
    keys = list(_EXT_KEY.finditer(text))
    if text.strip() and (not keys or text[: keys[0].start()].strip()):
        raise DecodeError("CEF extension does not start with key=value")
    pairs: dict[str, str] = {}
    for i, match in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(text)
        key = match.group(1)
        if key in pairs:
            continue
        value = text[match.end() : end].rstrip(" ")
        if "\\" in value:
            value = _EXT_ESCAPE.sub(lambda m: _EXT_UNESCAPE.get(m.group(1), m.group(1)), value)
        pairs[key] = value
    return pairs


def _level(severity: str) -> str:
    word = severity.strip().lower()
    if word in _WORD_LEVELS:
        return word
    if not word.isdigit() or int(word) > 10:
        raise DecodeError(f"invalid CEF severity {severity[:16]!r}")
    number = int(word)
    return "low" if number <= 3 else "medium" if number <= 6 else "high" if number <= 8 else "very-high"


def _time(ext: dict[str, str], fallback: datetime | None) -> datetime:
    for key in ("rt", "end", "start"):
        value = ext.get(key, "").strip()
        if value:
            return _cef_time(value, ext.get("dtz", ""), key)
    if fallback is None:
        raise DecodeError("no event time (rt, end, start or a syslog time)")
    return fallback


def _cef_time(value: str, dtz: str, key: str) -> datetime:
    if value.isdigit():
        return from_epoch(value, key)
    # MMM dd yyyy HH:mm:ss[.SSS][ zzz]
    parts = value.split(" ")
    if len(parts) < 4 or parts[0].lower() not in _MONTHS:
        raise DecodeError(f"invalid {key}")
    zone = named_zone(parts[4]) if len(parts) > 4 else (named_zone(dtz) if dtz else DEFAULT_DEVICE_TZ)
    try:
        clock = datetime.strptime(parts[3][:8], "%H:%M:%S")
        moment = datetime(int(parts[2]), _MONTHS[parts[0].lower()], int(parts[1]), clock.hour,
                          clock.minute, clock.second, tzinfo=zone)  # fmt: skip
    except ValueError as exc:
        raise DecodeError(f"invalid {key}") from exc
    return in_range(moment, key)
