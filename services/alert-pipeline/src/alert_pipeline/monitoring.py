"""Unit registrations and the UTM監視 alert raised when a unit goes silent."""

from datetime import UTC, datetime
from typing import Any

from alert_pipeline.ingest import AlertPublisher
from alert_pipeline.models import MONITORING_CATEGORY, Unit, alert_detected, alert_id_for
from alert_pipeline.repository import MongoPipelineStore
from shared.events import UtmRegistered, UtmStatusChanged

OFFLINE_SEVERITY = 2
OFFLINE_SUMMARY = "UTMからの通信が途絶えています。"
OFFLINE_EXPLANATION = (
    "一定時間以上UTMからの通信を受信できていません。UTMの電源が切れている、ケーブルが外れている、"
    "またはインターネット回線に障害が発生している可能性があります。この間、脅威の検知と通知が行われません。"
)
OFFLINE_REMEDY = (
    "UTMの電源ランプとケーブルの接続状態を確認し、UTMを再起動してください。"
    "復旧しない場合は、相談窓口へお問い合わせください"
)


class MonitoringService:
    """Keeps the unit projection and the offline alerts."""

    def __init__(self, *, store: MongoPipelineStore, publish_alert: AlertPublisher) -> None:
        self.store = store
        self.publish_alert = publish_alert

    async def unit_registered(self, event: UtmRegistered) -> Unit:
        """Remember which company a unit belongs to; its threats now become alerts."""
        unit = Unit(
            serial_number=event.serial_number,
            unit_id=event.unit_id,
            company_id=event.company_id,
            name=event.name,
            mac_address=event.mac_address,
        )
        await self.store.upsert_unit(unit)
        return unit

    async def status_changed(self, event: UtmStatusChanged) -> None:
        """Offline: raise a ★★☆ UTM監視 alert (once per change). Online: clear it."""
        if event.status == "online":
            await self.store.clear_alerts(
                unit_id=event.unit_id, category=MONITORING_CATEGORY, cleared_at=event.occurred_at
            )
            return
        doc = offline_alert(event)
        await self.store.insert_alert(doc)
        for pending in await self.store.unnotified([doc["_id"]]):
            await self.publish_alert(alert_detected(pending))
            await self.store.mark_notified([pending["_id"]])


def offline_alert(event: UtmStatusChanged) -> dict[str, Any]:
    """The stored alert for a unit that went offline."""
    detected_at = event.occurred_at.astimezone(UTC)
    return {
        "_id": alert_id_for(event.serial_number, f"offline:{event.event_id}", detected_at),
        "company_id": event.company_id,
        "unit_id": event.unit_id,
        "unit_name": event.name,
        "serial_number": event.serial_number,
        "mac_address": event.mac_address,
        "category": MONITORING_CATEGORY,
        "category_key": "monitoring",
        "severity": OFFLINE_SEVERITY,
        "kind": "offline",
        "action": "",
        "level": "",
        "signature": "オフライン",
        "group": "",
        "source": "",
        "destination": "",
        "message": "",
        "summary": OFFLINE_SUMMARY,
        "explanation": OFFLINE_EXPLANATION,
        "remedy": OFFLINE_REMEDY,
        "detected_at": detected_at,
        "received_at": datetime.now(UTC),
        "last_seen_at": event.last_seen_at,
        "source_format": "status",
        "source_event": str(event.event_id),
        "details": {},
        "cleared_at": None,
    }
