from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.settings import BaseServiceSettings

# Admin passwords that have been published (an earlier development default): refused
# everywhere but in the test suite, whatever the environment.
PUBLISHED_ADMIN_PASSWORDS = frozenset({"dev-only-admin-password"})


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

    # Sign-ups per client address (an IPv6 /64) in a fixed window, counted before any work
    # (SIGNUP_MAX_PER_ADDRESS per SIGNUP_WINDOW_SECONDS; 0: no limit). Generous for an office
    # or a mobile carrier's shared address, far below account farming.
    signup_max_per_address: int = Field(20, ge=0)
    signup_window_seconds: int = Field(3600, ge=1)
    # Least zxcvbn score (0-4) of a new password (PASSWORD_MIN_SCORE): 2 refuses the common
    # passwords and anything guessed in under 10^6 tries (auth_service/password_policy.py).
    password_min_score: int = Field(2, ge=0, le=4)

    # The administrator created by `python -m shared.manage seed`. Its password is
    # ADMIN_PASSWORD if set, else the content of ADMIN_PASSWORD_FILE, which the seed step
    # generates on first run outside production (printed once).
    admin_email: str = "admin@flightbook.local"
    admin_password: SecretStr | None = None
    admin_password_file: Path = Path("var/admin_password")
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

    @field_validator("admin_password", mode="before")
    @classmethod
    def _blank_password_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _refuse_known_admin_password(self) -> "AuthSettings":
        if self.admin_password is not None:
            check_admin_password(
                self.admin_password.get_secret_value(), environment=self.environment
            )
        return self


def check_admin_password(password: str, *, environment: str) -> None:
    """At least 8 characters, and never a password the repository has ever shown."""
    if len(password) < 8:
        raise ValueError("ADMIN_PASSWORD must be at least 8 characters")
    if environment != "test" and password in PUBLISHED_ADMIN_PASSWORDS:
        raise ValueError("ADMIN_PASSWORD is a published development value: choose your own")


@lru_cache
def get_settings() -> AuthSettings:
    return AuthSettings()
