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
# Shared by the gateway (report PDF rendering) and the notifier (monthly report mails).
DEV_RENDER_TOKEN = "dev-render-token-not-for-production"
PLACEHOLDER_SECRETS = frozenset({DEV_SEALING_KEY, DEV_TOKEN_PRIVATE_KEY, DEV_RENDER_TOKEN})


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
