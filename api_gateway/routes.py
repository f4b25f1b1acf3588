"""The route table: which service answers a public path, and which paths need no token.

Every decision is made on the *canonical* form of the path: percent-escapes decoded (repeatedly,
so double encoding cannot hide a segment), backslashes read as slashes and empty segments
dropped. A path with a dot segment (`.`/`..`, in any encoding) is refused outright: no API path
has one, and the HTTP client would resolve it before sending, so the service could receive a
different path than the one checked here. A path with an `internal` segment is refused too:
`/internal/` endpoints are for service-to-service calls only and the gateway never routes them.
Refusals are plain 404s, indistinguishable from an unknown path.
"""

from dataclasses import dataclass
from urllib.parse import unquote

from shared.errors import NotFound
from shared.services import BY_NAME

# Path prefix -> service name (as in `shared.services`). A prefix matches itself and anything
# below it (`/api/auth` matches `/api/auth/login`, not `/api/authority`).
ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/auth", "auth"),
    ("/.well-known", "auth"),
    ("/api/flights", "flight-search"),
    ("/api/airports", "flight-search"),
    ("/api/seats", "seat"),
    ("/api/bookings", "booking"),
    ("/api/payments", "payment"),
    ("/api/discounts", "discount"),
    ("/api/tickets", "ticket"),
    ("/api/notifications", "notification"),
)

# (method, canonical path) that are reachable without an access token.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/auth/signup"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/refresh"),
        ("GET", "/.well-known/jwks.json"),
        ("HEAD", "/.well-known/jwks.json"),
    }
)

# A public path goes through without a token whatever the method: one it does not serve is the
# service's 405 (with its Allow), not the gateway's 401. (No path mixes public and private
# methods; each service checks the token again anyway.)
PUBLIC_PATHS = frozenset(path for _, path in PUBLIC)


def _check_routes() -> None:
    """A typo in the table stops the gateway at start-up, not at a request's first proxying."""
    unknown = sorted({service for _, service in ROUTES if service not in BY_NAME})
    if unknown:
        raise ValueError(f"ROUTES names unknown services: {', '.join(unknown)}")


_check_routes()

_MAX_DECODE_ROUNDS = 4


@dataclass(frozen=True)
class Route:
    service: str
    path: str  # canonical form (for decisions and logs; the raw path is what is forwarded)
    public: bool


def _segment_name(segment: str) -> str:
    """A segment as a lenient server might read it: `..;x` and ` internal ` count too."""
    return segment.split(";", 1)[0].strip().lower()


def canonical_path(raw_path: str) -> str | None:
    """The path with every encoding trick undone, or None if it cannot be trusted."""
    path = raw_path
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(path, errors="strict")
        if decoded == path:
            break
        path = decoded
    else:
        return None  # still changing: layered encoding, refuse
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        return None
    segments = [s for s in path.replace("\\", "/").split("/") if s]
    if any(_segment_name(s) in (".", "..") for s in segments):
        return None
    return "/" + "/".join(segments)


def is_internal(canonical: str) -> bool:
    return any(_segment_name(s) == "internal" for s in canonical.split("/"))


def service_for(canonical: str) -> str | None:
    for prefix, service in ROUTES:
        if canonical == prefix or canonical.startswith(prefix + "/"):
            return service
    return None


def resolve(method: str, raw_path: bytes | str) -> Route:
    """Route a request, or raise `NotFound` (unknown, internal, or untrustworthy path)."""
    try:
        text = raw_path.decode("utf-8") if isinstance(raw_path, bytes) else raw_path
        canonical = canonical_path(text)
    except UnicodeDecodeError:
        canonical = None
    if canonical is None or is_internal(canonical):
        raise NotFound("No such path")
    service = service_for(canonical)
    if service is None:
        raise NotFound("No such path")
    return Route(service=service, path=canonical, public=canonical in PUBLIC_PATHS)
