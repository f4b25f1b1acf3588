from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr, field_validator, model_validator

from shared.settings import BaseServiceSettings

# Fine on a laptop, refused when ENVIRONMENT=production.
DEV_ADMIN_PASSWORD = "dev-only-admin-password"  # noqa: S105


class AuthSettings(BaseServiceSettings):
    service_name: str = "auth"

    # The Ed25519 private key that signs access tokens (PEM, PKCS#8). Given inline, or read
    # from the file; outside production a missing file is generated (mode 0600).
    auth_signing_key: SecretStr | None = None
    auth_signing_key_file: Path = Path("var/auth_signing_key.pem")

    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600

    # Login throttling: failed attempts in a fixed window, per email and per client address.
    # The address limit is higher: many people can share one address (offices, mobile NAT).
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_window_seconds: int = 900

    # The administrator created by `python -m shared.manage seed`.
    admin_email: str = "admin@flightbook.local"
    admin_password: SecretStr = SecretStr(DEV_ADMIN_PASSWORD)
    admin_name: str = "Administrator"

    @field_validator(
        "access_token_ttl_seconds",
        "refresh_token_ttl_seconds",
        "login_max_failures",
        "login_max_failures_per_address",
        "login_window_seconds",
    )
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("auth_signing_key", mode="before")
    @classmethod
    def _blank_key_is_no_key(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().replace("\\n", "\n")  # PEM with literal \n, as env files have
            return value or None
        return value

    @field_validator("admin_email")
    @classmethod
    def _normalise_admin_email(cls, value: str) -> str:
        value = value.strip().lower()
        if "@" not in value:
            raise ValueError("ADMIN_EMAIL must be an email address")
        return value

    @model_validator(mode="after")
    def _refuse_dev_admin_password(self) -> "AuthSettings":
        password = self.admin_password.get_secret_value()
        if len(password) < 8:
            raise ValueError("ADMIN_PASSWORD must be at least 8 characters")
        if self.environment == "production" and password == DEV_ADMIN_PASSWORD:
            raise ValueError("ADMIN_PASSWORD must be set in production")
        return self


@lru_cache
def get_settings() -> AuthSettings:
    return AuthSettings()
