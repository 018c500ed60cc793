"""Settings of the signup service, read from ``SIGNUP_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class Settings(CommonSettings):
    """Configuration of the signup service."""

    model_config = SettingsConfigDict(env_prefix="SIGNUP_", extra="ignore")

    database: str = "signup"
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Portal base URL; confirmation links are <public_url>/signup/confirm/<token>.",
    )
    confirmation_ttl_hours: float = Field(
        default=24.0, gt=0, description="How long a confirmation link works."
    )
    outbox_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often confirmed applications not yet on Kafka are published again.",
    )
