"""HTTP routes of the auth service: parse, call `service`, return a schema."""

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from auth_service import service
from auth_service.config import AuthSettings
from auth_service.keys import SigningKey
from auth_service.schemas import (
    Jwks,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    SignupRequest,
    TokenResponse,
    UserRead,
)
from auth_service.signup_throttle import SignupThrottle
from auth_service.throttle import LoginThrottle
from auth_service.tokens import AccessTokens, TokenPair
from shared.db import SessionDep
from shared.deps import from_state
from shared.openapi import problems
from shared.security import CurrentUser


async def client_address(request: Request) -> str:
    """The caller's address, as resolved from trusted proxies only (see FORWARDED_ALLOW_IPS)."""
    candidate = request.client.host if request.client else ""
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return candidate[:64] or "unknown"


AccessTokensDep = Annotated[AccessTokens, from_state("access_tokens")]
LoginThrottleDep = Annotated[LoginThrottle, from_state("login_throttle")]
SignupThrottleDep = Annotated[SignupThrottle, from_state("signup_throttle")]
SettingsDep = Annotated[AuthSettings, from_state("settings")]
SigningKeyDep = Annotated[SigningKey, from_state("signing_key")]
ClientAddress = Annotated[str, Depends(client_address)]


_INVALID = problems((422, "Invalid body (VALIDATION_FAILED, with `errors`)"))
_NEEDS_TOKEN = problems((401, "No or invalid access token (UNAUTHORIZED, INVALID_TOKEN)"))


def _tokens(pair: TokenPair, response: Response) -> TokenResponse:
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 §5.1
    return TokenResponse(
        user_id=pair.user_id,
        token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


router = APIRouter(tags=["auth"])


@router.post(
    "/api/auth/signup",
    status_code=201,
    summary="Create an account and sign in",
    responses=problems(
        (409, "Email already registered (EMAIL_TAKEN)"),
        (
            422,
            "Invalid body (VALIDATION_FAILED), or a password that is too common, too easy to "
            "guess or contains the email (PASSWORD_TOO_WEAK); both with `errors`",
        ),
        (429, "Too many sign-ups from this address (SIGNUP_RATE_LIMITED), with Retry-After"),
    ),
)
async def signup(
    body: SignupRequest,
    session: SessionDep,
    tokens: AccessTokensDep,
    throttle: SignupThrottleDep,
    settings: SettingsDep,
    address: ClientAddress,
    response: Response,
) -> TokenResponse:
    pair = await service.signup(
        session=session,
        tokens=tokens,
        throttle=throttle,
        name=body.name,
        email=body.email,
        password=body.password,
        client_address=address,
        min_password_score=settings.password_min_score,
    )
    return _tokens(pair, response)


@router.post(
    "/api/auth/login",
    summary="Sign in with email and password",
    responses={
        **problems(
            (401, "Unknown email or wrong password, alike (INVALID_CREDENTIALS)"),
            (429, "Too many failed attempts (LOGIN_THROTTLED), with Retry-After"),
        ),
        **_INVALID,
    },
)
async def login(
    body: LoginRequest,
    session: SessionDep,
    tokens: AccessTokensDep,
    throttle: LoginThrottleDep,
    address: ClientAddress,
    response: Response,
) -> TokenResponse:
    pair = await service.login(
        session=session,
        throttle=throttle,
        tokens=tokens,
        email=body.email,
        password=body.password,
        client_address=address,
    )
    return _tokens(pair, response)


@router.post(
    "/api/auth/refresh",
    summary="Exchange a refresh token for new tokens (the old one is spent)",
    responses={
        **problems(
            (
                401,
                "Unknown, expired or revoked refresh token; or a reused one, which revokes "
                "the whole session (REFRESH_TOKEN_REUSED)",
            ),
        ),
        **_INVALID,
    },
)
async def refresh(
    body: RefreshRequest, session: SessionDep, tokens: AccessTokensDep, response: Response
) -> TokenResponse:
    pair = await service.refresh(session=session, tokens=tokens, refresh_token=body.refresh_token)
    return _tokens(pair, response)


@router.post(
    "/api/auth/logout",
    status_code=204,
    summary="End the session the refresh token belongs to",
    responses={**_NEEDS_TOKEN, **_INVALID},
)
async def logout(body: LogoutRequest, session: SessionDep, user: CurrentUser) -> None:
    await service.logout(session=session, user_id=user.user_id, refresh_token=body.refresh_token)


@router.get(
    "/api/auth/me",
    summary="The signed-in user",
    responses={**_NEEDS_TOKEN, **problems((404, "The token's user is gone (USER_NOT_FOUND)"))},
)
async def me(session: SessionDep, user: CurrentUser) -> UserRead:
    found = await service.get_user(session=session, user_id=user.user_id)
    return UserRead(
        user_id=found.id,
        name=found.name,
        email=found.email,
        role=found.role,
        created_at=found.created_at,
    )


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(signing_key: SigningKeyDep, response: Response) -> Jwks:
    response.headers["Cache-Control"] = "public, max-age=300"
    return Jwks.model_validate({"keys": [signing_key.public_jwk()]})
