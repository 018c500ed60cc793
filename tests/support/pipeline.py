"""The alert pipeline's alert API over a real MongoDB, without Kafka: for triage and console tests."""

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from alert_pipeline import api, api_triage
from alert_pipeline.models import Alert, Unit
from alert_pipeline.repository import MongoPipelineStore
from shared.settings import DEV_TOKEN_PUBLIC_KEY


def alert_api(store: MongoPipelineStore) -> FastAPI:
    """The pipeline's alert and triage routes on ``store``."""
    app = FastAPI()
    app.include_router(api.router)
    app.include_router(api_triage.router)
    app.state.token_public_key = DEV_TOKEN_PUBLIC_KEY
    app.state.pipeline_store = store
    return app


async def store_alert(
    store: MongoPipelineStore, alert_id: str, company_id: str, severity: int, *, detected_at: datetime
) -> None:
    """One alert of the company's unit 本社 (the unit is stored too)."""
    unit = Unit(f"SER-{company_id}", f"U-{company_id}", company_id, "本社", "00:09:0F:00:00:01")
    await store.upsert_unit(unit)
    doc: dict[str, Any] = {
        "_id": alert_id, "company_id": company_id, "unit_id": unit.unit_id, "unit_name": unit.name,
        "serial_number": unit.serial_number, "mac_address": unit.mac_address, "category": "Webガード",
        "category_key": "webfilter", "severity": severity, "signature": "sig", "summary": "概要",
        "explanation": "説明", "remedy": "対処", "detected_at": detected_at,
        "source_event": alert_id, "source_format": "test", "received_at": datetime.now(UTC),
    }  # fmt: skip
    assert await store.insert_alert(Alert.from_document(doc))
