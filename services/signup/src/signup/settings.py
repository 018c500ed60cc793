"""Settings of the signup service, read from ``SIGNUP_*`` environment variables."""

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings

# Also the gateway's default (GATEWAY_SIGNUP_SECRET); refused in production.
DEV_GATEWAY_SECRET = "development-gateway-signup-secret"


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
    gateway_secret: str = Field(
        default=DEV_GATEWAY_SECRET,
        description="Shared with the gateway: a request carrying it in X-Gateway-Secret may name the "
        "browser's address in X-Client-Address.",
    )
    mails_per_client_per_hour: int = Field(
        default=10, ge=1, description="Confirmation mails one client address may cause per hour."
    )
    mails_per_email_per_hour: int = Field(
        default=3, ge=1, description="Confirmation mails one email address may receive per hour."
    )

    @model_validator(mode="after")
    def _real_gateway_secret_in_production(self) -> "Settings":
        if self.app_env == "production" and self.gateway_secret == DEV_GATEWAY_SECRET:
            raise ValueError("gateway_secret still has its development placeholder; set a real secret")
        return self
