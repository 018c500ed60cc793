"""Settings of the device-registry service, read from ``DEVICE_REGISTRY_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class Settings(CommonSettings):
    """Configuration of the device-registry service."""

    model_config = SettingsConfigDict(env_prefix="DEVICE_REGISTRY_", extra="ignore")

    database: str = "device-registry"
