"""Syslog headers: RFC 5424, RFC 3164 (BSD) and the bare ``<PRI>`` that FortiGate units send.

Only the header is read here: the priority, the hostname the sender wrote and the message after the
header. The sending host itself (the socket peer) comes from the collector's envelope.
"""

import re
from dataclasses import dataclass

from alert_pipeline.decoders.base import DecodeError

_PRI = re.compile(r"<(\d{1,3})>")
# RFC 3164: "Mmm dd hh:mm:ss HOSTNAME " (rsyslog may write an RFC 3339 time in its place).
_BSD = re.compile(
    r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))"
    r" (?:(?P<host>[A-Za-z0-9._:%-]{1,255}) )?"
)
# An RFC 3164 TAG: "name:" or "name[pid]:" followed by a space.
_TAG = re.compile(r"[A-Za-z0-9_./-]{1,48}(?:\[\d{1,10}\])?: ")
_RFC5424_SD = re.compile(r'\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\]', re.DOTALL)


@dataclass(slots=True)
class SyslogMessage:
    """A message without its syslog header; empty fields when the header had none."""

    body: str
    priority: int | None = None
    hostname: str = ""
    app: str = ""
    header: str = "none"
    timestamp: str = ""


def split_header(text: str) -> SyslogMessage:
    """Split ``text`` into its syslog header (if any) and the vendor's message."""
    priority: int | None = None
    match = _PRI.match(text)
    if match:
        priority = int(match.group(1))
        if priority > 191:
            raise DecodeError("invalid syslog priority")
        text = text[match.end() :]
        if text.startswith("1 "):
            return _rfc5424(text[2:], priority)
    # An RFC 3164 time starts with a month name or (as rsyslog writes it) a year.
    bsd = _BSD.match(text) if text[:1].isupper() or text[:1].isdigit() else None
    if bsd is None:
        return SyslogMessage(body=text, priority=priority)
    host = bsd.group("host") or ""
    body = text[bsd.end() :]
    app = ""
    tag = _TAG.match(body)
    if tag:
        app = tag.group(0)[:-2].split("[", 1)[0]
        body = body[tag.end() :]
    return SyslogMessage(body=body, priority=priority, hostname=host, app=app, header="rfc3164")


def _rfc5424(text: str, priority: int) -> SyslogMessage:
    parts = text.split(" ", 5)
    if len(parts) < 5:
        raise DecodeError("truncated RFC 5424 header")
    timestamp, hostname, app, _procid, _msgid = parts[:5]
    rest = parts[5] if len(parts) == 6 else ""
    if rest.startswith("-"):
        rest = rest[1:]
    else:
        pos = 0
        while rest.startswith("[", pos):
            element = _RFC5424_SD.match(rest, pos)
            if element is None:
                raise DecodeError("malformed RFC 5424 structured data")
            pos = element.end()
        if pos == 0:
            raise DecodeError("RFC 5424 structured data missing")
        rest = rest[pos:]
    rest = rest.removeprefix(" ").removeprefix("\ufeff")
    return SyslogMessage(
        body=rest,
        priority=priority,
        hostname="" if hostname == "-" else hostname,
        app="" if app == "-" else app,
        header="rfc5424",
        timestamp="" if timestamp == "-" else timestamp,
    )
