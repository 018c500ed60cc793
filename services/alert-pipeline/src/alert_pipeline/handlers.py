"""Kafka subscribers of the alert pipeline: the raw UTM stream, unit registrations and status changes."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faststream import AckPolicy
from faststream.message import StreamMessage
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from alert_pipeline.consumer import RawStream
from alert_pipeline.ingest import STEPS, BatchResult, IngestService, Rejected, Turn, retry_infrastructure
from alert_pipeline.monitoring import MonitoringService
from alert_pipeline.settings import Settings
from shared.app import ServiceRuntime
from shared.events import UtmRegistered, UtmSeen, UtmStatusChanged
from shared.kafka import consumer_options, publish
from shared.topics import UTM_REGISTERED, UTM_STATUS_CHANGED

log = logging.getLogger(__name__)


class PipelineMetrics:
    """Prometheus counters of the ingest (the benchmark reads ``alert_pipeline_events_total``)."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        registry = runtime.registry
        self.events = Counter("alert_pipeline_events", "Raw records fully processed", registry=registry)
        self.threats = Counter("alert_pipeline_threats", "Threat records seen", registry=registry)
        self.alerts = Counter("alert_pipeline_alerts_created", "Alerts newly stored", registry=registry)
        self.duplicates = Counter(
            "alert_pipeline_alert_duplicates", "Re-delivered alerts ignored", registry=registry
        )
        self.quarantined = Counter(
            "alert_pipeline_quarantined", "Threats of unknown units", registry=registry
        )
        self.rejected = Counter(
            "alert_pipeline_rejected", "Records sent to the dead-letter topic", registry=registry
        )
        self.published = Counter(
            "alert_pipeline_alerts_published", "alert-detected events published", registry=registry
        )

        self.batch_size = Histogram(
            "alert_pipeline_batch_records",
            "Raw records per batch",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000),
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "alert_pipeline_batch_seconds", "Time to process a batch", registry=registry
        )
        self.engine_seconds = Counter(
            "alert_pipeline_engine_seconds", "Time in the engine (decode, classify, count)", registry=registry
        )
        self.store_seconds = Counter(
            "alert_pipeline_store_seconds", "Time waiting for MongoDB while ingesting", registry=registry
        )
        self.step_seconds = Histogram(
            "alert_pipeline_step_seconds",
            "Time of one step of a batch (units, alerts, counts.*, publish, ...); steps may overlap",
            ["step"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        for step in STEPS:
            self.step_seconds.labels(step)

    def record(self, result: BatchResult, seconds: float) -> None:
        self.batch_size.observe(result.events)
        self.batch_seconds.observe(seconds)
        self.engine_seconds.inc(result.engine_seconds)
        self.store_seconds.inc(result.store_seconds)
        for step, step_seconds in result.steps.items():
            self.step_seconds.labels(step).observe(step_seconds)
        self.events.inc(result.events)
        self.threats.inc(result.threats)
        self.alerts.inc(result.new_alerts)
        self.duplicates.inc(result.duplicates)
        self.quarantined.inc(result.quarantined)
        self.rejected.inc(len(result.rejected))
        self.published.inc(result.published)


async def _dead_letter(runtime: ServiceRuntime, rejected: Rejected) -> None:
    record = rejected.record
    letter = runtime.dead_letters.build(
        reason_code=rejected.code,
        reason=rejected.reason,
        payload=record.value,
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
    )
    await retry_infrastructure(lambda: runtime.dead_letters.send(letter), what="dead letter")


def raw_batch_handler(
    runtime: ServiceRuntime, ingest: IngestService, metrics: PipelineMetrics
) -> Callable[[Sequence[Any], Any, Turn | None], Awaitable[None]]:
    """What the raw stream's consumer does with each batch of records."""

    async def on_utm_events(records: Sequence[Any], prepared: Any = None, turn: Turn | None = None) -> None:
        """A batch of raw UTM records; its offsets are committed only after this returns.

        ``prepared``: the engine's outcome for the batch, computed ahead (``IngestService.prepare``);
        ``turn``: its place among the batches in flight.
        A record that cannot be processed goes to the dead-letter topic alone; an unreachable
        MongoDB or Kafka holds the batch here (retried with backoff) instead of rewinding it.
        """
        started = time.perf_counter()
        result: BatchResult = await retry_infrastructure(
            lambda: ingest.process_isolating(records, prepared, turn), what="utm-events batch"
        )
        if result.rejected:
            await asyncio.gather(*(_dead_letter(runtime, r) for r in result.rejected))
        metrics.record(result, time.perf_counter() - started)

    return on_utm_events


def register(
    runtime: ServiceRuntime,
    settings: Settings,
    ingest: IngestService,
    monitoring: MonitoringService,
) -> RawStream:
    """Attach the control topics' subscribers to the runtime's broker; the raw stream's consumer
    (to run for the life of the service) is returned."""
    broker = runtime.broker
    # The raw stream has a consumer group of its own: a long batch must never hold up (or be held up
    # by) a rebalance of the small control topics, and vice versa.
    options = consumer_options(f"{settings.consumer_group}-control", settings.kafka)
    raw = RawStream(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        topic=settings.raw_topic,
        group=settings.consumer_group,
        prepare=ingest.prepare,
        handle=raw_batch_handler(runtime, ingest, PipelineMetrics(runtime)),
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        fetch_max_bytes=settings.fetch_max_bytes,
        max_partition_fetch_bytes=settings.max_partition_fetch_bytes,
        in_flight=settings.batches_in_flight,
        records_in_flight=settings.records_in_flight,
        counts_interval=settings.counts_interval_seconds,
        # Dead letters go out through the broker: the raw stream starts once it is connected.
        ready=lambda: bool(broker.running),
    )

    @broker.subscriber(UTM_REGISTERED, **options)
    async def on_utm_registered(event: UtmRegistered) -> None:
        """Keep the unit → company projection."""
        ingest.units.remember(await monitoring.unit_registered(event))

    # Without a group, so that every instance reads every registration from the time it starts (none
    # is committed): each applies it itself before it forgets what it knew of the companies' units,
    # so that none goes on answering from a list a registration made old elsewhere. Applying one is
    # idempotent; the group's subscriber above applies it once for certain and dead-letters a bad one.
    @broker.subscriber(
        UTM_REGISTERED,
        auto_offset_reset="latest",
        ack_policy=AckPolicy.MANUAL,
        decoder=_raw_body,
        title=f"{UTM_REGISTERED}:every-instance",
    )
    async def on_any_registration(body: bytes) -> None:
        try:
            event = UtmRegistered.model_validate_json(body)
        except ValidationError:
            return
        ingest.units.remember(await monitoring.registration_seen(event))

    @broker.subscriber(UTM_STATUS_CHANGED, **options)
    async def on_utm_status_changed(event: UtmStatusChanged) -> None:
        """Raise or clear the unit's UTM監視 alert."""
        await monitoring.status_changed(event)

    return raw


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    return message.body


async def flush_seen(runtime: ServiceRuntime, ingest: IngestService, every_seconds: float) -> None:
    """Publish the latest time each unit was heard from, at most every ``every_seconds``."""
    while True:
        await asyncio.sleep(every_seconds)
        pending = ingest.seen.take()
        if not pending:
            continue
        try:
            await publish(runtime.broker, UtmSeen(last_seen=pending), key="utm-seen")
        except Exception:
            log.exception("utm-seen summary not published; kept for the next round")
            for serial, moment in pending.items():
                ingest.seen.note(serial, moment)


async def every(seconds: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run ``job`` now and then every ``seconds``; a failure is logged and tried again next time."""
    while True:
        try:
            await job()
        except Exception:
            log.exception(
                "background job failed; trying again", extra={"job": getattr(job, "__qualname__", "")}
            )
        await asyncio.sleep(seconds)
