"""Domain of the alert pipeline: units it knows, alerts and their stable ids."""

import base64
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from alert_pipeline.classifier import Classification
from alert_pipeline.parsing import ParsedEvent
from shared.events import AlertDetected
from shared.labels import (
    IMPORTANT_SEVERITY,
    JST,
    SERVICE_CATEGORIES,
    TRIAGE_OPEN,
    TRIAGE_STATUSES,
    severity_label,
)
from shared.labels import MONITORING_CATEGORY as MONITORING_CATEGORY_KEY

MONITORING_CATEGORY = SERVICE_CATEGORIES[MONITORING_CATEGORY_KEY]


@dataclass(frozen=True, slots=True)
class Unit:
    """A registered UTM unit as the pipeline knows it (projection of ``utm-registered``)."""

    serial_number: str
    unit_id: str
    company_id: str
    name: str
    mac_address: str


def alert_id_for(serial_number: str, event_key: str, occurred_at: datetime) -> str:
    """A stable alert id: the same source event always gives the same id."""
    digest = hashlib.sha256(f"{serial_number}\x1f{event_key}".encode()).digest()
    code = base64.b32encode(digest).decode()[:10]
    return f"ALT-{occurred_at.astimezone(JST):%Y%m%d}-{code}"


def hour_bucket(moment: datetime) -> datetime:
    """The UTC hour a moment falls in (counters are kept per hour)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertFacts:
    """What an alert says, whatever raised it (a UTM's log or the service's own monitoring)."""

    category: str
    category_key: str
    severity: int
    summary: str
    explanation: str
    remedy: str
    source_event: str
    source_format: str
    rule_id: str = ""
    kind: str = ""
    action: str = ""
    level: str = ""
    signature: str = ""
    group: str = ""
    source: str = ""
    destination: str = ""
    destination_ip: str = ""
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    last_seen_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert(AlertFacts):
    """An alert of a registered unit: a classified threat or the service's own UTM監視 alert."""

    alert_id: str
    company_id: str
    unit_id: str
    unit_name: str
    serial_number: str
    mac_address: str
    detected_at: datetime
    received_at: datetime
    cleared_at: datetime | None = None
    # Triage (未対応 / 確認済み / 対応済み) is written by the triage use case only, never by ``document``.
    status: str = TRIAGE_OPEN
    status_history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def important(self) -> bool:
        """★★☆ and above: announced with ``alert-detected`` (and mailed)."""
        return self.severity >= IMPORTANT_SEVERITY

    def document(self) -> dict[str, Any]:
        """The MongoDB document of the alert (its id is ``_id``)."""
        doc = {name: getattr(self, name) for name in _FIELDS if name not in _NOT_STORED}
        doc["_id"] = self.alert_id
        return doc

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> "Alert":
        """The alert of a stored document (fields it lacks keep their defaults)."""
        values = {name: doc[name] for name in _FIELDS if name in doc and name != "alert_id"}
        return cls(alert_id=doc["_id"], **values)

    def detected_event(self) -> AlertDetected:
        """The ``alert-detected`` event; its event id is derived from the alert id."""
        return AlertDetected(
            event_id=_uuid_for(self.alert_id),
            alert_id=self.alert_id,
            company_id=self.company_id,
            unit_id=self.unit_id,
            unit_name=self.unit_name,
            mac_address=self.mac_address,
            category=self.category,
            severity=self.severity,
            signature=self.signature,
            source=self.source,
            destination=self.destination,
            action=self.action,
            summary=self.summary,
            explanation=self.explanation,
            remedy=self.remedy,
            detected_at=self.detected_at,
        )

    def public(self) -> dict[str, Any]:
        """The alert as the customer API returns it."""
        return {
            "alert_id": self.alert_id,
            "unit_id": self.unit_id,
            "unit_name": self.unit_name,
            "serial_number": self.serial_number,
            "mac_address": self.mac_address,
            "category": self.category,
            "severity": self.severity,
            "severity_label": severity_label(self.severity),
            "signature": self.signature,
            "action": self.action,
            "source": self.source,
            "destination": self.destination,
            "summary": self.summary,
            "explanation": self.explanation,
            "remedy": self.remedy,
            "detected_at": self.detected_at,
            "cleared_at": self.cleared_at,
            "status": self.status or TRIAGE_OPEN,
            "status_label": TRIAGE_STATUSES.get(self.status or TRIAGE_OPEN, TRIAGE_STATUSES[TRIAGE_OPEN]),
            "status_history": self.status_history,
        }


_FIELDS = tuple(f.name for f in fields(Alert))
_NOT_STORED = frozenset({"alert_id", "status", "status_history"})
_FACTS = tuple(f.name for f in fields(AlertFacts))


def new_alert(unit: Unit, facts: AlertFacts, *, detected_at: datetime, received_at: datetime) -> Alert:
    """THE alert factory: the one place an ``Alert`` of a unit is made (threats and UTM監視 alike)."""
    detected_at = detected_at.astimezone(UTC)
    return Alert(
        alert_id=alert_id_for(unit.serial_number, facts.source_event, detected_at),
        company_id=unit.company_id,
        unit_id=unit.unit_id,
        unit_name=unit.name,
        serial_number=unit.serial_number,
        mac_address=unit.mac_address,
        detected_at=detected_at,
        received_at=received_at,
        **{name: getattr(facts, name) for name in _FACTS},
    )


def threat_alert(event: ParsedEvent, unit: Unit, outcome: Classification, *, received_at: datetime) -> Alert:
    """The alert of a classified threat of a registered unit."""
    facts = AlertFacts(
        category=outcome.category.name,
        category_key=outcome.category.key,
        severity=outcome.severity,
        summary=outcome.summary,
        explanation=outcome.category.explanation,
        remedy=outcome.category.remedy,
        source_event=event.event_key,
        source_format=event.source_format,
        rule_id=str(getattr(outcome, "rule_id", "") or ""),
        kind=event.kind,
        action=event.action,
        level=event.level,
        signature=event.signature,
        group=event.group,
        source=event.src_ip,
        destination=event.url or event.dst_ip,
        destination_ip=event.dst_ip,
        message=event.message,
        details=event.details,
    )
    return new_alert(unit, facts, detected_at=event.occurred_at, received_at=received_at)


def _uuid_for(alert_id: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"watch:alert:{alert_id}")
