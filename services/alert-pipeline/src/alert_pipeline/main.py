"""Composition root of the alert-pipeline service."""

from fastapi import FastAPI

from alert_pipeline import api, handlers
from alert_pipeline.classifier import Classifier
from alert_pipeline.ingest import IngestService, Limits
from alert_pipeline.lag import LagMonitor
from alert_pipeline.monitoring import MonitoringService
from alert_pipeline.repository import MongoPipelineStore
from alert_pipeline.settings import Settings
from shared.app import ServiceRuntime, build_app, create_runtime
from shared.events import AlertDetected, DeadLetter, UtmSeen
from shared.kafka import publish

SERVICE = "alert-pipeline"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the alert-pipeline app; nothing connects until its lifespan starts."""
    settings = settings or Settings()
    runtime = create_runtime(SERVICE, settings, publishes=[AlertDetected, UtmSeen, DeadLetter])
    store = MongoPipelineStore(runtime.db, quarantine_ttl_seconds=settings.quarantine_ttl_days * 86_400)

    async def publish_alert(event: AlertDetected) -> None:
        await publish(runtime.broker, event, key=event.company_id)

    ingest = IngestService(
        store=store,
        classifier=Classifier.load(settings.rules_file),
        publish_alert=publish_alert,
        limits=Limits(max_record_bytes=settings.max_record_bytes, max_json_depth=settings.max_json_depth),
    )
    monitoring = MonitoringService(store=store, publish_alert=publish_alert)
    handlers.register(runtime, settings, ingest, monitoring)
    lag = LagMonitor(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group=settings.consumer_group,
        topic=settings.raw_topic,
        stall_seconds=settings.stall_seconds,
        registry=runtime.registry,
    )
    runtime.readiness[f"consumer {settings.consumer_group}"] = lag.problem

    async def start(rt: ServiceRuntime) -> None:
        await store.create_indexes()
        rt.spawn(handlers.flush_seen(rt, ingest, settings.seen_flush_seconds), name="flush-utm-seen")
        rt.spawn(lag.run(min(settings.lag_sample_seconds, settings.stall_seconds / 3)), name="consumer-lag")

    app = build_app(runtime, title="Alert pipeline", routers=[api.router], on_startup=[start])
    app.state.pipeline_store = store
    return app
