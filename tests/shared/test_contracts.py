"""The contracts between the services (`shared.contracts`) are what the services really use.

The other half, that what each producer really writes parses with its contract, is
`tests/e2e/test_event_contracts.py` (every event type, written by the real processes).
"""

import ast
import importlib
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute

from shared.clock import utcnow
from shared.contracts import EVENTS, EventPayload, UnknownEvent, parse_event
from shared.events import Event
from tests.helpers.source import parsed

SERVICES = (
    "auth_service",
    "booking_service",
    "discount_service",
    "flight_search_service",
    "notification_service",
    "payment_service",
    "seat_service",
    "ticket_service",
)


def event(type_: str, payload: dict[str, Any], version: int = 1) -> Event:
    return Event(uuid.uuid4(), type_, "test", utcnow(), payload, version=version)


def from_contracts(model: Any) -> bool:
    """`model` is a contract, or a service's subclass of one (adding a constructor, say)."""
    return isinstance(model, type) and any(
        klass.__module__.startswith("shared.contracts.") for klass in model.__mro__
    )


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, inside included routers too (FastAPI keeps those as a route each)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from api_routes(included.routes)


def internal_routes() -> list[tuple[str, APIRoute]]:
    routes = []
    for service in SERVICES:
        app: FastAPI = importlib.import_module(f"{service}.main").app
        routes += [(service, r) for r in api_routes(app.routes) if r.path.startswith("/internal")]
    return routes


def test_there_are_internal_routes_to_check() -> None:
    assert len(internal_routes()) >= 10


@pytest.mark.parametrize(
    ("service", "route"), internal_routes(), ids=lambda v: getattr(v, "path", v)
)
def test_every_internal_body_and_answer_is_a_contract(service: str, route: APIRoute) -> None:
    answer = route.response_model
    if answer is not None and issubclass(answer, BaseModel):
        assert from_contracts(answer), f"{service} {route.path} answers {answer}"
    if route.body_field is not None:
        body = route.body_field.field_info.annotation
        assert from_contracts(body), f"{service} {route.path} reads {body}"


def test_every_event_type_has_one_contract_with_a_version() -> None:
    assert len(EVENTS) >= 16
    for type_, model in EVENTS.items():
        assert model.type == type_ and model.version >= 1
        assert model.__module__.startswith("shared.contracts."), model


def test_a_second_contract_for_one_type_is_refused() -> None:
    taken = next(iter(EVENTS))
    with pytest.raises(TypeError, match="two contracts"):

        class Again(EventPayload, type=taken):
            pass


def test_an_event_parses_only_with_its_own_type_and_version() -> None:
    class Probe(EventPayload, type="probe.contract-test"):
        booking_id: int

    try:
        parsed_event = parse_event(event("probe.contract-test", {"bookingId": 7, "extra": 1}))
        assert isinstance(parsed_event, Probe) and parsed_event.booking_id == 7
        assert Probe(booking_id=7).payload() == {"bookingId": 7}
        with pytest.raises(UnknownEvent):
            Probe.of(event("probe.contract-test", {"bookingId": 7}, version=2))
        with pytest.raises(UnknownEvent):
            parse_event(event("probe.never-registered", {}))
        with pytest.raises(ValueError):  # a required field missing: the producer broke it
            Probe.of(event("probe.contract-test", {}))
    finally:
        del EVENTS["probe.contract-test"]


def test_a_contract_in_its_rollout_reads_the_old_version_too() -> None:
    class Moved(EventPayload, type="probe.rollout", version=2, reads=(1, 2), register=False):
        booking_id: int
        seat: str | None = None  # new in v2

    assert Moved.of(event("probe.rollout", {"bookingId": 1}, version=1)).seat is None
    assert Moved.of(event("probe.rollout", {"bookingId": 1, "seat": "1A"}, version=2)).seat
    with pytest.raises(UnknownEvent):
        Moved.of(event("probe.rollout", {"bookingId": 1}, version=3))


def test_no_production_code_reads_an_event_payload_as_a_dict() -> None:
    """Consumers parse with the contract (`Model.of(event)`), never `event.payload[...]`."""
    readers = []
    for path, tree in parsed():
        if path.startswith(("shared/events.py", "shared/contracts/")):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "payload"
                and isinstance(node.value, ast.Name)
                and node.value.id in {"event", "e"}
            ):
                readers.append(f"{path}:{node.lineno}")
    assert readers == []
