"""Settings pieces every service composes into its own ``BaseSettings``."""

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import keys

Environment = Literal["development", "test", "production"]

# Secrets that ship with the repository so that `make run` works out of the box. They are refused
# anywhere but development and test, so production must set real ones. Signing keys are not among
# them: development keys are generated per checkout under .state/keys/ (see shared.keys).
DEV_SEALING_KEY = "EKTi-jRSbmpK5H7abnz9_Zi__16oilpwX5jGnDJj5Zg="
DEV_GATEWAY_SECRET = "development-gateway-service-token"
# Shared by the gateway (report PDF rendering) and the notifier (monthly report mails).
DEV_RENDER_TOKEN = "dev-render-token-not-for-production"
PLACEHOLDER_SECRETS = frozenset({DEV_SEALING_KEY, DEV_GATEWAY_SECRET, DEV_RENDER_TOKEN})


def __getattr__(name: str) -> str:
    # The development token keys of this checkout, for tests that sign or verify tokens themselves.
    if name == "DEV_TOKEN_PRIVATE_KEY":
        return keys.dev_token_private_key()
    if name == "DEV_TOKEN_PUBLIC_KEY":
        return keys.dev_token_public_key()
    raise AttributeError(name)


class KafkaSettings(BaseSettings):
    """Where Kafka is."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    session_timeout_ms: int = Field(default=10_000, ge=6_000)


class MongoSettings(BaseSettings):
    """Where MongoDB is; each service names its own database."""

    model_config = SettingsConfigDict(env_prefix="MONGODB_", extra="ignore")

    uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"


class ServiceSettings(BaseSettings):
    """Fields every service has, the gateway (no Kafka, no MongoDB) included."""

    model_config = SettingsConfigDict(extra="ignore")

    app_env: Environment = Field(default="development", validation_alias="APP_ENV")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    metrics_token: str | None = Field(
        default=None,
        validation_alias="METRICS_TOKEN",
        description="Bearer token /metrics asks for; without one, /metrics answers only outside production.",
    )
    token_public_key: str = Field(
        default="",
        validation_alias="AUTH_TOKEN_PUBLIC_KEY",
        description=(
            "Ed25519 public key(s) (PEM, several one after another while keys rotate) that verify the "
            "access tokens identity signs. Development and test generate one under .state/keys/."
        ),
    )
    token_public_key_file: str = Field(
        default="",
        validation_alias="AUTH_TOKEN_PUBLIC_KEY_FILE",
        description="File holding the public key(s) instead (e.g. a container secret).",
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> "ServiceSettings":
        if self.app_env == "production":
            for name, value in self:
                if isinstance(value, str) and value in PLACEHOLDER_SECRETS:
                    raise ValueError(f"{name} still has its development placeholder; set a real secret")
        return self

    @model_validator(mode="after")
    def _resolve_token_public_keys(self) -> "ServiceSettings":
        if not self.token_public_key and self.token_public_key_file:
            self.token_public_key = keys.read_secret_file(self.token_public_key_file)
        if not self.token_public_key:
            if self.app_env == "production":
                raise ValueError(
                    "AUTH_TOKEN_PUBLIC_KEY (or AUTH_TOKEN_PUBLIC_KEY_FILE) is required in production"
                )
            self.token_public_key = keys.dev_token_public_key()
        keys.load_public_keys(self.token_public_key)  # refuses unreadable and compromised keys
        return self


class CommonSettings(ServiceSettings):
    """A service with a database and Kafka. Subclasses set ``env_prefix`` and a default ``database``."""

    database: str
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)


class BrandSettings(BaseSettings):
    """What a deployment shows of itself: the service is resold by different organisations.

    Read from ``BRAND_*`` and ``DESK_*`` variables by every service that shows them (portal pages, mails).
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = Field(default="セキュリティサービスポータル", validation_alias="BRAND_SERVICE_NAME")
    operator_name: str = Field(
        default="サイバーセキュリティ見守りサービス運営事務局", validation_alias="BRAND_OPERATOR_NAME"
    )
    portal_url: str = Field(default="http://127.0.0.1:8000", validation_alias="BRAND_PORTAL_URL")
    desk_email: str = Field(default="otasuketai@osaka.cci.or.jp", validation_alias="DESK_EMAIL")
    desk_phone: str = Field(default="0120-049-318", validation_alias="DESK_PHONE")
    desk_hours: str = Field(default="平日9:00-18:00", validation_alias="DESK_HOURS")
