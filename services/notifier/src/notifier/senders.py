"""The ways a message leaves: SMTP for mail, an ``SmsSender`` for text messages.

Both raise :class:`SendError`; ``permanent`` tells the dispatcher that retrying cannot help.
"""

import asyncio
import contextlib
import json
import logging
import os
import uuid
from datetime import datetime
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from notifier.messages import Outgoing

log = logging.getLogger(__name__)


class SendError(Exception):
    """A message could not be handed over."""

    def __init__(self, message: str, *, permanent: bool = False, unavailable: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        # The relay could not be reached at all (refused, disconnected): an outage, not this message's fault.
        self.unavailable = unavailable


def message_id_for(delivery_id: str, mail_from: str) -> str:
    """The Message-ID of a delivery: stable, so a re-send is recognisable as the same message."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    return f"<{delivery_id}@{domain}>"


def build_email(message: Outgoing, *, mail_from: str, now: datetime) -> Message:
    """A UTF-8 plain-text mail; non-ASCII headers are RFC 2047 encoded on the wire.

    Built with the classic ``email.mime`` classes and headers encoded here: the header parsing and
    folding of ``EmailMessage`` cost about as much CPU as the rest of a send together.
    """
    # A UTF-8 MIMEText body is base64: the Japanese text stays intact through relays that do not
    # speak 8BITMIME.
    mail = MIMEText(message.body, "plain", "utf-8")
    name, address = parseaddr(mail_from)
    mail["From"] = formataddr((name, address), charset="utf-8")
    mail["To"] = message.recipient
    if message.subject.isascii():
        mail["Subject"] = message.subject
    else:
        # Folded on the wire by the generator (typeshed types MIMEText headers as str only).
        mail["Subject"] = Header(message.subject, "utf-8")  # type: ignore[assignment]
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = message_id_for(message.delivery_id, mail_from)
    return mail


class MailSender(Protocol):
    async def send(self, mail: Message) -> None: ...


class SmtpPool:
    """A few SMTP connections kept open, so an alert mail costs one transaction, not a handshake."""

    def __init__(self, *, host: str, port: int, size: int, timeout: float) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        for _ in range(size):
            self._idle.put_nowait(self._client())

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(hostname=self._host, port=self._port, timeout=self._timeout, start_tls=False)

    async def warm(self) -> None:
        """Open the connections ahead of the first message (failures are ignored: sends retry)."""
        clients = [self._idle.get_nowait() for _ in range(self._idle.qsize())]
        results = await asyncio.gather(*(c.connect() for c in clients), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.warning("SMTP server not reachable yet", extra={"error": str(failed[0])})
        for client in clients:
            self._idle.put_nowait(client)

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                with contextlib.suppress(Exception):
                    await client.quit()

    async def send(self, mail: Message) -> None:
        client = await self._idle.get()
        try:
            await self._send(client, mail)
        finally:
            self._idle.put_nowait(client)

    async def _send(self, client: aiosmtplib.SMTP, mail: Message) -> None:
        # A reused connection may have been closed by the server while idle: one fresh try, uncounted.
        for may_reconnect in (client.is_connected, False):
            try:
                if not client.is_connected:
                    await client.connect()
                await client.send_message(mail)
                return
            except aiosmtplib.SMTPServerDisconnected as exc:
                await _drop(client)
                if not may_reconnect:
                    raise SendError(f"SMTP server disconnected: {exc}", unavailable=True) from exc
            except aiosmtplib.SMTPRecipientsRefused as exc:
                raise SendError(f"recipient refused: {exc}", permanent=True) from exc
            except aiosmtplib.SMTPResponseException as exc:
                await _drop(client)
                raise SendError(f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500) from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                await _drop(client)
                raise SendError(f"SMTP unavailable: {type(exc).__name__}: {exc}", unavailable=True) from exc


async def _drop(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        client.close()


class SmsSender(Protocol):
    """Hands one text message to a phone network (or, in development, to a folder)."""

    async def send(self, *, to: str, body: str, message_id: str, now: datetime) -> None: ...


class OutboxSmsSender:
    """Development SMS: each message is a JSON file ``{to, body, sent_at}`` in a folder people read."""

    def __init__(self, directory: str | Path) -> None:
        self._directory = Path(directory)

    async def send(self, *, to: str, body: str, message_id: str, now: datetime) -> None:
        record = {"to": to, "body": body, "sent_at": now.isoformat(), "message_id": message_id}
        try:
            await asyncio.to_thread(self._write, record, f"{now:%Y%m%dT%H%M%S%f}-{message_id}.json")
        except OSError as exc:
            raise SendError(f"SMS outbox not writable: {exc}") from exc

    def _write(self, record: dict[str, str], name: str) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        # Written aside then renamed, so a reader never sees half a file.
        partial = self._directory / f".{name}.{uuid.uuid4().hex}.tmp"
        partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self._directory / name)


def create_sms_sender(backend: str, *, outbox_dir: str) -> SmsSender:
    """The configured SMS backend; a real provider adds a branch here implementing ``SmsSender``."""
    if backend == "outbox":
        return OutboxSmsSender(outbox_dir)
    raise ValueError(f"unknown SMS backend {backend!r}")
