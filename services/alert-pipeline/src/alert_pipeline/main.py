"""Composition root of the alert-pipeline service."""

from fastapi import FastAPI

from alert_pipeline import api, api_reports, api_triage, handlers
from alert_pipeline.classifier import Classifier
from alert_pipeline.hotpath import make_engine
from alert_pipeline.ingest import IngestService, Limits, rules_text
from alert_pipeline.lag import LagMonitor
from alert_pipeline.monitoring import MonitoringService
from alert_pipeline.monthly import MonthlyReports
from alert_pipeline.readback import AnnouncementReadBack
from alert_pipeline.reports import ReportReader
from alert_pipeline.repository import MongoPipelineStore
from alert_pipeline.settings import Settings
from shared.app import ServiceRuntime, build_app, create_runtime
from shared.events import AlertDetected, DeadLetter, MonthlyReportReady, UtmSeen, utc_now
from shared.kafka import publish
from shared.labels import CATEGORY_NAMES

SERVICE = "alert-pipeline"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the alert-pipeline app; nothing connects until its lifespan starts."""
    settings = settings or Settings()
    runtime = create_runtime(
        SERVICE, settings, publishes=[AlertDetected, UtmSeen, DeadLetter, MonthlyReportReady]
    )
    store = MongoPipelineStore(runtime.db, quarantine_ttl_seconds=settings.quarantine_ttl_days * 86_400)

    async def publish_alert(event: AlertDetected) -> None:
        await publish(runtime.broker, event, key=event.company_id)

    read_back = AnnouncementReadBack(settings.kafka.bootstrap_servers)
    rules = rules_text(settings.rules_file)
    classifier = Classifier.from_toml(rules)
    ingest = IngestService(
        store=store,
        classifier=classifier,
        publish_alert=publish_alert,
        announced=read_back.announced,
        engine=make_engine(rules),
        in_thread=settings.process_in_thread,
        limits=Limits(max_record_bytes=settings.max_record_bytes, max_json_depth=settings.max_json_depth),
    )
    monitoring = MonitoringService(store=store, publish_alert=publish_alert, announced=read_back.announced)
    raw_stream = handlers.register(runtime, settings, ingest, monitoring)
    lag = LagMonitor(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group=settings.consumer_group,
        topic=settings.raw_topic,
        stall_seconds=settings.stall_seconds,
        registry=runtime.registry,
    )
    runtime.readiness[f"consumer {settings.consumer_group}"] = lag.problem

    category_names = {**CATEGORY_NAMES, **{key: c.name for key, c in classifier.categories.items()}}
    reader = ReportReader(runtime.db)

    async def roll_up() -> None:
        await reader.rollups.run(utc_now())

    async def publish_monthly(event: MonthlyReportReady) -> None:
        await publish(runtime.broker, event, key=event.company_id)

    monthly = MonthlyReports(runtime.db, reader, publish_monthly, category_names, clock=utc_now)

    async def start(rt: ServiceRuntime) -> None:
        await store.create_indexes()
        await api_triage.create_indexes(store)
        rt.spawn(raw_stream.run(), name="utm-events-consumer")
        rt.spawn(handlers.flush_seen(rt, ingest, settings.seen_flush_seconds), name="flush-utm-seen")
        rt.spawn(lag.run(min(settings.lag_sample_seconds, settings.stall_seconds / 3)), name="consumer-lag")
        await reader.rollups.ensure_indexes()
        await monthly.ensure_indexes()
        rt.spawn(handlers.every(settings.rollup_seconds, roll_up), name="daily-rollups")
        rt.spawn(handlers.every(settings.monthly_check_seconds, monthly.check), name="monthly-reports")

    app = build_app(
        runtime,
        title="Alert pipeline",
        routers=[api.router, api_reports.router, api_triage.router],
        on_startup=[start],
    )
    app.state.pipeline_store = store
    app.state.category_names = category_names
    app.state.report_reader = reader
    app.state.monthly_reports = monthly
    return app
