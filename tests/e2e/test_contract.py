"""What schemathesis found (issue 10), each pinned through the gateway to the real processes.

- A GET on a POST-only path was caught by the id route beside it (`GET /api/tickets/generate`
  read "generate" as a ticket id): a 422. Ids are `{x:id}` path segments now: a 405.
- A wrong method on a public path was the gateway's 401 (no token): now the service's 405.
- Ids: 2^63 - 1 is the largest the database holds and the document says; one more is a 422.
- A hold id "." reached the seat service as `/internal/holds` (the HTTP client reads "." as a
  dot segment): a 502. Now a 404, like any hold id that does not exist.
- A card number of non-ASCII digits ("²") passed `str.isdigit()` and broke `int()`: a 500.
- A search's airport with spaces around it was accepted though the document says three letters.
"""

import httpx
import pytest

from tests.e2e.conftest import SignUp
from tests.helpers import assert_problem, bearer

pytestmark = pytest.mark.e2e

BIGINT_MAX = 2**63 - 1


@pytest.fixture
async def traveller(signup: SignUp) -> dict[str, str]:
    return bearer((await signup())["token"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/tickets/generate",
        "/api/seats/lock",
        "/api/payments/pay",
        "/api/notifications/send",
        "/api/bookings/create",
    ],
)
async def test_get_on_a_post_only_path_is_405_not_a_bad_id(
    gateway: httpx.AsyncClient, traveller: dict[str, str], path: str
) -> None:
    response = await gateway.get(path, headers=traveller)
    assert_problem(response, 405)
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/auth/login"), ("TRACE", "/api/auth/signup")]
)
async def test_a_wrong_method_on_a_public_path_is_405_not_401(
    gateway: httpx.AsyncClient, method: str, path: str
) -> None:
    assert_problem(await gateway.request(method, path), 405)


@pytest.mark.parametrize(
    "template",
    [
        "/api/bookings/{}",
        "/api/bookings/{}/cancel",
        "/api/payments/{}",
        "/api/tickets/{}",
        "/api/tickets/{}/pdf",
        "/api/notifications/{}",
        "/api/flights/{}",
        "/api/seats/{}",
    ],
)
async def test_ids_are_1_to_bigint_max(
    gateway: httpx.AsyncClient, traveller: dict[str, str], template: str
) -> None:
    method = "POST" if template.endswith("/cancel") else "GET"
    # Beyond 19 digits a path holds no id at all: no such path. Thousands of digits were a 500
    # (Python's int() refuses them while routing).
    cases = ((BIGINT_MAX, 404), (BIGINT_MAX + 1, 422), (0, 422), (10**30, 404), ("9" * 5000, 404))
    for value, status in cases:
        response = await gateway.request(method, template.format(value), headers=traveller)
        assert_problem(response, status)


@pytest.mark.parametrize("hold_id", [".", "..", "a.b"])
async def test_a_dot_hold_id_is_a_hold_that_does_not_exist(
    gateway: httpx.AsyncClient, traveller: dict[str, str], hold_id: str
) -> None:
    response = await gateway.post("/api/bookings", json={"holdId": hold_id}, headers=traveller)
    assert_problem(response, 404, "HOLD_NOT_FOUND")


async def test_a_card_number_of_other_digits_is_422_not_500(
    gateway: httpx.AsyncClient, traveller: dict[str, str]
) -> None:
    card = {"number": "²" * 16, "expMonth": 12, "expYear": 2031, "cvc": "123"}
    response = await gateway.post(
        "/api/payments/pay",
        json={"bookingId": 1, "amount": "100.00", "card": card},
        headers=traveller,
    )
    assert_problem(response, 422, "VALIDATION_FAILED")


@pytest.mark.parametrize(("source", "date"), [(" DEL", "2031-01-01"), ("DEL", "2031-01-01 ")])
async def test_search_takes_exactly_what_the_document_says(
    gateway: httpx.AsyncClient, traveller: dict[str, str], source: str, date: str
) -> None:
    response = await gateway.get(
        "/api/flights/search",
        params={"source": source, "destination": "BOM", "date": date},
        headers=traveller,
    )
    assert_problem(response, 422, "INVALID_SEARCH")
