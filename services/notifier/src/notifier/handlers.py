"""Kafka subscribers of the notifier: validate the event, call the use case."""

import shared.topics as topics
from notifier.service import Notifier
from shared.app import ServiceRuntime
from shared.events import (
    AccountEmailChanged,
    AccountProvisioned,
    AlertDetected,
    ApplicationConfirmationRequested,
    NotificationRequested,
    PasswordReissued,
    SendSmsCode,
)
from shared.kafka import consumer_options


def register(runtime: ServiceRuntime, notifier: Notifier, *, group: str) -> None:
    """Subscribe the notifier's consumers (one consumer group, ``notifier`` by default) on the broker."""
    broker = runtime.broker
    options = consumer_options(group, runtime.settings.kafka)

    @broker.subscriber(topics.APPLICATION_CONFIRMATION_REQUESTED, **options)
    async def on_application_confirmation_requested(event: ApplicationConfirmationRequested) -> None:
        await notifier.application_confirmation_requested(event)

    @broker.subscriber(topics.ACCOUNT_PROVISIONED, **options)
    async def on_account_provisioned(event: AccountProvisioned) -> None:
        await notifier.account_provisioned(event)

    @broker.subscriber(topics.ACCOUNT_EMAIL_CHANGED, **options)
    async def on_account_email_changed(event: AccountEmailChanged) -> None:
        await notifier.account_email_changed(event)

    @broker.subscriber(topics.PASSWORD_REISSUED, **options)
    async def on_password_reissued(event: PasswordReissued) -> None:
        await notifier.password_reissued(event)

    @broker.subscriber(topics.SMS_CODE_REQUESTED, **options)
    async def on_sms_code_requested(event: SendSmsCode) -> None:
        await notifier.send_sms_code(event)

    @broker.subscriber(topics.ALERT_DETECTED, **options)
    async def on_alert_detected(event: AlertDetected) -> None:
        await notifier.alert_detected(event)

    @broker.subscriber(topics.NOTIFICATION_REQUESTED, **options)
    async def on_notification_requested(event: NotificationRequested) -> None:
        await notifier.notification_requested(event)
