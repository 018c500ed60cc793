"""Kafka subscribers of the notifier: validate the event, call the use case."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

import shared.topics as topics
from notifier.monthly import MonthlyMailer
from notifier.service import Notifier
from shared.app import ServiceRuntime
from shared.events import (
    AccountEmailChanged,
    AccountProvisioned,
    AlertDetected,
    ApplicationConfirmationRequested,
    Event,
    MonthlyReportReady,
    NoticePublished,
    NotificationRequested,
    PasswordReissued,
    SendSmsCode,
)
from shared.kafka import PoisonMessage, consumer_options


def register(runtime: ServiceRuntime, notifier: Notifier, *, group: str) -> None:
    """Subscribe the notifier's consumers (one consumer group, ``notifier`` by default) on the broker."""
    broker = runtime.broker
    options = consumer_options(group, runtime.settings.kafka)

    routes: dict[str, tuple[type[Event], Callable[[Any], Awaitable[None]]]] = {
        ApplicationConfirmationRequested.TOPIC: (
            ApplicationConfirmationRequested,
            notifier.application_confirmation_requested,
        ),
        AccountProvisioned.TOPIC: (AccountProvisioned, notifier.account_provisioned),
        AccountEmailChanged.TOPIC: (AccountEmailChanged, notifier.account_email_changed),
        PasswordReissued.TOPIC: (PasswordReissued, notifier.password_reissued),
        SendSmsCode.TOPIC: (SendSmsCode, notifier.send_sms_code),
        NotificationRequested.TOPIC: (NotificationRequested, notifier.notification_requested),
        NoticePublished.TOPIC: (NoticePublished, notifier.notice_published),
    }

    # One consumer for all the low-volume topics: each consumer of a group costs a rebalance at start-up.
    @broker.subscriber(*routes, **options)
    async def on_event(payload: dict[str, Any]) -> None:
        kind = payload.get("event_type") if isinstance(payload, dict) else None
        if kind not in routes:
            raise PoisonMessage(f"unexpected event type {kind!r}")
        model, use_case = routes[kind]
        await use_case(model.model_validate(payload))

    # Alerts come in batches so that a burst is placed and mailed concurrently, not one by one.
    @broker.subscriber(topics.ALERT_DETECTED, batch=True, max_records=500, batch_timeout_ms=50, **options)
    async def on_alerts_detected(payloads: list[dict[str, Any]]) -> None:
        alerts: list[AlertDetected] = []
        for payload in payloads:
            try:
                alerts.append(AlertDetected.model_validate(payload))
            except ValidationError as exc:
                # One malformed alert must not send its whole batch to the dead-letter topic.
                await runtime.dead_letters.reject(
                    reason_code="invalid-event",
                    reason=f"{type(exc).__name__}: {exc}",
                    payload=json.dumps(payload, ensure_ascii=False),
                    source_topic=topics.ALERT_DETECTED,
                )
        await notifier.alerts_detected(alerts)


def register_monthly(runtime: ServiceRuntime, mailer: MonthlyMailer, *, group: str) -> None:
    """The monthly report mails, on a consumer of their own (a PDF per company takes a while)."""
    options = consumer_options(f"{group}-monthly", runtime.settings.kafka)

    @runtime.broker.subscriber(topics.MONTHLY_REPORT_READY, **options)
    async def on_monthly_report_ready(event: MonthlyReportReady) -> None:
        await mailer.report_ready(event)
