"""Another service's answer as this service's values and errors: one way, in every client.

    booking = parse_answer(response, Booking, service="booking")      # the contract, or 502
    raise upstream_error(response, service="booking", refusals=(BookingNotPending, ...))

`upstream_error` turns the other service's problem+json into the caller's domain error: a 4xx
whose `code` is one of `refusals` becomes that error (its detail and extra members kept); with
`relay=True` any other 404/409/422 is passed on as it came (`Relayed`: the payment service
answers the payer with the booking service's refusal); anything else is a 502 naming the
upstream status and code. Never a 500, never a guess.
"""

import logging
from collections.abc import Iterable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from shared.errors import BadGateway, DomainError, problem_extra, upstream_problem

log = logging.getLogger("shared.upstream")

M = TypeVar("M", bound=BaseModel)

RELAYED_STATUSES = frozenset({404, 409, 422})


class Relayed(DomainError):
    """Another service's refusal, passed on with its status, code and title."""

    def __init__(
        self, *, status: int, code: str, title: str, detail: str, extra: dict[str, Any]
    ) -> None:
        super().__init__(detail, **extra)
        self.status = status  # type: ignore[misc]
        self.code = code  # type: ignore[misc]
        self.title = title  # type: ignore[misc]


def parse_answer(response: httpx.Response, model: type[M], *, service: str) -> M:
    """A successful answer's body as `model` (a `shared.contracts` model); 502 if it is not."""
    try:
        return model.model_validate(response.json())
    except (ValidationError, ValueError) as exc:
        log.error("unexpected answer from the %s service: %s", service, exc)
        raise BadGateway(f"{service} service answered with an unexpected body") from exc


def upstream_error(
    response: httpx.Response,
    *,
    service: str,
    refusals: Iterable[type[DomainError]] = (),
    relay: bool = False,
) -> DomainError:
    """The caller's domain error for a failed answer (see the module's docstring)."""
    problem = upstream_problem(response)
    code = problem.get("code")
    status = response.status_code
    if 400 <= status < 500:
        known = {r.code: r for r in refusals}
        refusal = known.get(str(code))
        if refusal is not None:
            return refusal(str(problem.get("detail") or refusal.title), **problem_extra(problem))
        if relay and status in RELAYED_STATUSES:
            # Not a 422's `errors`: they name fields of this service's call, not the caller's.
            extra = {k: v for k, v in problem_extra(problem).items() if k != "errors"}
            return Relayed(
                status=status,
                # No code of its own: the payment service has always said BOOKING_CONFLICT.
                code=str(code or f"{service.upper().replace('-', '_')}_CONFLICT"),
                title=str(problem.get("title") or f"{service.capitalize()} refused"),
                detail=str(problem.get("detail") or f"{service} service answered {status}"),
                extra=extra,
            )
    return BadGateway(f"{service} service answered {status}", upstreamCode=code)
