"""Kafka plumbing: the broker, consumer defaults and the dead-letter path."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream._internal.middlewares import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from pydantic import ValidationError

from shared.deadletter import DeadLetters
from shared.events import Event
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

# Pause before a failed message is redelivered, so a database outage is not a busy loop.
RETRY_PAUSE_SECONDS = 1.0


class PoisonMessage(Exception):
    """Raised by a handler for a message that can never be processed; it goes to the dead-letter topic."""


def create_broker(
    settings: KafkaSettings, *, service: str, dead_letters: DeadLetters | None = None
) -> KafkaBroker:
    """A broker for ``service`` whose consumers send unprocessable messages to the dead-letter topic."""
    broker = KafkaBroker(
        settings.bootstrap_servers,
        client_id=service,
        acks="all",
        enable_idempotence=True,
        logger=logging.getLogger(f"{service}.kafka"),
    )
    letters = dead_letters or DeadLetters(service)
    letters.broker = broker
    broker.add_middleware(_dead_letter_middleware(letters))
    return broker


def consumer_options(service: str, settings: KafkaSettings) -> dict[str, Any]:
    """Subscriber options: one group per service, commit only after the handler succeeded."""
    return {
        "group_id": service,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": max(1_000, settings.session_timeout_ms // 5),
    }


async def publish(broker: KafkaBroker, event: Event, *, key: str) -> None:
    """Publish ``event`` to its topic keyed by its aggregate id, so order holds per key."""
    await broker.publish(event.model_dump(mode="json"), topic=event.TOPIC, key=key.encode())


def _dead_letter_middleware(letters: DeadLetters) -> Callable[..., BaseMiddleware[Any, Any]]:
    class DeadLetterMiddleware(BaseMiddleware[Any, Any]):
        async def consume_scope(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            try:
                return await call_next(msg)
            except (ValidationError, PoisonMessage, UnicodeDecodeError, ValueError) as exc:
                await _send_to_dead_letter(letters, msg, exc)
                return None
            except Exception:
                log.exception("handler failed; the message will be redelivered")
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                raise

    return DeadLetterMiddleware


async def _send_to_dead_letter(letters: DeadLetters, msg: StreamMessage[Any], exc: BaseException) -> None:
    records = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
    code = "invalid-event" if isinstance(exc, ValidationError) else "unprocessable"
    for record in records:
        await letters.reject(
            reason_code=code,
            reason=f"{type(exc).__name__}: {exc}",
            payload=getattr(record, "value", None),
            source_topic=getattr(record, "topic", "") or "",
            partition=getattr(record, "partition", None),
            offset=getattr(record, "offset", None),
            key=getattr(record, "key", None),
        )


def declare_publishers(broker: KafkaBroker, *events: type[Event]) -> None:
    """Declare what a service publishes, so its AsyncAPI document shows the outgoing topics too."""
    for event in events:
        broker.publisher(event.TOPIC, schema=event, title=f"{event.TOPIC}:publish", description=event.__doc__)
