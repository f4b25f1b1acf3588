"""`shared.upstream`: another service's answer becomes the caller's value or domain error."""

import httpx
import pytest

from shared.errors import BadGateway, BookingNotPending, HoldExpired
from shared.schemas import CamelModel
from shared.upstream import Relayed, parse_answer, upstream_error


class Thing(CamelModel):
    booking_id: int


def answer(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body)


def test_a_good_answer_is_the_contract() -> None:
    assert parse_answer(answer(200, {"bookingId": 3}), Thing, service="booking").booking_id == 3


@pytest.mark.parametrize("body", [{"bookingId": "three"}, [], "text", None])
def test_an_unexpected_body_is_a_502(body: object) -> None:
    with pytest.raises(BadGateway, match="unexpected body"):
        parse_answer(answer(200, body), Thing, service="booking")


def test_a_refusal_the_caller_knows_keeps_its_detail_and_members() -> None:
    response = answer(409, {"code": "BOOKING_NOT_PENDING", "detail": "It is paid", "seats": [1]})
    error = upstream_error(response, service="booking", refusals=(BookingNotPending, HoldExpired))
    assert isinstance(error, BookingNotPending)
    assert error.detail == "It is paid" and error.extra == {"seats": [1]}


def test_an_unknown_refusal_is_a_502_naming_the_upstream_code() -> None:
    response = answer(409, {"code": "SOMETHING_NEW", "detail": "?"})
    error = upstream_error(response, service="seat", refusals=(HoldExpired,))
    assert isinstance(error, BadGateway) and error.extra == {"upstreamCode": "SOMETHING_NEW"}
    assert "seat service answered 409" in error.detail


def test_a_server_error_is_a_502_even_with_a_known_code() -> None:
    error = upstream_error(
        answer(500, {"code": "HOLD_EXPIRED"}), service="seat", refusals=(HoldExpired,)
    )
    assert isinstance(error, BadGateway)


def test_relay_passes_a_refusal_on_as_it_came_without_the_callers_field_errors() -> None:
    body = {"code": "AMOUNT_MISMATCH", "title": "No", "detail": "d", "amountDue": "1.00"}
    error = upstream_error(answer(409, {**body, "errors": []}), service="booking", relay=True)
    assert isinstance(error, Relayed)
    assert (error.status, error.code, error.title, error.detail) == (
        409,
        "AMOUNT_MISMATCH",
        "No",
        "d",
    )
    assert error.extra == {"amountDue": "1.00"}


def test_relay_leaves_other_statuses_as_502() -> None:
    error = upstream_error(answer(400, {"code": "X"}), service="booking", relay=True)
    assert isinstance(error, BadGateway)


def test_a_body_that_is_not_json_is_a_502() -> None:
    response = httpx.Response(409, text="<html>")
    assert isinstance(upstream_error(response, service="booking"), BadGateway)
