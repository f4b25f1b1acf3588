"""Request and response bodies (camelCase in JSON, snake_case in Python)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from shared.schemas import CamelModel, RequestModel, SecretText

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
NewPassword = Annotated[str, Field(min_length=8, max_length=128)]
# Login accepts any email-looking string (the seeded admin may use a non-public domain) and
# any password up to a bound that keeps hashing cheap (any character: one chosen before
# sign-up refused control characters still logs in; it is only hashed).
LoginEmail = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320)]
LoginPassword = Annotated[SecretText, Field(min_length=1, max_length=1024)]
OpaqueToken = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]


class SignupRequest(RequestModel):
    name: Name
    email: EmailStr
    password: NewPassword


class LoginRequest(RequestModel):
    email: LoginEmail
    password: LoginPassword


class RefreshRequest(RequestModel):
    refresh_token: OpaqueToken


class LogoutRequest(RequestModel):
    refresh_token: OpaqueToken


class TokenResponse(CamelModel):
    user_id: int
    token: str = Field(description="The access token (a JWT), sent as `Authorization: Bearer`")
    refresh_token: str = Field(description="Opaque; single use: each refresh returns a new one")
    expires_in: int = Field(description="Seconds until the access token expires")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105


class UserRead(CamelModel):
    user_id: int
    name: str
    email: str
    role: str
    created_at: datetime


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    use: str
    alg: str


class Jwks(BaseModel):
    keys: list[Jwk]
