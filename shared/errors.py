"""Domain errors and their one mapping to RFC 9457 problem details.

Services raise these (or subclasses with their own `code`) from the service layer; the app
factory turns every one into `application/problem+json` with a stable machine `code`. A code
that several services answer with is defined once, below; each service's `errors.py` imports it.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.logging import request_id_var

PROBLEM_JSON = "application/problem+json"
# The members every problem document has (and what a caller could not pass as an extra one).
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


# Codes several services answer with: one refuses what another refused (the discount and
# payment services pass on the booking service's refusals, the booking service the seat
# service's), or both check the same thing.


class BookingNotFound(NotFound):
    code, title = "BOOKING_NOT_FOUND", "Booking not found"


class BookingNotPending(Conflict):
    code, title = "BOOKING_NOT_PENDING", "The booking is not pending"


class BookingNotPayable(Conflict):
    code, title = "BOOKING_NOT_PAYABLE", "The booking cannot be paid"


class BookingAlreadyPaid(Conflict):
    code, title = "BOOKING_ALREADY_PAID", "The booking is already paid"


class AmountMismatch(Conflict):
    code, title = "AMOUNT_MISMATCH", "The amount does not match the amount due"


class PaymentInProgress(Conflict):
    code, title = "PAYMENT_IN_PROGRESS", "A payment for this booking is in progress"


class DiscountAlreadyApplied(Conflict):
    code, title = "DISCOUNT_ALREADY_APPLIED", "A discount code is already applied"


class DiscountTooLarge(Unprocessable):
    code, title = "DISCOUNT_TOO_LARGE", "The discount exceeds the booking's amount"


class FlightNotFound(NotFound):
    code, title = "FLIGHT_NOT_FOUND", "Flight not found"


class FlightCancelled(Conflict):
    code, title = "FLIGHT_CANCELLED", "Flight is cancelled"


class FlightDeparted(Conflict):
    code, title = "FLIGHT_DEPARTED", "Flight has departed"


class HoldNotFound(NotFound):
    code, title = "HOLD_NOT_FOUND", "Hold not found"


class HoldExpired(Conflict):
    code, title = "HOLD_EXPIRED", "The seat hold has expired"


class SeatAlreadySold(Conflict):
    """Extra member `seats` (from the seat service): the seats found already sold."""

    code, title = "SEAT_ALREADY_SOLD", "Seat already sold"


class TooManySeats(Unprocessable):
    code, title = "TOO_MANY_SEATS", "Too many seats in one request"


def upstream_problem(response: httpx.Response) -> dict[str, Any]:
    """Another service's problem document (any JSON object it answered), or {} if none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def problem_code(response: httpx.Response) -> Any:
    """The `code` of another service's problem answer, or None."""
    return upstream_problem(response).get("code")


def problem_extra(problem: Mapping[str, Any]) -> dict[str, Any]:
    """The members of a problem document beyond the standard ones (`seats`, `amountDue`, ...)."""
    return {k: v for k, v in problem.items() if k not in PROBLEM_MEMBERS}


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
