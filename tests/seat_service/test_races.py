"""Races: Redis decides who holds a seat, atomically, all or nothing."""

import asyncio
from collections import Counter

from seat_service.holds import flight_tag
from tests.conftest import REDIS_PREFIX
from tests.seat_service.conftest import sold_twice


async def test_200_users_race_for_one_seat(app, client, new_flight, new_user):
    flight_id = await new_flight()
    users = [new_user() for _ in range(200)]

    async def attempt(headers):
        return await client.post(
            "/api/seats/lock", json={"flightId": flight_id, "seatNumber": "10C"}, headers=headers
        )

    responses = await asyncio.gather(*(attempt(h) for _, h in users))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 199}, statuses
    assert all(r.json()["code"] == "SEAT_UNAVAILABLE" for r in responses if r.status_code == 409)
    winner = next(i for i, r in enumerate(responses) if r.status_code == 201)
    hold_id = responses[winner].json()["holdId"]
    assert await app.state.redis.get(f"{REDIS_PREFIX}seat:{flight_tag(flight_id)}:10C") == hold_id

    async def seat_10c(headers):
        body = (await client.get(f"/api/seats/{flight_id}", headers=headers)).json()
        return next(s for s in body["seats"] if s["seatNumber"] == "10C")

    others = [h for i, (_, h) in enumerate(users) if i != winner][::20]
    views = await asyncio.gather(*(seat_10c(h) for h in [*others, users[winner][1]]))
    assert all(v["status"] == "held" for v in views)
    assert [v["mine"] for v in views].count(True) == 1
    assert views[-1]["mine"] is True
    assert await sold_twice(app) == []


async def test_overlapping_multi_seat_holds_never_both_win(app, client, new_flight, new_user):
    """1A+1B against 1B+1C (and a few more overlapping pairs), many rounds."""
    flight_id = await new_flight(rows=(1, 2), letters="ABCDEF")
    redis = app.state.redis
    pairs = [("1A", "1B"), ("1B", "1C"), ("1C", "1D"), ("1D", "1E"), ("1E", "1F")]
    users = [new_user() for _ in pairs]
    for _ in range(25):
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/seats/lock",
                    json={"flightId": flight_id, "seatNumbers": list(pair)},
                    headers=headers,
                )
                for pair, (_, headers) in zip(pairs, users, strict=True)
            )
        )
        assert {r.status_code for r in responses} <= {201, 409}
        granted = [
            (pair, r.json()["holdId"])
            for pair, r in zip(pairs, responses, strict=True)
            if r.status_code == 201
        ]
        assert granted, "someone must win"
        held = [seat for pair, _ in granted for seat in pair]
        assert len(held) == len(set(held)), f"two holds share a seat: {granted}"
        # Exactly the winners' seats are held in Redis, each by its winner: no partial hold.
        values = await redis.mget(
            [f"{REDIS_PREFIX}seat:{flight_tag(flight_id)}:1{c}" for c in "ABCDEF"]
        )
        expected = {seat: hold_id for pair, hold_id in granted for seat in pair}
        assert dict(zip([f"1{c}" for c in "ABCDEF"], values, strict=True)) == {
            f"1{c}": expected.get(f"1{c}") for c in "ABCDEF"
        }
        # Release the winners for the next round.
        for pair, hold_id in granted:
            _, headers = users[pairs.index(pair)]
            r = await client.delete(f"/api/seats/lock/{hold_id}", headers=headers)
            assert r.status_code == 204
        assert (
            await redis.mget([f"{REDIS_PREFIX}seat:{flight_tag(flight_id)}:1{c}" for c in "ABCDEF"])
            == [None] * 6
        )
    assert await sold_twice(app) == []


async def test_racing_holds_and_sales_never_sell_a_seat_twice(
    app, client, new_flight, new_user, service_headers
):
    """Many users race for a few seats, winners are confirmed at once: one sale per seat."""
    flight_id = await new_flight(rows=(1, 1), letters="ABCD")
    users = [new_user() for _ in range(40)]
    seats = ["1A", "1B", "1C", "1D"]

    async def hold_and_buy(i, headers):
        wanted = [seats[i % 4], seats[(i + 1) % 4]]
        r = await client.post(
            "/api/seats/lock", json={"flightId": flight_id, "seatNumbers": wanted}, headers=headers
        )
        if r.status_code != 201:
            return r.status_code, None
        c = await client.post(
            f"/internal/holds/{r.json()['holdId']}/confirm",
            json={"bookingId": 9000 + i},
            headers=service_headers,
        )
        return r.status_code, c.status_code

    results = await asyncio.gather(*(hold_and_buy(i, h) for i, (_, h) in enumerate(users)))
    assert all(code in (201, 409) for code, _ in results)
    assert all(c == 200 for _, c in results if c is not None)
    assert 1 <= sum(c == 200 for _, c in results) <= 2
    assert await sold_twice(app) == []
