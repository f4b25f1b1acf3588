"""GET /api/seats/{flightId}: layout minus sold minus held, per user."""

from datetime import timedelta

from tests.seat_service.conftest import catalog, flight_document


async def test_seat_map_of_a_fresh_flight(client, new_flight, new_user):
    flight_id = await new_flight(rows=(4, 10), business_rows=(1, 3))
    _, headers = new_user()
    r = await client.get(f"/api/seats/{flight_id}", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["flightId"] == flight_id
    assert body["total"] == 12 + 7 * 6
    assert (body["available"], body["held"], body["sold"]) == (54, 0, 0)
    assert body["byCabin"]["business"] == {"total": 12, "available": 12, "held": 0, "sold": 0}
    assert body["byCabin"]["economy"]["total"] == 42
    first = body["seats"][0]
    assert first == {"seatNumber": "1A", "cabin": "business", "status": "available", "mine": False}
    assert {s["seatNumber"] for s in body["seats"]} >= {"1A", "3F", "4B", "10F"}


async def test_seat_map_shows_holds_and_whose(client, new_flight, new_user):
    flight_id = await new_flight()
    _, alice = new_user()
    _, bob = new_user()
    r = await client.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumbers": ["2A", "2B"]}, headers=alice
    )
    assert r.status_code == 201, r.text
    for headers, mine in ((alice, True), (bob, False)):
        body = (await client.get(f"/api/seats/{flight_id}", headers=headers)).json()
        seats = {s["seatNumber"]: s for s in body["seats"]}
        assert seats["2A"]["status"] == seats["2B"]["status"] == "held"
        assert seats["2A"]["mine"] is seats["2B"]["mine"] is mine
        assert seats["2C"] == {
            "seatNumber": "2C",
            "cabin": "economy",
            "status": "available",
            "mine": False,
        }
        assert body["held"] == 2


async def test_unknown_flight_is_404(client, new_user):
    _, headers = new_user()
    r = await client.get("/api/seats/987654321", headers=headers)
    assert r.status_code == 404
    assert r.json()["code"] == "FLIGHT_NOT_FOUND"
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_flight_not_seen_yet_is_fetched_from_flight_search(client, new_user):
    document = flight_document(rows=(1, 2), letters="AB")
    catalog[document.flight_id] = document
    _, headers = new_user()
    r = await client.get(f"/api/seats/{document.flight_id}", headers=headers)
    assert r.status_code == 200, r.text
    assert [s["seatNumber"] for s in r.json()["seats"]] == ["1A", "1B", "2A", "2B"]
    # Stored: holds work too.
    r = await client.post(
        "/api/seats/lock",
        json={"flightId": document.flight_id, "seatNumber": "A2"},
        headers=headers,
    )
    assert r.status_code == 201, r.text


async def test_seat_map_needs_a_user_token(client, new_flight, service_headers):
    flight_id = await new_flight()
    assert (await client.get(f"/api/seats/{flight_id}")).status_code == 401
    r = await client.get(f"/api/seats/{flight_id}", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


async def test_bad_flight_id_is_422_not_500(client, new_user):
    _, headers = new_user()
    for bad in ("0", "9999999999999999999"):  # 19 digits: an id, out of range
        r = await client.get(f"/api/seats/{bad}", headers=headers)
        assert r.status_code == 422, (bad, r.text)
    # Not an id at all: not a seat map's path (`{flight_id:id}`), so no such resource.
    for bad in ("abc", "-4", "99999999999999999999999", "9" * 5000):
        r = await client.get(f"/api/seats/{bad}", headers=headers)
        assert r.status_code == 404, (bad, r.text)


async def test_departed_flight_still_has_a_map(client, new_flight, new_user):
    flight_id = await new_flight(departs_in=-timedelta(hours=1))
    _, headers = new_user()
    assert (await client.get(f"/api/seats/{flight_id}", headers=headers)).status_code == 200
