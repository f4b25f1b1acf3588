"""Business rules of the auth service: sign-up, login, refresh-token rotation, logout.

Every function takes keyword arguments and an explicit session, commits its own transaction
and raises domain errors (mapped once to problem+json by `shared.app`).
"""

import logging
import unicodedata
import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service import password_policy, passwords
from auth_service.models import RefreshToken, User
from auth_service.signup_throttle import SignupThrottle
from auth_service.throttle import LoginThrottle
from auth_service.tokens import AccessTokens, TokenPair, hash_refresh_token, new_refresh_token
from shared import clock
from shared.errors import Conflict, NotFound, Unauthorized, Unprocessable

log = logging.getLogger("auth_service.service")

UNIQUE_VIOLATION = "23505"


class EmailTaken(Conflict):
    code, title = "EMAIL_TAKEN", "Email already registered"


class InvalidCredentials(Unauthorized):
    code, title = "INVALID_CREDENTIALS", "Invalid email or password"


class InvalidRefreshToken(Unauthorized):
    code, title = "INVALID_REFRESH_TOKEN", "Invalid refresh token"


class RefreshTokenExpired(InvalidRefreshToken):
    code, title = "REFRESH_TOKEN_EXPIRED", "Refresh token expired"


class RefreshTokenRevoked(InvalidRefreshToken):
    code, title = "REFRESH_TOKEN_REVOKED", "Refresh token revoked"


class RefreshTokenReused(InvalidRefreshToken):
    code, title = "REFRESH_TOKEN_REUSED", "Refresh token reused"


class UserNotFound(NotFound):
    code, title = "USER_NOT_FOUND", "User not found"


def normalise_email(email: str) -> str:
    """The one form an email is stored and looked up in."""
    return unicodedata.normalize("NFC", email.strip()).lower()


def _issue(
    *, session: AsyncSession, tokens: AccessTokens, user: User, family_id: uuid.UUID | None = None
) -> TokenPair:
    """An access token and a new refresh token (added to the session, not committed)."""
    refresh_token = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=hash_refresh_token(refresh_token),
            expires_at=clock.utcnow() + timedelta(seconds=tokens.refresh_ttl_seconds),
        )
    )
    access_token = tokens.mint(user_id=user.id, role=user.role, email=user.email, name=user.name)
    return TokenPair(user.id, access_token, refresh_token, tokens.ttl_seconds)


async def _revoke_family(*, session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=clock.utcnow())
    )


async def signup(
    *,
    session: AsyncSession,
    tokens: AccessTokens,
    throttle: SignupThrottle,
    name: str,
    email: str,
    password: str,
    client_address: str,
    min_password_score: int,
) -> TokenPair:
    """Create a user (role `user`) and sign them in.

    Cheapest refusal first: the address's sign-up window (one Redis call), then the password
    policy (a few ms), and only then the argon2 hash."""
    await throttle.attempt(address=client_address)
    email = normalise_email(email)
    await password_policy.check(password, email=email, name=name, min_score=min_password_score)
    # Hash before touching the database: no connection is held while the CPU works.
    password_hash = await passwords.hash_password(password)
    user = User(email=email, name=name, password_hash=password_hash, role="user")
    async with session.begin():
        session.add(user)
        try:
            await session.flush()
        except IntegrityError as exc:
            if getattr(exc.orig, "sqlstate", None) == UNIQUE_VIOLATION:  # sign-ups race too
                raise EmailTaken("An account with this email already exists") from exc
            raise Unprocessable("email: this address cannot be stored") from exc
        return _issue(session=session, tokens=tokens, user=user)


async def login(
    *,
    session: AsyncSession,
    throttle: LoginThrottle,
    tokens: AccessTokens,
    email: str,
    password: str,
    client_address: str,
) -> TokenPair:
    """Check a password; an unknown email and a wrong password fail alike, in similar time."""
    email = normalise_email(email)
    await throttle.attempt(email=email, address=client_address)
    async with session.begin():  # a read of its own: no connection held while hashing
        user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        await passwords.verify_dummy(password)
        raise InvalidCredentials("Invalid email or password")
    ok, new_hash = await passwords.verify_password(password, user.password_hash)
    if not ok:
        raise InvalidCredentials("Invalid email or password")
    await throttle.succeeded(email=email, address=client_address)
    async with session.begin():
        if new_hash is not None:  # a legacy (bcrypt) or outdated hash: store the current kind
            user.password_hash = new_hash
        return _issue(session=session, tokens=tokens, user=user)


async def refresh(*, session: AsyncSession, tokens: AccessTokens, refresh_token: str) -> TokenPair:
    """Rotate a refresh token. Presenting one that was already rotated revokes its family."""
    async with session.begin():
        row = (
            await session.execute(
                select(RefreshToken, User)
                .join(User, User.id == RefreshToken.user_id)
                .where(RefreshToken.token_hash == hash_refresh_token(refresh_token))
                .with_for_update(of=RefreshToken)  # concurrent rotations serialise here
            )
        ).one_or_none()
        if row is None:
            raise InvalidRefreshToken("Unknown refresh token")
        token, user = row
        if token.used_at is None:
            return _rotate(session=session, tokens=tokens, token=token, user=user)
        # Reused: the revocation commits (the block ends normally), then the refusal.
        await _revoke_family(session=session, family_id=token.family_id)
    log.warning("refresh token reused: session family %s revoked", token.family_id)
    raise RefreshTokenReused("Refresh token already used; the session has been revoked")


def _rotate(
    *, session: AsyncSession, tokens: AccessTokens, token: RefreshToken, user: User
) -> TokenPair:
    """Spend a live refresh token for a new pair in its family (in the caller's transaction)."""
    if token.revoked_at is not None:
        raise RefreshTokenRevoked("Refresh token revoked")
    if token.expires_at <= clock.utcnow():
        raise RefreshTokenExpired("Refresh token expired")
    token.used_at = clock.utcnow()
    return _issue(session=session, tokens=tokens, user=user, family_id=token.family_id)


async def logout(*, session: AsyncSession, user_id: int, refresh_token: str) -> None:
    """Revoke the refresh token's family when it is the caller's; otherwise do nothing
    (RFC 7009: an unknown token is not an error, and reveals nothing)."""
    async with session.begin():
        token = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(refresh_token))
        )
        if token is not None and token.user_id == user_id:
            await _revoke_family(session=session, family_id=token.family_id)


async def get_user(*, session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound("User not found")
    return user


async def ensure_admin(*, session: AsyncSession, email: str, name: str, password: str) -> bool:
    """Create the administrator unless the email exists. True when created."""
    password_hash = await passwords.hash_password(password)
    async with session.begin():
        created = await session.scalar(
            pg_insert(User)
            .values(
                email=normalise_email(email), name=name, password_hash=password_hash, role="admin"
            )
            .on_conflict_do_nothing(index_elements=[User.email])
            .returning(User.id)
        )
    return created is not None
