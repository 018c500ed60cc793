"""The neutral event every decoder returns, the decoding error, and helpers shared by the decoders."""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Units in the field are set to Japan time unless a line says otherwise.
DEFAULT_DEVICE_TZ = timezone(timedelta(hours=9), "JST")
# A decoded time outside this range is a broken clock or a hostile record.
# A unit whose clock was reset reports 1970: decoded, and the ingest then keeps the broker's time.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# Bounds of the decoded-field map kept with an event.
MAX_FIELDS = 128
MAX_KEY = 64
MAX_VALUE = 2048

_KEY_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_KEYS_OK = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_-]{0,63}(?: |\Z))*+")


class DecodeError(ValueError):
    """A record no decoder understands; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class NeutralEvent:
    """One UTM log line of any vendor, reduced to the same fields.

    ``kind`` is the vendor's own log type (FortiGate ``type``, Sophos ``log_type``, PAN-OS ``THREAT``…)
    and ``subtype`` its subtype, both in lower case; ``level`` is the vendor's level or severity, in
    lower case. The unit is identified by ``serial`` (serial number / device id), ``device_name`` or
    ``sender`` (the host that sent the syslog message); any of them may be empty, not all three.
    """

    vendor: str
    format: str
    occurred_at: datetime
    kind: str
    subtype: str = ""
    serial: str = ""
    device_name: str = ""
    sender: str = ""
    action: str = ""
    level: str = ""
    signature: str = ""
    group: str = ""
    src_ip: str = ""
    dst_ip: str = ""
    url: str = ""
    user: str = ""
    message: str = ""
    event_key: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def bounded_fields(pairs: dict[str, str], *, checked_keys: bool = False) -> dict[str, str]:
    """At most ``MAX_FIELDS`` fields with storable keys and values cut to ``MAX_VALUE`` characters.

    ``checked_keys``: the keys are known to be ``[A-Za-z_][A-Za-z0-9_-]*`` (the tokenizer's keys).
    """
    if (
        len(pairs) <= MAX_FIELDS
        and max(map(len, pairs.values()), default=0) <= MAX_VALUE
        and (
            max(map(len, pairs), default=0) <= MAX_KEY
            if checked_keys
            else _KEYS_OK.fullmatch(" ".join(pairs)) is not None
        )
    ):
        return pairs
    out: dict[str, str] = {}
    for key, value in pairs.items():
        if len(out) >= MAX_FIELDS:
            break
        if len(key) > MAX_KEY or not _KEY_OK.fullmatch(key):
            continue
        out[key] = value if len(value) <= MAX_VALUE else value[:MAX_VALUE]
    return out


def event_key_of(text: str) -> str:
    """A stable key of a line: the same line delivered twice gives the same key."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def in_range(moment: datetime, what: str) -> datetime:
    """``moment`` in UTC, or DecodeError when it is outside 1970–2099."""
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise DecodeError(f"{what} out of range") from exc
    if not EARLIEST <= moment < LATEST:
        raise DecodeError(f"{what} out of range")
    return moment


def from_epoch(value: str, what: str) -> datetime:
    """An epoch time in seconds, milliseconds, microseconds or nanoseconds (told apart by size)."""
    if not value.isdigit() or len(value) > 20:
        raise DecodeError(f"invalid {what}")
    number = int(value)
    for scale in (1, 1_000, 1_000_000, 1_000_000_000):
        if number < 100_000_000_000 * scale:
            moment = datetime.fromtimestamp(number / scale, UTC)
            if not EARLIEST <= moment < LATEST:
                raise DecodeError(f"{what} out of range")
            return moment
    raise DecodeError(f"{what} out of range")


_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_tz_cache: dict[str, timezone] = {}


def offset_zone(text: str) -> timezone:
    """``+0900`` / ``-05:00`` as a time zone."""
    cached = _tz_cache.get(text)
    if cached is None:
        match = _OFFSET.fullmatch(text)
        if not match or int(match.group(2)) > 23 or int(match.group(3)) > 59:
            raise DecodeError(f"invalid time zone {text[:16]!r}")
        sign = 1 if match.group(1) == "+" else -1
        cached = timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
        _tz_cache[text] = cached
    return cached


# Abbreviations UTM administration screens write; the ambiguous ones (CST, IST) are read as the
# zones of the region this service covers and its neighbours.
_NAMED_ZONES: dict[str, timezone] = {
    name: timezone(timedelta(minutes=minutes), name)
    for name, minutes in {
        "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "BST": 60, "CET": 60, "CEST": 120, "EET": 120,
        "EEST": 180, "MSK": 180, "IST": 330, "ICT": 420, "WIB": 420, "SGT": 480, "HKT": 480,
        "PHT": 480, "AWST": 480, "CST": 480, "JST": 540, "KST": 540, "ACST": 570, "AEST": 600,
        "AEDT": 660, "NZST": 720, "NZDT": 780, "HST": -600, "AKST": -540, "PST": -480, "PDT": -420,
        "MST": -420, "MDT": -360, "EST": -300, "EDT": -240,
    }.items()
}  # fmt: skip


def named_zone(name: str) -> timezone | ZoneInfo:
    """A time zone by abbreviation (``JST``), IANA name (``Asia/Tokyo``) or offset (``+0900``)."""
    name = name.strip()
    if not name:
        return DEFAULT_DEVICE_TZ
    if name[0] in "+-":
        return offset_zone(name)
    zone = _NAMED_ZONES.get(name.upper())
    if zone is not None:
        return zone
    if "/" in name and len(name) <= 64 and ".." not in name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise DecodeError(f"unknown time zone {name[:32]!r}")


def local_time(date: str, time: str, zone: timezone | ZoneInfo, what: str = "date/time") -> datetime:
    """``YYYY-MM-DD`` (or ``YYYY/MM/DD``) and ``HH:MM:SS`` in ``zone``, as UTC."""
    if len(date) != 10 or len(time) not in (5, 8):
        raise DecodeError(f"invalid {what}")
    try:
        local = datetime(
            int(date[0:4]), int(date[5:7]), int(date[8:10]),
            int(time[0:2]), int(time[3:5]), int(time[6:8]) if len(time) == 8 else 0,
        )  # fmt: skip
    except ValueError as exc:
        raise DecodeError(f"invalid {what}") from exc
    return in_range(local.replace(tzinfo=zone), what)
