"""Route resolution: the table, public paths, and every way of sneaking to `/internal/`."""

import pytest

from api_gateway.routes import PUBLIC, ROUTES, canonical_path, is_internal, resolve
from shared.errors import NotFound
from shared.services import SERVICES


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/auth/login", "auth"),
        ("/api/auth", "auth"),
        ("/.well-known/jwks.json", "auth"),
        ("/api/flights/search", "flight-search"),
        ("/api/flights/42", "flight-search"),
        ("/api/airports", "flight-search"),
        ("/api/seats/7", "seat"),
        ("/api/seats/lock/abc", "seat"),
        ("/api/bookings", "booking"),
        ("/api/bookings/1/cancel", "booking"),
        ("/api/payments/pay", "payment"),
        ("/api/discounts/apply", "discount"),
        ("/api/tickets/generate", "ticket"),
        ("/api/tickets/3/pdf", "ticket"),
        ("/api/notifications/send", "notification"),
        ("/api%2Fauth/login", "auth"),  # decoded like the service will decode it
        ("/api//auth///me", "auth"),
    ],
)
def test_route_table(path: str, service: str) -> None:
    assert resolve("GET", path).service == service


def test_every_service_is_routed() -> None:
    assert {s for _, s in ROUTES} == {s.name for s in SERVICES}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api",
        "/api/authority/x",  # a prefix matches whole segments only
        "/api/unknown",
        "/health2",
        "/favicon.ico",
        "/well-known/jwks.json",
    ],
)
def test_unknown_prefix_is_404(path: str) -> None:
    with pytest.raises(NotFound):
        resolve("GET", path)


@pytest.mark.parametrize(
    "path",
    [
        "/internal/anything",
        "/api/auth/internal/users/1",
        "/api/bookings/internal",
        "/api/seats/INTERNAL/holds",
        "/api/seats/Internal/holds",
        "/api/seats/%69nternal/holds",  # %69 = i
        "/api/seats/%49NTERNAL/holds",
        "/api/seats/%2569nternal/holds",  # double encoded
        "/api/seats/%252569nternal/holds",  # triple encoded
        "/api/seats%2Finternal%2Fholds",
        "/api/seats/internal;jsessionid=1/holds",
        "/api/seats/%20internal%20/holds",
        "/api/seats\\internal\\holds",
        "/api/seats%5Cinternal/holds",
        b"/api/seats/internal/holds",
    ],
)
def test_internal_is_never_routed(path: str | bytes) -> None:
    with pytest.raises(NotFound):
        resolve("GET", path)


@pytest.mark.parametrize(
    "path",
    [
        "/api/auth/../internal/x",
        "/api/auth/x/../../internal/x",
        "/api/auth/%2e%2e/internal/x",
        "/api/auth/%2E%2E/bookings",
        "/api/auth/%252e%252e/x",
        "/api/auth/./me",
        "/api/auth/..;/x",
        "/api/bookings/..",
        "/api/auth/%00/me",
        "/api/auth/%ff%fe",  # not UTF-8
        "/api/auth/%25252525252569",  # more layers than anyone needs
    ],
)
def test_untrustworthy_paths_are_404(path: str) -> None:
    with pytest.raises(NotFound):
        resolve("GET", path)


def test_internal_and_dot_segments_helpers() -> None:
    assert canonical_path("/a//b/") == "/a/b"
    assert canonical_path("/a/%2e%2e/b") is None
    assert is_internal("/api/x/internal/y")
    assert not is_internal("/api/x/internals/y")
    assert not is_internal("/api/x/y-internal")


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
def test_public_paths(method: str, path: str) -> None:
    assert resolve(method, path).public


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/auth/me"),
        ("POST", "/api/auth/logout"),
        ("POST", "/.well-known/other"),
        ("GET", "/api/flights/search"),
        ("POST", "/api/auth/signup/extra"),
    ],
)
def test_everything_else_needs_a_token(method: str, path: str) -> None:
    assert not resolve(method, path).public


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/auth/login"), ("TRACE", "/api/auth/signup")]
)
def test_a_public_path_is_public_for_every_method(method: str, path: str) -> None:
    """The auth service answers the method it does not serve: 405 with Allow, not a 401."""
    assert resolve(method, path).public
