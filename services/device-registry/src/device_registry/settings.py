"""Settings of the device-registry service, read from ``DEVICE_REGISTRY_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class Settings(CommonSettings):
    """Configuration of the device-registry service."""

    model_config = SettingsConfigDict(env_prefix="DEVICE_REGISTRY_", extra="ignore")

    database: str = "device-registry"
    offline_after_minutes: float = Field(
        default=10, gt=0, description="Silence after which a unit is offline."
    )
    sweep_seconds: float = Field(default=30, gt=0, description="How often units are checked for silence.")
    registration_failure_limit: int = Field(default=5, ge=1, description="Wrong codes allowed per window.")
    registration_failure_window_minutes: int = Field(default=15, ge=1)
