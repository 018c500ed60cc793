"""Settings of the alert-pipeline service, read from ``ALERT_PIPELINE_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class Settings(CommonSettings):
    """Configuration of the alert-pipeline service."""

    model_config = SettingsConfigDict(env_prefix="ALERT_PIPELINE_", extra="ignore")

    database: str = "alert-pipeline"
