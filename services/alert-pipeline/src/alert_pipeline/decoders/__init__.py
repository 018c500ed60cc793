"""Decoding of UTM log records into the same ``NeutralEvent``, by the compiled core (``utm_core``).

``decode(raw, sender=...)`` takes one record of the ``utm-events`` topic — a syslog message as the
collector wraps it, a bare syslog/vendor line, or the project's own JSON — and returns its neutral
event, or raises ``DecodeError(reason)``; it raises nothing else, whatever the input.

Records are recognised in this order:

1. a JSON object: the collector's envelope (``{"v": 1, "src": "syslog", "host": …, "msg": …}``; the
   ``host`` is the sender and ``msg`` is decoded as below) or a ``UtmEvent`` (vendor ``watch``);
2. otherwise a syslog header is removed (RFC 5424, RFC 3164 or a bare ``<PRI>``) and the message is
   ``CEF:…`` (``cef``), a PAN-OS CSV log (``paloalto``), or ``key=value`` pairs holding FortiGate
   (``fortinet``: ``type`` with ``devid``, ``devname``, ``logid``, ``subtype``…) or Sophos fields
   (``sophos``: ``log_type`` with ``device_id``/``log_id``).

Which vendor field gives which neutral field is data (``alert_pipeline/formats.toml``); the structure
of each format is compiled. Bytes that are not UTF-8 are replaced (U+FFFD), never a reason to reject.
In every ``key=value`` format (FortiGate, Sophos, CEF extensions) the first occurrence of a duplicate
key wins.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import utm_core
from alert_pipeline.core import engine

__all__ = ["MAX_JSON_DEPTH", "DecodeError", "NeutralEvent", "decode", "from_core"]

DecodeError = utm_core.DecodeError
MAX_JSON_DEPTH = 16
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def from_core(values: dict[str, Any]) -> NeutralEvent:
    """The NeutralEvent of a dict of the core (``occurred_at`` in microseconds since the epoch)."""
    return NeutralEvent(**{**values, "occurred_at": _EPOCH + timedelta(microseconds=values["occurred_at"])})


def decode(raw: bytes, *, sender: str | None = None) -> NeutralEvent:
    """The neutral event of one raw record, or DecodeError."""
    if not isinstance(raw, bytes | bytearray):
        raise DecodeError("record is not bytes")
    return from_core(engine().decode(bytes(raw), sender or ""))
