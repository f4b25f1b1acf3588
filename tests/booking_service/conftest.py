"""Booking service fixtures: the wired stack of real apps (see harness.py)."""

from tests.booking_service.harness import (  # noqa: F401 (fixtures)
    flight_search_app,
    jwks_transport,
    new_user,
    service_headers,
    stack,
    stacks,
)
