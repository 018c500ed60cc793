"""Settings of the gateway service, read from ``GATEWAY_*`` environment variables."""

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import DEV_GATEWAY_SECRET, DEV_RENDER_TOKEN, BrandSettings, ServiceSettings

DEV_CSRF_SECRET = "development-csrf-secret-not-for-production"
DEV_SIGNUP_SECRET = "development-gateway-signup-secret"


def _url(service_env: str, port: int) -> Any:
    return Field(
        default=f"http://127.0.0.1:{port}",
        validation_alias=AliasChoices(f"GATEWAY_{service_env}", service_env),
        description=f"Base URL of a backend service (env {service_env}).",
    )


class Settings(ServiceSettings):
    """Configuration of the gateway service (no Kafka, no MongoDB: identity keeps the browser sessions)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    signup_url: str = _url("SIGNUP_URL", 8001)
    identity_url: str = _url("IDENTITY_URL", 8002)
    device_registry_url: str = _url("DEVICE_REGISTRY_URL", 8003)
    alert_pipeline_url: str = _url("ALERT_PIPELINE_URL", 8004)
    notifier_url: str = _url("NOTIFIER_URL", 8005)
    support_url: str = _url("SUPPORT_URL", 8007)
    brand: BrandSettings = Field(default_factory=BrandSettings)
    backend_timeout_seconds: float = Field(default=10.0, gt=0)
    identity_secret: str = Field(
        default=DEV_GATEWAY_SECRET,
        description="Service token presented to identity (its IDENTITY_GATEWAY_SECRET).",
    )
    render_token: str = Field(
        default=DEV_RENDER_TOKEN,
        validation_alias=AliasChoices("GATEWAY_RENDER_TOKEN", "REPORT_RENDER_TOKEN"),
        description="Secret the notifier shows to have a monthly report PDF rendered (internal route).",
    )

    session_cookie: str = "watch_session"
    csrf_cookie: str = "watch_csrf"
    cookie_secure: bool | None = Field(
        default=None, description="Send cookies only over HTTPS; by default everywhere but development."
    )
    session_max_age_seconds: int = Field(default=12 * 3600, gt=0)
    operator_idle_minutes: float = Field(
        default=30, gt=0, description="An operator session unused this long ends (log in again)."
    )
    session_revalidate_seconds: float = Field(
        default=5.0, gt=0, le=60, description="How long a session is trusted before identity is asked again."
    )
    csrf_secret: str = Field(
        default=DEV_CSRF_SECRET, description="HMAC key that binds CSRF tokens to the browser's session."
    )
    public_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) whose unsafe requests are accepted; "
        "empty: the origin the request was addressed to.",
    )
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list,
        description="Peers (addresses or networks) whose X-Forwarded-For is believed; none by default.",
    )
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0)
    signup_secret: str = Field(
        default=DEV_SIGNUP_SECRET,
        description="Shared with signup (SIGNUP_GATEWAY_SECRET): vouches for the client address sent to it.",
    )

    @field_validator("public_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.rstrip("/") for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.replace(",", " ").split() if part]
        if isinstance(value, list):
            return [ip_network(str(item), strict=False) for item in value]
        return value

    @model_validator(mode="after")
    def _real_secrets_in_production(self) -> "Settings":
        if self.app_env == "production":
            for name in ("csrf_secret", "signup_secret"):
                if getattr(self, name) in (DEV_CSRF_SECRET, DEV_SIGNUP_SECRET):
                    raise ValueError(f"{name} still has its development placeholder; set a real secret")
        return self

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
