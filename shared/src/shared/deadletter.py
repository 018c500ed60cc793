"""The dead-letter path every consumer uses: one bounded ``DeadLetter`` per record it gives up on.

A dead letter carries the reason, the original size, a SHA-256 of the original bytes, where the
record came from (topic, partition, offset) and at most the first 16 KiB of the payload, so that
even a 1 MB record gives a message far below the producer's size limit.
"""

import hashlib
import logging
import re
from typing import Any

from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, Counter

from shared.events import DeadLetter

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 16 * 1024
MAX_REASON_CHARS = 1000
MAX_KEY_BYTES = 256
# Reason codes label a metric: anything outside this shape is counted as "other".
_REASON_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def as_bytes(payload: bytes | str | None) -> bytes:
    """The payload as the bytes it arrived as (text is encoded as UTF-8)."""
    if payload is None:
        return b""
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    return str(payload).encode("utf-8", errors="replace")


def dead_letter(
    *,
    service: str,
    reason_code: str,
    reason: str,
    payload: bytes | str | None,
    source_topic: str,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
) -> DeadLetter:
    """The bounded ``DeadLetter`` of one record."""
    original = as_bytes(payload)
    head = original[:MAX_PAYLOAD_BYTES]
    key_bytes = as_bytes(key)[:MAX_KEY_BYTES] if key is not None else None
    return DeadLetter(
        service=service,
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key=key_bytes.decode("utf-8", errors="replace") if key_bytes is not None else None,
        payload=head.decode("utf-8", errors="replace"),
        payload_truncated=len(head) < len(original),
        original_size=len(original),
        sha256=hashlib.sha256(original).hexdigest(),
        reason_code=reason_code if _REASON_CODE.fullmatch(reason_code) else "other",
        reason=reason[:MAX_REASON_CHARS],
    )


class DeadLetters:
    """Publishes dead letters for one service and counts them by reason code in its registry."""

    def __init__(
        self, service: str, registry: CollectorRegistry | None = None, broker: KafkaBroker | None = None
    ) -> None:
        self.broker = broker
        self.service = service
        self.counter = Counter(
            "dead_letter_records",
            "Records sent to the dead-letter topic, by reason",
            ["reason"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    def build(self, **fields: Any) -> DeadLetter:
        """A ``DeadLetter`` of this service (see ``dead_letter`` for the fields)."""
        return dead_letter(service=self.service, **fields)

    async def send(self, letter: DeadLetter) -> None:
        """Publish ``letter`` keyed by its source topic; Kafka errors propagate (the caller retries)."""
        if self.broker is None:
            raise RuntimeError("dead letters of this service have no broker")
        await self.broker.publish(
            letter.model_dump(mode="json"), topic=letter.TOPIC, key=letter.source_topic.encode()
        )
        self.counter.labels(letter.reason_code).inc()
        log.warning(
            "record sent to the dead-letter topic",
            extra={
                "reason": letter.reason_code,
                "detail": letter.reason[:200],
                "source_topic": letter.source_topic,
                "partition": letter.partition,
                "offset": letter.offset,
            },
        )

    async def reject(self, **fields: Any) -> DeadLetter:
        """Build and send the dead letter of one record."""
        letter = self.build(**fields)
        await self.send(letter)
        return letter
