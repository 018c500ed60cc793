"""Settings of the gateway service, read from ``GATEWAY_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class Settings(CommonSettings):
    """Configuration of the gateway service."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    database: str = "gateway"
