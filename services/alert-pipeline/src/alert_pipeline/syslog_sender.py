"""Sending log lines to a syslog collector the way a UTM does: UDP, TCP or TLS, RFC 5424 or 3164.

    with SyslogSender("tcp://127.0.0.1:5514", framing="octet") as sender:
        sender.send([with_header(line, hostname="FGT60F...")])

TCP and TLS frame each message by octet counting (``<length> <message>``, RFC 6587 3.4.1, the
framing RFC 5425 requires for TLS) or by a trailing newline (RFC 6587 3.4.2, what most UTMs send);
UDP sends one datagram per message (RFC 5426).
"""

import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

Framing = Literal["octet", "newline"]
HeaderFormat = Literal["5424", "3164"]
SCHEMES = ("udp", "tcp", "tls")
DEFAULT_PORTS = {"udp": 514, "tcp": 514, "tls": 6514}
# local7.notice, what FortiGate and many UTMs use when a line carries no priority of its own.
DEFAULT_PRI = 189
_PRI = re.compile(rb"^<(\d{1,3})>")
# The RFC 3164 header a PAN-OS or CEF line already carries after its priority: "Nov 30 12:00:00 host ".
_BSD_HEADER = re.compile(rb"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ ")
# Lengths a UDP datagram can carry over IPv4 (65,535 minus the IP and UDP headers).
MAX_DATAGRAM = 65_507


class SyslogTargetError(ValueError):
    """A collector address that is not ``udp://``, ``tcp://`` or ``tls://`` host:port."""


@dataclass(frozen=True, slots=True)
class SyslogTarget:
    """Where and how to send: scheme (udp, tcp, tls), host and port."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> "SyslogTarget":
        """``tcp://127.0.0.1:5514`` → SyslogTarget("tcp", "127.0.0.1", 5514)."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise SyslogTargetError(f"syslog address must start with udp://, tcp:// or tls://: {url!r}")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError as exc:
            raise SyslogTargetError(f"invalid port in {url!r}") from exc
        if not parts.hostname or parts.path not in ("", "/"):
            raise SyslogTargetError(f"syslog address must be scheme://host:port: {url!r}")
        return cls(parts.scheme, parts.hostname, port)


def with_header(
    line: bytes,
    *,
    hostname: str,
    header: HeaderFormat = "5424",
    app_name: str = "-",
    now: datetime | None = None,
) -> bytes:
    """The line as a syslog message: its own ``<PRI>`` (or local7.notice) and an RFC 5424/3164 header
    (replacing the RFC 3164 header the line may carry already, as simulated PAN-OS and CEF lines do)."""
    match = _PRI.match(line)
    pri = int(match.group(1)) if match else DEFAULT_PRI
    body = line[match.end() :] if match else line
    # A line with a syslog header of its own gets ours instead: one header, as the unit sends it.
    own = _BSD_HEADER.match(body) if match else None
    body = body[own.end() :] if own else body
    # The unit's own clock and zone when given, else this machine's.
    stamp = now if now is not None and now.tzinfo else (now or datetime.now()).astimezone()
    host = hostname or "-"
    if header == "5424":
        head = f"<{pri}>1 {stamp.isoformat(timespec='microseconds')} {host} {app_name} - - - "
    else:
        head = f"<{pri}>{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S} {host} "
    return head.encode() + body


def frame(message: bytes, framing: Framing) -> bytes:
    """One message framed for a TCP stream."""
    if framing == "octet":
        return b"%d %s" % (len(message), message)
    # Newline framing cannot carry a newline inside a message: it would split it in two.
    return message.replace(b"\n", b" ") + b"\n"


class SyslogSender:
    """A connection to a syslog collector; ``send`` writes messages, ``close`` ends it."""

    def __init__(
        self,
        url: str,
        *,
        framing: Framing = "octet",
        ca_file: str | None = None,
        source_address: str | None = None,
    ) -> None:
        self.target = SyslogTarget.parse(url)
        self.framing: Framing = framing
        self.ca_file = ca_file
        # A local address to send from (on loopback, any 127.x address: one per simulated unit).
        self.source_address = source_address
        self._sock: socket.socket | None = None

    def connect(self) -> "SyslogSender":
        """Open the socket (and for TLS, complete the handshake, verifying the collector's certificate)."""
        target = self.target
        source = (self.source_address, 0) if self.source_address else None
        if target.scheme == "udp":
            family = socket.AF_INET6 if ":" in target.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            if source:
                sock.bind(source)
            sock.connect((target.host, target.port))
        else:
            sock = socket.create_connection((target.host, target.port), timeout=10, source_address=source)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if target.scheme == "tls":
                context = ssl.create_default_context(cafile=self.ca_file)
                sock = context.wrap_socket(sock, server_hostname=target.host)
        self._sock = sock
        return self

    def send(self, messages: Iterable[bytes]) -> int:
        """Send whole syslog messages (headers included); returns how many were sent."""
        if self._sock is None:
            self.connect()
        sock = self._sock
        assert sock is not None
        count = 0
        if self.target.scheme == "udp":
            for message in messages:
                sock.send(message[:MAX_DATAGRAM])
                count += 1
            return count
        chunk: list[bytes] = []
        for message in messages:
            chunk.append(frame(message, self.framing))
            count += 1
        sock.sendall(b"".join(chunk))
        return count

    def close(self) -> None:
        """Close the connection; for TCP and TLS, after everything sent has left."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if isinstance(sock, ssl.SSLSocket):
                sock = sock.unwrap()
            if sock.type == socket.SOCK_STREAM:
                sock.shutdown(socket.SHUT_WR)
                # Wait for the collector to close its side: it has then read every message.
                sock.settimeout(10)
                while sock.recv(4096):
                    pass
        except OSError:
            pass
        finally:
            sock.close()

    def __enter__(self) -> "SyslogSender":
        return self.connect()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
