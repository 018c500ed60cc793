"""Domain of the alert pipeline: units it knows, alerts and their stable ids."""

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alert_pipeline.classifier import Classification
from alert_pipeline.parsing import ParsedEvent
from shared import labels
from shared.events import AlertDetected
from shared.labels import JST, TRIAGE_OPEN, TRIAGE_STATUSES

# The name stored in alerts of the service's own UTM監視 category.
MONITORING_CATEGORY = labels.SERVICE_CATEGORIES[labels.MONITORING_CATEGORY]
IMPORTANT_SEVERITY = labels.IMPORTANT_SEVERITY


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


def alert_document(
    event: ParsedEvent, unit: Unit, outcome: Classification, *, received_at: datetime
) -> dict[str, Any]:
    """The stored alert for a classified threat of a registered unit."""
    return {
        "_id": alert_id_for(event.serial_number, event.event_key, event.occurred_at),
        "company_id": unit.company_id,
        "unit_id": unit.unit_id,
        "unit_name": unit.name,
        "serial_number": unit.serial_number,
        "mac_address": unit.mac_address,
        "category": outcome.category.name,
        "category_key": outcome.category.key,
        "severity": outcome.severity,
        "kind": event.kind,
        "action": event.action,
        "level": event.level,
        "signature": event.signature,
        "group": event.group,
        "source": event.src_ip,
        "destination": event.url or event.dst_ip,
        "destination_ip": event.dst_ip,
        "message": event.message,
        "summary": outcome.summary,
        "explanation": outcome.category.explanation,
        "remedy": outcome.category.remedy,
        "detected_at": event.occurred_at,
        "received_at": received_at,
        "source_format": event.source_format,
        "source_event": event.event_key,
        "details": event.details,
    }


def alert_detected(doc: dict[str, Any]) -> AlertDetected:
    """The ``alert-detected`` event of a stored alert; its event id is derived from the alert id."""
    return AlertDetected(
        event_id=_uuid_for(doc["_id"]),
        alert_id=doc["_id"],
        company_id=doc["company_id"],
        unit_id=doc["unit_id"],
        unit_name=doc["unit_name"],
        mac_address=doc["mac_address"],
        category=doc["category"],
        severity=doc["severity"],
        signature=doc.get("signature", ""),
        source=doc.get("source", ""),
        destination=doc.get("destination", ""),
        action=doc.get("action", ""),
        summary=doc["summary"],
        explanation=doc["explanation"],
        remedy=doc["remedy"],
        detected_at=doc["detected_at"],
    )


def _uuid_for(alert_id: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"watch:alert:{alert_id}")


def severity_label(severity: int) -> str:
    """★★☆(中) and friends."""
    return labels.severity_label(severity)


def public_alert(doc: dict[str, Any]) -> dict[str, Any]:
    """The alert as the customer API returns it."""
    return {
        "alert_id": doc["_id"],
        "unit_id": doc["unit_id"],
        "unit_name": doc["unit_name"],
        "serial_number": doc["serial_number"],
        "mac_address": doc["mac_address"],
        "category": doc["category"],
        "severity": doc["severity"],
        "severity_label": severity_label(doc["severity"]),
        "signature": doc.get("signature", ""),
        "action": doc.get("action", ""),
        "source": doc.get("source", ""),
        "destination": doc.get("destination", ""),
        "summary": doc["summary"],
        "explanation": doc["explanation"],
        "remedy": doc["remedy"],
        "detected_at": doc["detected_at"],
        "cleared_at": doc.get("cleared_at"),
        "status": doc.get("status") or TRIAGE_OPEN,
        "status_label": TRIAGE_STATUSES[doc.get("status") or TRIAGE_OPEN],
        "status_history": doc.get("status_history", []),
    }
