"""The contracts between the services, one pydantic model each, in one place.

Every internal request and response body (`/internal/...`) and every event payload is a model
here. The producer builds it (a route's `response_model`, `publish(session, outbox, Model(...))`)
and the consumer parses the same model (`parse_answer(response, Model)`, `Model.of(event)`), so
the two cannot drift apart: a field renamed on one side is renamed on the other, and a test
(`tests/shared/test_contracts.py`) checks that what each producer really writes parses.

A module per producing domain: `flights`, `seats`, `bookings`, `payments`, `discounts`,
`tickets`, `notifications`. Reading stays tolerant, as between services it must: unknown
fields are ignored (a producer may add one before its consumers know it), a field every
consumer needs is required. A change a consumer cannot read is a new event `version`.
"""

from shared.contracts.events import EVENTS, EventPayload, UnknownEvent, parse_event

# Every domain's events registered in EVENTS, whoever imports the package first.
from shared.contracts import (  # noqa: F401  isort: skip
    bookings,
    discounts,
    flights,
    notifications,
    payments,
    seats,
    tickets,
)

__all__ = ["EVENTS", "EventPayload", "UnknownEvent", "parse_event"]
