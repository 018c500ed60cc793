"""Settings of the notifier service, read from ``NOTIFIER_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class Settings(CommonSettings):
    """Configuration of the notifier service."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    database: str = "notifier"
