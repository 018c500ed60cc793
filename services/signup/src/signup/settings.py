"""Settings of the signup service, read from ``SIGNUP_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class Settings(CommonSettings):
    """Configuration of the signup service."""

    model_config = SettingsConfigDict(env_prefix="SIGNUP_", extra="ignore")

    database: str = "signup"
