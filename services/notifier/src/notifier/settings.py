"""Settings of the notifier service, read from ``NOTIFIER_*`` environment variables.

The mail server and the SMS outbox are shared with the scripts and tests, so they also answer to the
unprefixed ``SMTP_HOST``, ``SMTP_PORT`` and ``SMS_OUTBOX_DIR``.
"""

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import DEV_RENDER_TOKEN, DEV_SEALING_KEY, BrandSettings, CommonSettings


class Settings(CommonSettings):
    """Configuration of the notifier service."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", populate_by_name=True)

    database: str = "notifier"
    consumer_group: str = Field(default="notifier", description="Kafka consumer group of the notifier.")

    smtp_host: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("NOTIFIER_SMTP_HOST", "SMTP_HOST")
    )
    smtp_port: int = Field(default=1025, validation_alias=AliasChoices("NOTIFIER_SMTP_PORT", "SMTP_PORT"))
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    smtp_connections: int = Field(
        default=8, ge=1, le=32, description="Warm SMTP connections, i.e. messages sent concurrently."
    )
    mail_from: str = "セキュリティサービスポータル <noreply@watch.example.jp>"

    send_max_attempts: int = Field(
        default=5, ge=1, description="Tries of a send before it is recorded failed."
    )
    send_backoff_seconds: float = Field(default=1.0, ge=0, description="First retry pause; doubles each try.")
    send_backoff_max_seconds: float = Field(default=30.0, ge=0)
    send_outage_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="While the mail relay cannot be reached, a send keeps trying this long before its "
        "tries count toward send_max_attempts.",
    )
    stale_sending_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A delivery left 'sending' this long (its process died) is sent again by the sweeper.",
    )
    sweep_interval_seconds: float = Field(default=5.0, gt=0)

    sealing_key: str = Field(default=DEV_SEALING_KEY, description="Fernet key that opens sealed secrets.")

    sms_backend: Literal["outbox"] = Field(
        default="outbox", description="Where SMS go: 'outbox' writes JSON files (development and tests)."
    )
    sms_outbox_dir: str = Field(
        default=".state/sms", validation_alias=AliasChoices("NOTIFIER_SMS_OUTBOX_DIR", "SMS_OUTBOX_DIR")
    )

    alert_group_window_seconds: float = Field(
        default=600.0, gt=0, description="Repeats of one alert within this window make a single follow-up."
    )
    alert_group_check_seconds: float = Field(default=2.0, gt=0)
    gateway_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=AliasChoices("NOTIFIER_GATEWAY_URL", "GATEWAY_URL"),
        description="The gateway, which renders the monthly report PDF.",
    )
    render_token: str = Field(
        default=DEV_RENDER_TOKEN,
        validation_alias=AliasChoices("NOTIFIER_RENDER_TOKEN", "REPORT_RENDER_TOKEN"),
        description="Secret shown to the gateway to have a report PDF rendered.",
    )
    alert_digest_threshold: int = Field(
        default=3,
        ge=1,
        description="More follow-ups than this for one recipient at once are gathered into one digest mail.",
    )
    alert_digest_gather_seconds: float = Field(
        default=5.0, ge=0, description="Follow-ups wait this long for the other groups of a burst to close."
    )
    portal_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the portal, for links in alert mails."
    )
    brand: BrandSettings = Field(
        default_factory=BrandSettings, description="Desk, service and operator names shown in every mail."
    )
