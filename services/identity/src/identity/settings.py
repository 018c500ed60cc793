"""Settings of the identity service, read from ``IDENTITY_*`` environment variables."""

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from identity.crypto import parse_keys
from shared import keys
from shared.settings import DEV_GATEWAY_SECRET, DEV_SEALING_KEY, CommonSettings

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
    token_private_key: str = Field(
        default="",
        description="Ed25519 key (PEM) that signs tokens; development and test generate one in .state/keys/.",
    )
    token_private_key_file: str = Field(default="", description="File holding the signing key instead.")
    totp_keys: str = Field(
        default="",
        description=(
            "AES-256 keys that encrypt TOTP secrets at rest: `kid:base64[,kid:base64…]`, the first seals, "
            "all open (rotation). Development and test generate one in .state/keys/."
        ),
    )
    totp_keys_file: str = Field(default="", description="File holding the TOTP keys instead.")
    gateway_secret: str = Field(
        default=DEV_GATEWAY_SECRET,
        description=(
            "Service token the gateway presents (X-Service-Token); only then is X-Client-Address read."
        ),
    )
    password_memory_kib: int = Field(
        default=19 * 1024,
        ge=19 * 1024,
        le=1024 * 1024,
        description=(
            "argon2id memory per password hash, in KiB. The defaults (19 MiB, 2 passes, 1 lane) are "
            "OWASP's recommended argon2id minimum; hashes stored with other parameters keep verifying "
            "and are re-hashed with these at the account's next successful login."
        ),
    )
    password_time_cost: int = Field(default=2, ge=2, le=10, description="argon2id passes over the memory.")
    password_parallelism: int = Field(default=1, ge=1, le=16, description="argon2id lanes.")
    access_token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    session_ttl_seconds: int = Field(default=12 * 3600, ge=60, description="Lifetime of a logged-in session.")
    setup_session_ttl_seconds: int = Field(
        default=30 * 60, ge=60, description="Lifetime of a session still in first-login setup or 2-step."
    )
    browser_session_max_age_seconds: int = Field(
        default=12 * 3600, ge=60, description="Lifetime of a portal cookie's handle (the cookie's max age)."
    )
    temporary_password_days: int = Field(default=14, ge=1, description="Validity of the first password.")
    reissue_password_hours: int = Field(
        default=24,
        ge=1,
        description="Validity of a reissued temporary password (the current one still works).",
    )
    failures_per_client: int = Field(
        default=5, ge=1, description="Failed logins on one user ID from one client per window before 429."
    )
    wait_after_failures: int = Field(
        default=3, ge=1, description="Failures on a user ID after which its waits start (growing each time)."
    )
    wait_base_seconds: int = Field(default=2, ge=1, description="First wait; doubles with every failure.")
    wait_max_seconds: int = Field(default=15 * 60, ge=1, description="Longest wait.")
    rate_limit_per_client: int = Field(default=100, ge=1, description="Login attempts per client per window.")
    rate_limit_window_seconds: int = Field(default=15 * 60, ge=1)
    second_factor_attempts: int = Field(default=5, ge=1, description="Wrong codes before the session ends.")
    reissue_limit_per_hour: int = Field(default=5, ge=1, description="Reissues per account per hour.")
    reissue_limit_per_client: int = Field(
        default=20, ge=1, description="Reissue requests per client per hour."
    )
    email_code_minutes: int = Field(default=30, ge=1, description="Validity of a user ID confirmation code.")
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

    @model_validator(mode="after")
    def _resolve_keys(self) -> "Settings":
        production = self.app_env == "production"
        if not self.token_private_key and self.token_private_key_file:
            self.token_private_key = keys.read_secret_file(self.token_private_key_file)
        if not self.token_private_key:
            if production:
                raise ValueError("IDENTITY_TOKEN_PRIVATE_KEY (or ..._FILE) is required in production")
            self.token_private_key = keys.dev_token_private_key()
        signing = keys.load_private_key(self.token_private_key)
        if keys.key_id(signing.public_key()) not in keys.load_public_keys(self.token_public_key):
            raise ValueError("the token private key does not match any key of AUTH_TOKEN_PUBLIC_KEY")
        if not self.totp_keys and self.totp_keys_file:
            self.totp_keys = keys.read_secret_file(self.totp_keys_file)
        if not self.totp_keys:
            if production:
                raise ValueError("IDENTITY_TOTP_KEYS (or IDENTITY_TOTP_KEYS_FILE) is required in production")
            self.totp_keys = keys.dev_totp_keys()
        parse_keys(self.totp_keys)
        return self
