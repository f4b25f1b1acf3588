"""GET /api/bookings/{id}, the seed's /api/bookings/{id}/{userId}, GET /api/bookings (mine)."""

import pytest

from tests.booking_service.harness import new_flight
from tests.helpers import assert_problem


async def test_my_booking_in_both_forms(stack, new_user):
    user_id, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "5A")
    r = await stack.bookings.get(f"/api/bookings/{booking['id']}", headers=headers)
    assert r.status_code == 200 and r.json() == booking
    r = await stack.bookings.get(f"/api/bookings/{booking['id']}/{user_id}", headers=headers)
    assert r.status_code == 200 and r.json() == booking


async def test_the_seed_form_with_another_user_id_is_forbidden(stack, new_user):
    user_id, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "5B")
    r = await stack.bookings.get(f"/api/bookings/{booking['id']}/{user_id + 1}", headers=headers)
    assert_problem(r, 403, "FORBIDDEN")


async def test_someone_elses_booking_is_404_on_every_route(stack, new_user):
    _, alice = new_user()
    bob_id, bob = new_user()
    booking = await stack.booked(alice, await new_flight(), "5C")
    bid = booking["id"]
    for r in (
        await stack.bookings.get(f"/api/bookings/{bid}", headers=bob),
        await stack.bookings.get(f"/api/bookings/{bid}/{bob_id}", headers=bob),
        await stack.bookings.post(f"/api/bookings/{bid}/cancel", headers=bob),
        await stack.pay(bob, booking),
    ):
        assert_problem(r, 404, "BOOKING_NOT_FOUND")
    # ... and answers exactly like a booking that does not exist.
    assert_problem(
        await stack.bookings.get("/api/bookings/999999999", headers=bob), 404, "BOOKING_NOT_FOUND"
    )
    assert (await stack.booking(alice, bid))["status"] == "PENDING"
    assert await stack.payments_of(bid) == []


async def test_admins_may_read_any_booking(stack, new_user):
    owner_id, owner = new_user()
    _, admin = new_user(role="admin")
    booking = await stack.booked(owner, await new_flight(), "5D")
    r = await stack.bookings.get(f"/api/bookings/{booking['id']}", headers=admin)
    assert r.status_code == 200
    r = await stack.bookings.get(f"/api/bookings/{booking['id']}/{owner_id}", headers=admin)
    assert r.status_code == 200
    r = await stack.bookings.get(f"/api/bookings/{booking['id']}/{owner_id + 1}", headers=admin)
    assert_problem(r, 404, "BOOKING_NOT_FOUND")


@pytest.mark.parametrize("path", ["/api/bookings/0", f"/api/bookings/{2**63}"])
async def test_bad_ids_are_422(stack, new_user, path):
    _, headers = new_user()
    assert_problem(await stack.bookings.get(path, headers=headers), 422, "VALIDATION_FAILED")


async def test_a_word_is_not_a_booking_id(stack, new_user):
    """`{booking_id:id}`: "abc" is no booking's path (and GET /api/bookings/create a 405)."""
    _, headers = new_user()
    assert_problem(await stack.bookings.get("/api/bookings/abc", headers=headers), 404, "NOT_FOUND")
    create = await stack.bookings.get("/api/bookings/create", headers=headers)
    assert_problem(create, 405, "METHOD_NOT_ALLOWED")


async def test_my_bookings_newest_first_with_a_cursor(stack, new_user):
    _, headers = new_user()
    _, other = new_user()
    flight_id = await new_flight()
    mine = [await stack.booked(headers, flight_id, f"{row}A") for row in (26, 27, 28)]
    await stack.booked(other, flight_id, "29A")
    r = await stack.bookings.get("/api/bookings", params={"limit": 2}, headers=headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [b["id"] for b in page["items"]] == [mine[2]["id"], mine[1]["id"]]
    assert page["nextCursor"]
    r = await stack.bookings.get(
        "/api/bookings", params={"limit": 2, "cursor": page["nextCursor"]}, headers=headers
    )
    page = r.json()
    assert [b["id"] for b in page["items"]] == [mine[0]["id"]]
    assert page["nextCursor"] is None
    for params in ({"limit": 0}, {"limit": 1000}, {"cursor": "abc"}, {"cursor": "-1"}):
        r = await stack.bookings.get("/api/bookings", params=params, headers=headers)
        assert_problem(r, 422, "VALIDATION_FAILED")
