"""Decoders of UTM log records: one module per vendor, every one producing the same ``NeutralEvent``.

``decode(raw, sender=...)`` takes one record of the ``utm-events`` topic — a syslog message as the
collector wraps it, a bare syslog/vendor line, or the project's own JSON — and returns its neutral
event, or raises ``DecodeError(reason)``; it raises nothing else, whatever the input.

Records are recognised in this order:

1. a JSON object: the collector's envelope (``{"v": 1, "src": "syslog", "host": …, "msg": …}``; the
   ``host`` is the sender and ``msg`` is decoded as below) or a ``UtmEvent`` (``json``);
2. otherwise a syslog header is removed (``syslog``: RFC 5424, RFC 3164 or a bare ``<PRI>``) and the
   message is ``CEF:…`` (``cef``), a PAN-OS CSV log (``panos``), or ``key=value`` pairs
   (``tokenize``) holding FortiGate (``fortigate``: ``type`` with ``devid``, ``devname``, ``logid``,
   ``subtype``…) or Sophos fields (``sophos``: ``log_type`` with ``device_id``/``log_id``).

Bytes that are not UTF-8 are replaced (U+FFFD), never a reason to reject. In every ``key=value``
format (FortiGate, Sophos, CEF extensions) the first occurrence of a duplicate key wins.
"""

import json as _json
import re
from datetime import datetime
from typing import Any

from alert_pipeline.decoders import cef, fortigate, panos, sophos, syslog
from alert_pipeline.decoders import json as utm_json
from alert_pipeline.decoders import tokenize as kv
from alert_pipeline.decoders.base import DecodeError, NeutralEvent, in_range

__all__ = ["MAX_JSON_DEPTH", "DecodeError", "NeutralEvent", "decode"]

MAX_JSON_DEPTH = 16
MAX_IDENTITY = 128
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def decode(raw: bytes, *, sender: str | None = None) -> NeutralEvent:
    """The neutral event of one raw record, or DecodeError."""
    try:
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes | bytearray) else None
        if text is None:
            raise DecodeError("record is not bytes")
        event = _decode_text(text.strip(), sender or "", fallback_time=None, nested=False)
        _check_identity(event)
        return event
    except DecodeError:
        raise
    except RecursionError as exc:
        raise DecodeError("nested too deeply") from exc
    except Exception as exc:
        raise DecodeError(f"undecodable record ({type(exc).__name__})") from exc


def _decode_text(text: str, sender: str, *, fallback_time: datetime | None, nested: bool) -> NeutralEvent:
    if not text:
        raise DecodeError("empty record")
    if text[0] in "{[":
        return _decode_json(text, sender, envelope_allowed=not nested)
    message = syslog.split_header(text)
    body = message.body.strip()
    if not body:
        raise DecodeError("empty message")
    if body[0] in "{[":
        # The project's JSON sent as a syslog message; an envelope is never taken from inside one.
        return _decode_json(body, sender, envelope_allowed=False)
    hostname = message.hostname
    if fallback_time is None and message.timestamp:
        fallback_time = _header_time(message.timestamp)
    if cef.looks_like(body):
        return cef.decode(body, sender=sender, hostname=hostname, fallback_time=fallback_time)
    if panos.looks_like(body):
        return panos.decode(body, sender=sender, hostname=hostname)
    if "=" not in body:
        raise DecodeError("no known format (neither JSON, CEF, PAN-OS CSV nor key=value)")
    fields, _duplicates = kv.tokenize(body)
    if fortigate.looks_like(fields):
        return fortigate.decode(fields, body, sender=sender, hostname=hostname)
    if sophos.looks_like(fields):
        return sophos.decode(fields, body, sender=sender, hostname=hostname)
    raise DecodeError("key=value line of no known vendor (no type/devid nor log_type/device_id)")


def _decode_json(text: str, sender: str, *, envelope_allowed: bool = True) -> NeutralEvent:
    _check_depth(text)
    try:
        data = _json.loads(text)
    except ValueError as exc:
        raise DecodeError(f"invalid JSON: {str(exc)[:80]}") from exc
    if not isinstance(data, dict):
        raise DecodeError("JSON record is not an object")
    if data.get("src") == "syslog" and "msg" in data and not utm_json.looks_like(data):
        if not envelope_allowed:
            raise DecodeError("collector envelope inside a syslog message")
        return _decode_envelope(data)
    if utm_json.looks_like(data):
        return utm_json.decode(data, sender=sender)
    raise DecodeError("JSON object is neither a UtmEvent nor a collector envelope")


def _decode_envelope(data: dict[str, Any]) -> NeutralEvent:
    version = data.get("v")
    if type(version) is not int or version != 1:
        raise DecodeError("unsupported envelope version")
    for key in ("host", "hostname", "received", "msg"):
        if key in data and not isinstance(data[key], str):
            raise DecodeError(f"envelope {key} is not a string")
    host, msg = data.get("host", ""), data.get("msg", "")
    received = _header_time(data["received"]) if data.get("received") else None
    event = _decode_text(msg.strip(), host, fallback_time=received, nested=True)
    if not event.device_name and data.get("hostname"):
        event.device_name = data["hostname"]
    return event


def _header_time(value: str) -> datetime | None:
    """An RFC 3339 time of a syslog header or envelope, or None when it is unreadable."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    try:
        return in_range(moment, "time")
    except DecodeError:
        return None


def _check_depth(text: str) -> None:
    """Reject JSON nested deeper than MAX_JSON_DEPTH before parsing it."""
    if text.count("{") + text.count("[") <= MAX_JSON_DEPTH:
        return
    depth = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", text)):
        if bracket in "{[":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise DecodeError(f"JSON nested deeper than {MAX_JSON_DEPTH}")
        else:
            depth -= 1


def _check_identity(event: NeutralEvent) -> None:
    serial, name, sender = event.serial, event.device_name, event.sender
    if len(serial) > MAX_IDENTITY or len(name) > MAX_IDENTITY or len(sender) > MAX_IDENTITY:
        raise DecodeError("unit identity too long")
    if "\x00" in serial or "\x00" in name or "\x00" in sender:
        raise DecodeError("NUL byte in the unit identity")
