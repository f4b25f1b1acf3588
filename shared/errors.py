"""Domain errors and their one mapping to RFC 9457 problem details.

Services raise these (or subclasses with their own `code`) from the service layer; the app
factory turns every one into `application/problem+json` with a stable machine `code`.
"""

from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.logging import request_id_var

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

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **kw: Any) -> None:
        # A 503 always says when to come back (RFC 9110 §10.2.3): clients back off, not hammer.
        kw.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, **kw)


class Overloaded(ServiceUnavailable):
    code, title = "OVERLOADED", "Service over capacity"


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


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    request_id = request_id_var.get()
    body = problem_body(
        status=status,
        code=code,
        title=title,
        detail=detail,
        instance=request.url.path,
        request_id=request_id,
        **extra,
    )
    hdrs = dict(headers or {})
    if request_id:
        hdrs["X-Request-ID"] = request_id
    return JSONResponse(body, status_code=status, headers=hdrs, media_type=PROBLEM_JSON)


def domain_error_response(request: Request, exc: DomainError) -> JSONResponse:
    """The problem+json answer for a domain error (also used by pure-ASGI layers)."""
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        **exc.extra,
    )


def internal_error(request: Request) -> JSONResponse:
    """The 500 problem: nothing about the error itself (it is in the log)."""
    return problem_response(
        request,
        status=500,
        code="INTERNAL_ERROR",
        title="Internal server error",
        detail="An unexpected error occurred; it has been logged.",
    )
