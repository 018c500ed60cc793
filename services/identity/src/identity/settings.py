"""Settings of the identity service, read from ``IDENTITY_*`` environment variables."""

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import DEV_SEALING_KEY, DEV_TOKEN_PRIVATE_KEY, CommonSettings

DEV_OPERATOR_LOGIN = "operator@watch.example"
DEV_OPERATOR_PASSWORD = "Operator#2026-dev"


class Settings(CommonSettings):
    """Configuration of the identity service."""

    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore", populate_by_name=True)

    database: str = "identity"
    portal_url: str = Field(
        default="http://127.0.0.1:8000/", description="Portal address written in the account emails."
    )
    sealing_key: str = Field(default=DEV_SEALING_KEY, description="Fernet key shared with the notifier.")
    token_private_key: str = Field(default=DEV_TOKEN_PRIVATE_KEY, description="Ed25519 key (PEM) for tokens.")
    access_token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    session_ttl_seconds: int = Field(default=12 * 3600, ge=60, description="Lifetime of a logged-in session.")
    setup_session_ttl_seconds: int = Field(
        default=30 * 60, ge=60, description="Lifetime of a session still in first-login setup or 2-step."
    )
    temporary_password_days: int = Field(default=14, ge=1)
    lockout_threshold: int = Field(default=5, ge=1, description="Failed logins in a row that lock.")
    lockout_minutes: int = Field(default=15, ge=1)
    rate_limit_per_login_id: int = Field(
        default=20, ge=1, description="Login attempts per user ID per window."
    )
    rate_limit_per_client: int = Field(default=100, ge=1, description="Login attempts per client per window.")
    rate_limit_window_seconds: int = Field(default=15 * 60, ge=1)
    reissue_limit_per_hour: int = Field(default=5, ge=1, description="Reissues per account per hour.")
    operator_login: str = Field(
        default=DEV_OPERATOR_LOGIN,
        validation_alias=AliasChoices("IDENTITY_OPERATOR_LOGIN", "IDENTITY_OPERATOR_EMAIL"),
    )
    operator_password: str = Field(default=DEV_OPERATOR_PASSWORD)
    operator_name: str = "運用担当者"

    @model_validator(mode="after")
    def _refuse_dev_operator_password(self) -> "Settings":
        if self.app_env == "production" and self.operator_password == DEV_OPERATOR_PASSWORD:
            raise ValueError("operator_password still has its development placeholder; set a real secret")
        return self
