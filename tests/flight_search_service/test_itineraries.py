"""The pure itinerary builder against a brute-force reference, and its rules one by one."""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings

from flight_search_service.itineraries import (
    Itinerary,
    Leg,
    build_itineraries,
    itineraries_json,
    local_day_bounds,
    sort_itineraries,
)
from flight_search_service.schemas import Itinerary as ItineraryOut
from tests.flight_search_service.reference import (
    AIRPORTS,
    Scenario,
    reference,
    reference_documents,
    scenarios,
)
from tests.helpers import IST


def itinerary_documents(
    found: list[Itinerary], *, passengers: int, cabin: str, tz_of: Callable[[str], ZoneInfo]
) -> list[dict[str, Any]]:
    """What the service writes, parsed; the same as the plain reference documents, key order
    included, and valid against the documented schema."""
    text = itineraries_json(found, passengers=passengers, cabin=cabin, tz_of=tz_of)
    expected = reference_documents(
        [it.legs for it in found], passengers=passengers, cabin=cabin, tz_of=tz_of
    )
    assert text == json.dumps(expected, separators=(",", ":"))
    docs = json.loads(text)
    for doc in docs:
        ItineraryOut.model_validate(doc)
    return docs


def run(s: Scenario) -> list[Itinerary]:
    return build_itineraries(
        first_legs=s.legs,
        second_legs=s.legs,
        origin=s.origin,
        destination=s.destination,
        day=s.day,
        origin_tz=s.tz,
        now=s.now,
        passengers=s.passengers,
        max_stops=s.max_stops,
        min_connection_minutes=s.min_connection,
        max_layover_minutes=s.max_layover,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_search_finds_exactly_what_brute_force_finds(s: Scenario) -> None:
    found = run(s)
    ids = [tuple(leg.flight_id for leg in it.legs) for it in found]
    assert len(ids) == len(set(ids)), "an itinerary appears twice"
    expected = reference(
        s.legs,
        origin=s.origin,
        destination=s.destination,
        day=s.day,
        tz=s.tz,
        now=s.now,
        passengers=s.passengers,
        max_stops=s.max_stops,
        min_connection=s.min_connection,
        max_layover=s.max_layover,
    )
    assert set(ids) == expected
    # The documents agree with their legs.
    docs = itinerary_documents(
        found, passengers=s.passengers, cabin="economy", tz_of=AIRPORTS.__getitem__
    )
    for it, doc in zip(found, docs, strict=True):
        legs = it.legs
        assert doc["id"] == "-".join(str(leg.flight_id) for leg in legs)
        assert doc["stops"] == len(legs) - 1
        assert doc["seatsAvailable"] == min(leg.seats for leg in legs) >= s.passengers
        per = sum(leg.fare for leg in legs)
        assert Decimal(doc["price"]["perPassenger"]) == per
        assert Decimal(doc["price"]["total"]) == per * s.passengers
        first = datetime.fromisoformat(doc["segments"][0]["departureTime"])
        last = datetime.fromisoformat(doc["segments"][-1]["arrivalTime"])
        assert doc["durationMinutes"] * 60 == (last - first).total_seconds()
        assert first.date() == s.day  # local date at the origin, from the offset it carries
        if len(legs) == 2:
            layover = legs[1].departure - legs[0].arrival
            assert doc["layoverMinutes"] * 60 == layover.total_seconds()
        for seg, leg in zip(doc["segments"], legs, strict=True):
            dep = datetime.fromisoformat(seg["departureTime"])
            assert dep == leg.departure
            assert dep.utcoffset() == leg.departure.astimezone(AIRPORTS[leg.origin]).utcoffset()


def leg(
    fid: int,
    origin: str,
    destination: str,
    dep: datetime,
    minutes: int,
    *,
    seats: int = 50,
    fare: int = 5000,
    cancelled: bool = False,
) -> Leg:
    return Leg(
        fid,
        f"AI{fid}",
        "Air India",
        "AI",
        origin,
        destination,
        dep,
        dep + timedelta(minutes=minutes),
        Decimal(fare),
        seats,
        cancelled,
    )


DAY = date(2031, 5, 12)
NOW = datetime(2031, 5, 1, tzinfo=UTC)


def ist(hhmm: str, day: date = DAY) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime.combine(day, time(h, m), tzinfo=IST).astimezone(UTC)


def search(legs: list[Leg], **kw) -> set[str]:
    args = {
        "origin": "DEL",
        "destination": "BOM",
        "day": DAY,
        "origin_tz": IST,
        "now": NOW,
        "passengers": 1,
        "max_stops": 1,
        "min_connection_minutes": 45,
        "max_layover_minutes": 720,
        **kw,
    }
    return {it.id for it in build_itineraries(first_legs=legs, second_legs=legs, **args)}


def test_connection_bounds_are_inclusive() -> None:
    first = leg(1, "DEL", "BLR", ist("08:00"), 120)  # lands 10:00
    legs = [
        first,
        leg(2, "BLR", "BOM", ist("10:44"), 90),  # 44 min: too short
        leg(3, "BLR", "BOM", ist("10:45"), 90),  # 45 min: ok
        leg(4, "BLR", "BOM", ist("22:00"), 90),  # 720 min: ok
        leg(5, "BLR", "BOM", ist("22:01"), 90),  # 721 min: too long
    ]
    assert search(legs) == {"1-3", "1-4"}
    assert search(legs, max_stops=0) == set()


def test_local_date_at_origin_decides_and_connections_cross_midnight() -> None:
    legs = [
        # 00:10 IST on DAY is still the previous day in UTC: it belongs to DAY.
        leg(1, "DEL", "BOM", ist("00:10"), 130),
        # 23:55 IST the day before: not DAY.
        leg(2, "DEL", "BOM", ist("23:55", DAY - timedelta(days=1)), 130),
        # Late evening first leg, connection after midnight.
        leg(3, "DEL", "HYD", ist("22:30"), 125),  # lands 00:35 next day
        leg(4, "HYD", "BOM", ist("02:00", DAY + timedelta(days=1)), 90),
    ]
    assert search(legs) == {"1", "3-4"}


def test_departed_cancelled_and_full_flights_are_left_out() -> None:
    legs = [
        leg(1, "DEL", "BOM", ist("06:00"), 130),
        leg(2, "DEL", "BOM", ist("09:00"), 130, cancelled=True),
        leg(3, "DEL", "BOM", ist("12:00"), 130, seats=2),
        leg(4, "DEL", "GOI", ist("07:00"), 150),
        leg(5, "GOI", "BOM", ist("11:00"), 70, seats=1),
    ]
    assert search(legs) == {"1", "3", "4-5"}
    assert search(legs, passengers=2) == {"1", "3"}
    assert search(legs, passengers=3) == {"1"}
    assert search(legs, now=ist("06:00")) == {"3", "4-5"}  # AI1 departs at `now`: gone


def test_never_back_to_the_origin_nor_through_the_destination() -> None:
    legs = [
        leg(1, "DEL", "BOM", ist("06:00"), 130),
        leg(2, "BOM", "DEL", ist("10:00"), 130),
        leg(3, "BOM", "BOM", ist("10:00"), 10),  # nonsense, ignored
        leg(4, "DEL", "BLR", ist("06:00"), 160),
        leg(5, "BLR", "DEL", ist("10:00"), 160),
    ]
    assert search(legs) == {"1"}


def test_time_zones_of_each_airport() -> None:
    dxb = ZoneInfo("Asia/Dubai")
    dep = datetime.combine(DAY, time(23, 0), tzinfo=dxb).astimezone(UTC)  # 00:30 IST next day
    legs = [leg(1, "DXB", "DEL", dep, 195)]
    found = build_itineraries(
        first_legs=legs,
        second_legs=[],
        origin="DXB",
        destination="DEL",
        day=DAY,
        origin_tz=dxb,
        now=NOW,
        passengers=1,
        max_stops=1,
        min_connection_minutes=45,
        max_layover_minutes=720,
    )
    tzs = {"DXB": dxb, "DEL": IST}
    (doc,) = itinerary_documents(found, passengers=2, cabin="economy", tz_of=tzs.__getitem__)
    seg = doc["segments"][0]
    assert seg["departureTime"] == f"{DAY.isoformat()}T23:00:00+04:00"
    assert seg["arrivalTime"] == f"{(DAY + timedelta(days=1)).isoformat()}T03:45:00+05:30"
    assert seg["durationMinutes"] == doc["durationMinutes"] == 195
    assert doc["price"] == {"perPassenger": "5000.00", "total": "10000.00", "currency": "INR"}


def test_sorting_is_deterministic() -> None:
    legs = [
        leg(1, "DEL", "BOM", ist("06:00"), 130, fare=6000),
        leg(2, "DEL", "BOM", ist("07:00"), 120, fare=5000),
        leg(3, "DEL", "BOM", ist("05:00"), 125, fare=5000),
    ]
    its = build_itineraries(
        first_legs=legs,
        second_legs=[],
        origin="DEL",
        destination="BOM",
        day=DAY,
        origin_tz=IST,
        now=NOW,
        passengers=1,
        max_stops=0,
        min_connection_minutes=45,
        max_layover_minutes=720,
    )
    assert [i.id for i in sort_itineraries(its, "price")] == ["2", "3", "1"]
    assert [i.id for i in sort_itineraries(its, "duration")] == ["2", "3", "1"]
    assert [i.id for i in sort_itineraries(its, "departure")] == ["3", "1", "2"]


def test_day_bounds_cover_the_local_day() -> None:
    london = ZoneInfo("Europe/London")
    start, end = local_day_bounds(date(2031, 3, 30), london, margin=timedelta(0))
    assert end - start == timedelta(hours=23)  # the spring-forward day is short
    start, end = local_day_bounds(DAY, IST, margin=timedelta(hours=3))
    assert start == ist("00:00") - timedelta(hours=3)
    assert end == ist("00:00", DAY + timedelta(days=1)) + timedelta(hours=3)


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("America/Santiago", date(2010, 10, 10)),  # local midnight skipped (a gap)
        ("America/Havana", date(2010, 10, 31)),  # local midnight twice (an overlap)
        ("America/Havana", date(2010, 11, 1)),
        ("Pacific/Apia", date(2011, 12, 30)),  # a whole day skipped
        ("Pacific/Apia", date(2011, 12, 31)),
        ("Europe/London", date(2031, 3, 30)),
        ("Asia/Kolkata", DAY),
    ],
)
def test_day_bounds_hold_every_instant_of_the_local_day(zone: str, day: date) -> None:
    """Without a margin, even where a DST change falls on local midnight."""
    tz = ZoneInfo(zone)
    start, end = local_day_bounds(day, tz, margin=timedelta(0))
    moment = datetime.combine(day - timedelta(days=2), time(0), tzinfo=UTC)
    while moment < datetime.combine(day + timedelta(days=3), time(0), tzinfo=UTC):
        if moment.astimezone(tz).date() == day:
            assert start <= moment < end, moment
        moment += timedelta(minutes=5)
