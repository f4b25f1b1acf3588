"""Domain errors and their one mapping to RFC 9457 problem details.

Services raise these (or subclasses with their own `code`) from the service layer; the app
factory turns every one into `application/problem+json` with a stable machine `code`.
"""

from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"
PROBLEM_MEMBERS = frozenset(
    {"type", "title", "status", "detail", "code", "instance", "requestId", "request_id", "headers"}
)


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        # Extra members of the problem document (camelCase keys); the standard members
        # cannot be overridden this way.
        self.extra = {k: v for k, v in extra.items() if k not in PROBLEM_MEMBERS}


class BadRequest(DomainError):
    pass


class Unauthorized(DomainError):
    status, code, title = 401, "UNAUTHORIZED", "Authentication required"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class InvalidToken(Unauthorized):
    code, title = "INVALID_TOKEN", "Invalid or expired token"


class Forbidden(DomainError):
    status, code, title = 403, "FORBIDDEN", "Forbidden"


class NotFound(DomainError):
    status, code, title = 404, "NOT_FOUND", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "CONFLICT", "Conflict"


class Unprocessable(DomainError):
    status, code, title = 422, "VALIDATION_FAILED", "Request validation failed"


class TooManyRequests(DomainError):
    status, code, title = 429, "RATE_LIMITED", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kw: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))}, **kw)


class BadGateway(DomainError):
    status, code, title = 502, "BAD_GATEWAY", "Upstream service answered badly"


class ServiceUnavailable(DomainError):
    status, code, title = 503, "SERVICE_UNAVAILABLE", "Upstream service unavailable"


class GatewayTimeout(DomainError):
    status, code, title = 504, "UPSTREAM_TIMEOUT", "Upstream service timed out"


def problem_type(code: str) -> str:
    return f"https://flightbook.dev/problems/{code.lower().replace('_', '-')}"


def problem_body(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    request_id: str | None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        "requestId": request_id,
    }
    body.update(extra)
    return body
