"""Settings of the support service, read from ``SUPPORT_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import BrandSettings, CommonSettings


class Settings(CommonSettings):
    """Configuration of the support service."""

    model_config = SettingsConfigDict(env_prefix="SUPPORT_", extra="ignore")

    database: str = "support"
    consumer_group: str = Field(default="support", description="Kafka consumer group of the support service.")
    brand: BrandSettings = Field(default_factory=BrandSettings)
    attachment_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0, description="Largest attachment.")
    notice_sweep_seconds: float = Field(
        default=30, gt=0, description="How often 重要 notices whose publication started are mailed."
    )
