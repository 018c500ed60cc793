"""Composition root of the notifier service."""

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from fastapi import FastAPI

from notifier import api, api_preferences, handlers
from notifier.deliveries import BufferedDeliveryLog, DeliveryRepository
from notifier.dispatcher import Dispatcher, NotifierMetrics, RetryPolicy
from notifier.grouping import AlertGrouper, MongoAlertGroupStore
from notifier.monthly import MonthlyMailer, MonthlyReportPreferences, gateway_pdf
from notifier.recipients import RecipientDirectory
from notifier.rendering import set_brand
from notifier.senders import SmtpPool, create_sms_sender
from notifier.service import Notifier
from notifier.settings import Settings
from shared.app import ServiceRuntime, build_app, create_runtime
from shared.events import utc_now
from shared.sealing import Sealer

SERVICE = "notifier"

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the notifier app; nothing connects until its lifespan starts."""
    settings = settings or Settings()
    runtime = create_runtime(SERVICE, settings)
    set_brand(settings.brand)
    # Identifies this process's claims on deliveries, so a successor can tell them apart.
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    deliveries = DeliveryRepository(runtime.db, stale_after=timedelta(seconds=settings.stale_sending_seconds))
    groups = MongoAlertGroupStore(runtime.db)
    recipients = RecipientDirectory(runtime.db)
    smtp = SmtpPool(
        host=settings.smtp_host,
        port=settings.smtp_port,
        size=settings.smtp_connections,
        timeout=settings.smtp_timeout_seconds,
    )
    delivery_log = BufferedDeliveryLog(deliveries)
    dispatcher = Dispatcher(
        deliveries=delivery_log,
        mailer=smtp,
        sms=create_sms_sender(settings.sms_backend, outbox_dir=settings.sms_outbox_dir),
        mail_from=settings.mail_from,
        owner=owner,
        metrics=NotifierMetrics(runtime.registry),
        retry=RetryPolicy(
            max_attempts=settings.send_max_attempts,
            backoff_seconds=settings.send_backoff_seconds,
            backoff_max_seconds=settings.send_backoff_max_seconds,
            outage_seconds=settings.send_outage_seconds,
        ),
        workers=settings.smtp_connections,
    )
    notifier = Notifier(
        deliveries=deliveries,
        dispatcher=dispatcher,
        recipients=recipients,
        grouper=AlertGrouper(
            groups, window=timedelta(seconds=settings.alert_group_window_seconds), clock=utc_now
        ),
        sealer=Sealer(settings.sealing_key),
        owner=owner,
        portal_url=settings.portal_url,
        window_minutes=max(1, round(settings.alert_group_window_seconds / 60)),
        digest_threshold=settings.alert_digest_threshold,
        digest_gather=timedelta(seconds=settings.alert_digest_gather_seconds),
        clock=utc_now,
    )
    handlers.register(runtime, notifier, group=settings.consumer_group)
    preferences = MonthlyReportPreferences(runtime.db)
    gateway = httpx.AsyncClient(base_url=settings.gateway_url, timeout=60.0)
    monthly = MonthlyMailer(
        runtime.db,
        mailer=smtp,
        pdf=gateway_pdf(gateway, settings.render_token),
        preferences=preferences,
        mail_from=settings.mail_from,
        portal_url=settings.portal_url,
        clock=utc_now,
    )
    handlers.register_monthly(runtime, monthly, group=settings.consumer_group)

    async def start(runtime: ServiceRuntime) -> None:
        await deliveries.ensure_indexes()
        await groups.ensure_indexes()
        await recipients.ensure_indexes()
        await monthly.ensure_indexes()
        delivery_log.start()
        dispatcher.start()
        runtime.spawn(smtp.warm(), name="smtp-warm-up")
        runtime.spawn(
            _every(settings.alert_group_check_seconds, notifier.flush_alert_groups), name="alert-group-flush"
        )
        runtime.spawn(
            _every(settings.sweep_interval_seconds, notifier.resend_abandoned), name="delivery-sweep"
        )

    async def stop(runtime: ServiceRuntime) -> None:
        await dispatcher.stop()
        await delivery_log.stop()
        await smtp.close()
        await gateway.aclose()

    app = build_app(
        runtime,
        title="Notifier",
        routers=[api.router, api_preferences.router],
        on_startup=[start],
        on_shutdown=[stop],
    )
    app.state.deliveries = deliveries
    app.state.notifier = notifier
    app.state.report_preferences = preferences
    app.state.monthly_mailer = monthly
    return app


async def _every(seconds: float, job: Callable[[], Awaitable[object]]) -> None:
    while True:
        try:
            await job()
        except Exception:
            log.exception("background job failed; trying again", extra={"job": getattr(job, "__name__", "")})
        await asyncio.sleep(seconds)
