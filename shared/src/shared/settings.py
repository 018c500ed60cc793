"""Settings pieces every service composes into its own ``BaseSettings``."""

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]

# Secrets that ship with the repository so that `make run` works out of the box. They are refused
# anywhere but development and test, so production must set real ones.
DEV_SEALING_KEY = "EKTi-jRSbmpK5H7abnz9_Zi__16oilpwX5jGnDJj5Zg="
DEV_TOKEN_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKnbEXl5h55ZoTikwxdXNcDg5jUTpNkj7FvyIRQ1TVTr
-----END PRIVATE KEY-----"""
DEV_TOKEN_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAxO6EJMKGYYY5hT4evLJTjR3E1EktYTEM1PIzDqfPImg=
-----END PUBLIC KEY-----"""
PLACEHOLDER_SECRETS = frozenset({DEV_SEALING_KEY, DEV_TOKEN_PRIVATE_KEY})


class KafkaSettings(BaseSettings):
    """Where Kafka is."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    session_timeout_ms: int = Field(default=10_000, ge=6_000)


class MongoSettings(BaseSettings):
    """Where MongoDB is; each service names its own database."""

    model_config = SettingsConfigDict(env_prefix="MONGODB_", extra="ignore")

    uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"


class CommonSettings(BaseSettings):
    """Fields every service has. Subclasses set ``env_prefix`` and a default ``database``."""

    model_config = SettingsConfigDict(extra="ignore")

    app_env: Environment = Field(default="development", validation_alias="APP_ENV")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    database: str
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    token_public_key: str = Field(
        default=DEV_TOKEN_PUBLIC_KEY,
        validation_alias="AUTH_TOKEN_PUBLIC_KEY",
        description="Ed25519 public key (PEM) that verifies the access tokens identity signs.",
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> "CommonSettings":
        if self.app_env == "production":
            for name, value in self:
                if isinstance(value, str) and value in PLACEHOLDER_SECRETS:
                    raise ValueError(f"{name} still has its development placeholder; set a real secret")
        return self


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
