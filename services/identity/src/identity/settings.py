"""Settings of the identity service, read from ``IDENTITY_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class Settings(CommonSettings):
    """Configuration of the identity service."""

    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    database: str = "identity"
