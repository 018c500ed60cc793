"""Compatibility layer: ``parse_record`` gives the ``ParsedEvent`` the ingest works with.

Decoding is done by ``alert_pipeline.decoders`` (one module per vendor, all producing a
``NeutralEvent``) and classification by the rules of ``alert_pipeline.classifier``; a ``ParsedEvent``
is the neutral event with the outcome of the packaged rules attached: ``is_threat`` is "the rules give
it a severity of 1–3", ``kind`` is the category code (``traffic``, ``system``, ``ips``, …).
"""

from dataclasses import dataclass, field
from datetime import datetime

from alert_pipeline.classifier import Classification, Classifier, default_classifier
from alert_pipeline.decoders import DecodeError, NeutralEvent, decode

# A record that is not a valid UTM event (the decoder's own error; its reason says why).
ParseError = DecodeError


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
    source_format: str = ""
    details: dict[str, str] = field(default_factory=dict)
    device_name: str = ""
    sender: str = ""
    neutral: NeutralEvent | None = None
    outcome: Classification | None = None

    @property
    def is_threat(self) -> bool:
        return self.outcome is not None and self.outcome.severity > 0

    @property
    def rule_id(self) -> int:
        return self.outcome.rule_id if self.outcome else 0


def parse_record(
    raw: bytes, *, sender: str | None = None, classifier: Classifier | None = None
) -> ParsedEvent:
    """Decode and classify (by ``classifier``, else the packaged rules) one raw record, or ParseError."""
    event = decode(raw, sender=sender)
    return from_neutral(event, (classifier or default_classifier()).classify(event))


def from_neutral(event: NeutralEvent, outcome: Classification) -> ParsedEvent:
    """The ParsedEvent of a decoded and classified event."""
    return ParsedEvent(
        serial_number=event.serial,
        occurred_at=event.occurred_at,
        kind=outcome.category.key,
        event_key=event.event_key,
        action=event.action,
        level=event.level,
        signature=event.signature,
        group=event.group,
        src_ip=event.src_ip,
        dst_ip=event.dst_ip,
        url=event.url,
        message=event.message,
        source_format=event.format,
        details=event.fields if outcome.severity else {},
        device_name=event.device_name,
        sender=event.sender,
        neutral=event,
        outcome=outcome,
    )
