"""A brute-force reference search (every flight, every pair of flights) and the hypothesis
strategy for random schedules the property tests compare the real search with."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from flight_search_service.itineraries import Leg
from shared.money import CURRENCY, fmt

# Airports in different time zones: +05:30, +04:00, +05:45, and London (GMT/BST, so a DST
# change can fall on the searched day).
AIRPORTS = {
    "DEL": ZoneInfo("Asia/Kolkata"),
    "BOM": ZoneInfo("Asia/Kolkata"),
    "DXB": ZoneInfo("Asia/Dubai"),
    "KTM": ZoneInfo("Asia/Kathmandu"),
    "LHR": ZoneInfo("Europe/London"),
}
CODES = sorted(AIRPORTS)
# Days around London's DST changes in 2031 (30 March, 26 October) and an ordinary one.
DAYS = (date(2031, 3, 30), date(2031, 10, 26), date(2031, 6, 15), date(2031, 3, 29))


def reference(
    legs: Sequence[Leg],
    *,
    origin: str,
    destination: str,
    day: date,
    tz: ZoneInfo,
    now: datetime,
    passengers: int,
    max_stops: int,
    min_connection: int,
    max_layover: int,
) -> set[tuple[int, ...]]:
    """Itineraries as tuples of flight ids, found by checking every flight and every pair."""

    def ok(leg: Leg) -> bool:
        return not leg.cancelled and leg.departure > now and leg.seats >= passengers

    def departs_on_day(leg: Leg) -> bool:
        return leg.departure.astimezone(tz).date() == day

    found: set[tuple[int, ...]] = set()
    for a in legs:
        if a.origin == origin and a.destination == destination and ok(a) and departs_on_day(a):
            found.add((a.flight_id,))
    if max_stops < 1:
        return found
    for a in legs:
        for b in legs:
            if (
                a.origin == origin
                and b.destination == destination
                and a.destination == b.origin
                and a.destination not in (origin, destination)
                and ok(a)
                and ok(b)
                and departs_on_day(a)
                and timedelta(minutes=min_connection)
                <= b.departure - a.arrival
                <= timedelta(minutes=max_layover)
            ):
                found.add((a.flight_id, b.flight_id))
    return found


def reference_documents(
    itineraries: Sequence[Sequence[Leg]],
    *,
    passengers: int,
    cabin: str,
    tz_of: Callable[[str], ZoneInfo],
) -> list[dict[str, Any]]:
    """The SPEC §3 itinerary documents, built the plain way (dicts for `json.dumps`), for
    comparing with what the service writes directly."""

    def minutes(delta: timedelta) -> int:
        return int(delta.total_seconds() // 60)

    def segment(leg: Leg) -> dict[str, Any]:
        return {
            "flightId": leg.flight_id,
            "flightNumber": leg.flight_number,
            "airline": leg.airline,
            "airlineCode": leg.airline_code,
            "source": leg.origin,
            "destination": leg.destination,
            "departureTime": leg.departure.astimezone(tz_of(leg.origin)).isoformat(),
            "arrivalTime": leg.arrival.astimezone(tz_of(leg.destination)).isoformat(),
            "durationMinutes": minutes(leg.arrival - leg.departure),
            "cabin": cabin,
            "fare": fmt(leg.fare),
            "seatsAvailable": leg.seats,
        }

    docs = []
    for legs in itineraries:
        per_passenger = sum((leg.fare for leg in legs), Decimal(0))
        docs.append(
            {
                "id": "-".join(str(leg.flight_id) for leg in legs),
                "stops": len(legs) - 1,
                "durationMinutes": minutes(legs[-1].arrival - legs[0].departure),
                "layoverMinutes": sum(minutes(b.departure - a.arrival) for a, b in pairwise(legs)),
                "seatsAvailable": min(leg.seats for leg in legs),
                "price": {
                    "perPassenger": fmt(per_passenger),
                    "total": fmt(per_passenger * passengers),
                    "currency": CURRENCY,
                },
                "segments": [segment(leg) for leg in legs],
            }
        )
    return docs


@dataclass
class Scenario:
    legs: list[Leg]
    origin: str
    destination: str
    day: date
    now: datetime
    passengers: int
    max_stops: int
    min_connection: int
    max_layover: int

    @property
    def tz(self) -> ZoneInfo:
        return AIRPORTS[self.origin]


@st.composite
def legs_around(
    draw: st.DrawFn, day: date, origin: str, destination: str, *, max_size: int = 40
) -> list[Leg]:
    """Random flights between the AIRPORTS departing from 12 hours before to 40 hours after
    `day` begins (UTC), including long flights across midnight; half of them leave the
    searched origin or reach the searched destination, so itineraries are common."""
    base = datetime.combine(day, time(0), tzinfo=UTC)
    n = draw(st.integers(min_value=0, max_value=max_size))
    legs = []
    for i in range(n):
        src = draw(st.sampled_from([origin, origin, *CODES]))
        dst = draw(st.sampled_from([c for c in [destination, destination, *CODES] if c != src]))
        # On 5-minute marks, so exact connection bounds come up.
        departure = base + timedelta(minutes=5 * draw(st.integers(-12 * 12, 40 * 12)))
        duration = timedelta(minutes=5 * draw(st.integers(6, 12 * 12)))
        legs.append(
            Leg(
                flight_id=i + 1,
                flight_number=f"XX{i + 1}",
                airline="Test Air",
                airline_code="XX",
                origin=src,
                destination=dst,
                departure=departure,
                arrival=departure + duration,
                fare=Decimal(draw(st.integers(1000, 20000))),
                seats=draw(st.integers(0, 6)),
                cancelled=draw(st.integers(0, 9)) == 0,
            )
        )
    return legs


@st.composite
def connections(
    draw: st.DrawFn, day: date, origin: str, destination: str, first_id: int, *, least: int = 0
) -> list[Leg]:
    """Pairs origin -> hub -> destination with layovers around the connection bounds."""
    base = datetime.combine(day, time(0), tzinfo=UTC)
    legs: list[Leg] = []
    hubs = [c for c in CODES if c not in (origin, destination)]
    for k in range(draw(st.integers(least, 6))):
        hub = draw(st.sampled_from(hubs))
        dep = base + timedelta(minutes=5 * draw(st.integers(-6 * 12, 30 * 12)))
        arr = dep + timedelta(minutes=5 * draw(st.integers(6, 14 * 12)))
        layover = timedelta(
            minutes=draw(
                st.sampled_from([0, 44, 45, 46, 60, 119, 120, 121, 300, 719, 720, 721, 1440, 1441])
            )
        )
        dep2 = arr + layover
        for j, (a, b, d, r) in enumerate(
            ((origin, hub, dep, arr), (hub, destination, dep2, dep2 + timedelta(minutes=90)))
        ):
            fid = first_id + 2 * k + j
            legs.append(
                Leg(
                    fid,
                    f"XX{fid}",
                    "Test Air",
                    "XX",
                    a,
                    b,
                    d,
                    r,
                    Decimal(draw(st.integers(1000, 20000))),
                    draw(st.sampled_from([0, 1, 2, 4, 9, 9, 9])),
                    draw(st.integers(0, 9)) == 0,
                )
            )
    return legs


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    day = draw(st.sampled_from(DAYS))
    origin = draw(st.sampled_from(CODES))
    destination = draw(st.sampled_from([c for c in CODES if c != origin]))
    base = datetime.combine(day, time(0), tzinfo=UTC)
    legs = draw(legs_around(day, origin, destination))
    legs += draw(connections(day, origin, destination, len(legs) + 1))
    return Scenario(
        legs=legs,
        origin=origin,
        destination=destination,
        day=day,
        # Sometimes "now" falls inside the day, so some flights have departed.
        now=base
        + timedelta(minutes=30 * draw(st.one_of(st.just(-96), st.just(-96), st.integers(-96, 40)))),
        passengers=draw(st.sampled_from([1, 1, 2, 3, 4])),
        max_stops=draw(st.sampled_from([0, 1, 1])),
        min_connection=draw(st.sampled_from([45, 45, 0, 60])),
        max_layover=draw(st.sampled_from([720, 720, 120, 1440])),
    )
