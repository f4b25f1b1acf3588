from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from auth_service import passwords
from auth_service.api import router
from auth_service.config import get_settings
from auth_service.keys import load_signing_key
from auth_service.signup_throttle import SignupThrottle
from auth_service.throttle import LoginThrottle
from auth_service.tokens import AccessTokens
from shared.app import create_app
from shared.security import StaticKeys, TokenVerifier

settings = get_settings()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    signing_key = await to_thread.run_sync(load_signing_key, settings)
    state.signing_key = signing_key
    state.access_tokens = AccessTokens(
        signing_key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
    )
    # The auth service verifies its own tokens with the key it holds, not through its JWKS.
    state.verifier = TokenVerifier(
        StaticKeys({signing_key.kid: signing_key.public_key}),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    state.login_throttle = LoginThrottle(
        state.redis,
        state.keys,
        max_per_email=settings.login_max_failures,
        max_per_address=settings.login_max_failures_per_address,
        window_seconds=settings.login_window_seconds,
    )
    state.signup_throttle = SignupThrottle(
        state.redis,
        state.keys,
        max_per_address=settings.signup_max_per_address,
        window_seconds=settings.signup_window_seconds,
    )
    await passwords.warm_up()
    yield


app = create_app(
    settings=settings,
    title="Auth service",
    description="Sign-up, login, rotating refresh tokens and the JWKS that verifies access tokens.",
    routers=[router],
    lifespan=lifespan,
)
