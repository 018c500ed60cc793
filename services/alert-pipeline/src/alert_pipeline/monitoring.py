"""Unit registrations and the UTM監視 alert raised when a unit goes silent."""

from datetime import UTC, datetime

from alert_pipeline.ingest import AlertPublisher, AnnouncedCheck
from alert_pipeline.models import (
    MONITORING_CATEGORY,
    MONITORING_CATEGORY_KEY,
    Alert,
    AlertFacts,
    Unit,
    new_alert,
)
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

    def __init__(
        self,
        *,
        store: MongoPipelineStore,
        publish_alert: AlertPublisher,
        announced: AnnouncedCheck | None = None,
    ) -> None:
        """``announced``: as the ingest's, for an alert stored earlier but not recorded as announced."""
        self.store = store
        self.publish_alert = publish_alert
        self.announced = announced

    async def unit_registered(self, event: UtmRegistered) -> Unit:
        """Remember which company a unit belongs to; its threats now become alerts."""
        unit = _unit_of(event)
        await self.store.upsert_unit(unit)
        return unit

    async def registration_seen(self, event: UtmRegistered) -> Unit:
        """A registration as every instance reads it: applied here too, and this process's lists of
        the companies' units forgotten, even when the write fails (the group's will land)."""
        try:
            return await self.unit_registered(event)
        finally:
            self.store.forget_unit_ids()

    async def status_changed(self, event: UtmStatusChanged) -> None:
        """Offline: raise a ★★☆ UTM監視 alert (once per change). Online: clear it."""
        if event.status == "online":
            await self.store.clear_alerts(
                unit_id=event.unit_id, category=MONITORING_CATEGORY, cleared_at=event.occurred_at
            )
            return
        alert = offline_alert(event)
        if await self.store.insert_alert(alert):
            due = [alert]
        else:  # a redelivered change: announced unless recorded, or found on the topic
            due = await self.store.unnotified([alert.alert_id])
            if due and self.announced is not None and await self.announced(due):
                due = []
        for pending in due:
            await self.publish_alert(pending.detected_event())
        await self.store.mark_notified([alert.alert_id])


def offline_alert(event: UtmStatusChanged, *, received_at: datetime | None = None) -> Alert:
    """The alert of a unit that went offline."""
    facts = AlertFacts(
        category=MONITORING_CATEGORY,
        category_key=MONITORING_CATEGORY_KEY,
        severity=OFFLINE_SEVERITY,
        summary=OFFLINE_SUMMARY,
        explanation=OFFLINE_EXPLANATION,
        remedy=OFFLINE_REMEDY,
        source_event=f"offline:{event.event_id}",
        source_format="status",
        kind="offline",
        signature="オフライン",
        last_seen_at=event.last_seen_at,
    )
    return new_alert(
        _unit_of(event), facts, detected_at=event.occurred_at, received_at=received_at or datetime.now(UTC)
    )


def _unit_of(event: UtmRegistered | UtmStatusChanged) -> Unit:
    return Unit(
        serial_number=event.serial_number,
        unit_id=event.unit_id,
        company_id=event.company_id,
        name=event.name,
        mac_address=event.mac_address,
    )
