"""Settings of the gateway service, read from ``GATEWAY_*`` environment variables."""

from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import BrandSettings, CommonSettings


def _url(service_env: str, port: int) -> Any:
    return Field(
        default=f"http://127.0.0.1:{port}",
        validation_alias=AliasChoices(f"GATEWAY_{service_env}", service_env),
        description=f"Base URL of a backend service (env {service_env}).",
    )


class Settings(CommonSettings):
    """Configuration of the gateway service."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    database: str = "gateway"
    signup_url: str = _url("SIGNUP_URL", 8001)
    identity_url: str = _url("IDENTITY_URL", 8002)
    device_registry_url: str = _url("DEVICE_REGISTRY_URL", 8003)
    alert_pipeline_url: str = _url("ALERT_PIPELINE_URL", 8004)
    notifier_url: str = _url("NOTIFIER_URL", 8005)
    support_url: str = _url("SUPPORT_URL", 8007)
    brand: BrandSettings = Field(default_factory=BrandSettings)
    backend_timeout_seconds: float = Field(default=10.0, gt=0)

    session_cookie: str = "watch_session"
    csrf_cookie: str = "watch_csrf"
    cookie_secure: bool | None = Field(
        default=None, description="Send cookies only over HTTPS; by default everywhere but development."
    )
    session_max_age_seconds: int = Field(default=12 * 3600, gt=0)
    operator_idle_minutes: float = Field(
        default=30, gt=0, description="An operator session unused this long ends (log in again)."
    )

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the Secure flag."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.app_env != "development"

    def backend_urls(self) -> dict[str, str]:
        """Base URL of each backend, by service name."""
        return {
            "signup": self.signup_url,
            "identity": self.identity_url,
            "device-registry": self.device_registry_url,
            "alert-pipeline": self.alert_pipeline_url,
            "notifier": self.notifier_url,
            "support": self.support_url,
        }
