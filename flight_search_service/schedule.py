"""The demo schedule: pure, deterministic functions (same seed and day -> same flights).

- `demo_schedule()`: the next `days` days over the main Indian airports (a daily pattern of
  route slots, each with its airline, flight number, local departure time and aircraft), plus
  the seed's fifty Air India flights AI101-AI150 on `seed_flights_date()`.
- `large_network()`: a much bigger network (hundreds of routes, thousands of flights a day),
  used only by the benchmark.

Flight times come from the great-circle distance (haversine) at a cruise speed plus taxi and
climb/descent allowances; fares from distance and cabin.
"""

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import airportsdata
from airportsdata import Airport as AirportRecord

from flight_search_service.aircraft import AIRCRAFT
from shared import clock

INDIA = ZoneInfo("Asia/Kolkata")

# The demo network: six metros, fully connected, and the main other cities, each tied to a
# few metros.
METROS = ("DEL", "BOM", "BLR", "MAA", "CCU", "HYD")
CITIES = ("PNQ", "GOI", "AMD", "JAI", "IXC", "COK", "LKO", "GAU", "TRV")
DEMO_AIRPORTS = METROS + CITIES

AIRLINES: dict[str, str] = {
    "AI": "Air India",
    "6E": "IndiGo",
    "SG": "SpiceJet",
    "QP": "Akasa Air",
    "IX": "Air India Express",
}
# First flight number each airline's generated flights use (AI101-AI150 are the seed's).
_NUMBER_BASE = {"AI": 401, "6E": 2001, "SG": 101, "QP": 1101, "IX": 1001}
_AIRLINE_WEIGHTS = (("6E", 5), ("AI", 3), ("QP", 2), ("SG", 1), ("IX", 1))

CRUISE_KMH = 780.0
TAXI_MINUTES = 25
CLIMB_DESCENT_MINUTES = 15

# The seed's 50 flights. The original TypeScript seed's route list is not available to this
# project, so these are fifty plausible Air India flights among the main airports with fixed
# local (IST) departure times; AI101 is DEL->BOM at 06:00 as in the seed's walkthrough. They
# are laid out so that DEL->BOM also has one-stop options through BLR, MAA, CCU, HYD, GOI,
# AMD and JAI on the same day, and AI150 arrives after midnight.
SEED_FLIGHTS: tuple[tuple[str, str, str, str], ...] = (
    ("AI101", "DEL", "BOM", "06:00"),
    ("AI102", "BOM", "DEL", "08:30"),
    ("AI103", "DEL", "BLR", "06:30"),
    ("AI104", "BLR", "DEL", "10:15"),
    ("AI105", "DEL", "MAA", "07:00"),
    ("AI106", "MAA", "DEL", "11:30"),
    ("AI107", "DEL", "CCU", "07:30"),
    ("AI108", "CCU", "DEL", "11:45"),
    ("AI109", "DEL", "HYD", "08:00"),
    ("AI110", "HYD", "DEL", "12:00"),
    ("AI111", "BOM", "BLR", "07:15"),
    ("AI112", "BLR", "BOM", "12:30"),
    ("AI113", "BOM", "MAA", "09:00"),
    ("AI114", "MAA", "BOM", "13:00"),
    ("AI115", "BOM", "CCU", "10:00"),
    ("AI116", "CCU", "BOM", "14:30"),
    ("AI117", "BOM", "HYD", "11:00"),
    ("AI118", "HYD", "BOM", "13:45"),
    ("AI119", "DEL", "GOI", "09:00"),
    ("AI120", "GOI", "BOM", "14:00"),
    ("AI121", "BOM", "GOI", "15:30"),
    ("AI122", "GOI", "DEL", "17:00"),
    ("AI123", "DEL", "AMD", "10:00"),
    ("AI124", "AMD", "BOM", "14:15"),
    ("AI125", "BOM", "AMD", "16:00"),
    ("AI126", "AMD", "DEL", "18:30"),
    ("AI127", "DEL", "JAI", "06:45"),
    ("AI128", "JAI", "BOM", "10:30"),
    ("AI129", "BOM", "JAI", "17:30"),
    ("AI130", "JAI", "DEL", "20:00"),
    ("AI131", "BLR", "MAA", "08:00"),
    ("AI132", "MAA", "BLR", "18:00"),
    ("AI133", "BLR", "HYD", "09:30"),
    ("AI134", "HYD", "BLR", "19:00"),
    ("AI135", "BLR", "CCU", "11:00"),
    ("AI136", "CCU", "BLR", "16:30"),
    ("AI137", "BLR", "COK", "12:00"),
    ("AI138", "COK", "BLR", "15:00"),
    ("AI139", "MAA", "CCU", "10:30"),
    ("AI140", "CCU", "MAA", "17:45"),
    ("AI141", "HYD", "MAA", "14:00"),
    ("AI142", "MAA", "HYD", "20:15"),
    ("AI143", "DEL", "LKO", "13:00"),
    ("AI144", "LKO", "DEL", "16:00"),
    ("AI145", "DEL", "IXC", "14:30"),
    ("AI146", "IXC", "DEL", "17:30"),
    ("AI147", "BOM", "COK", "18:00"),
    ("AI148", "COK", "BOM", "21:00"),
    ("AI149", "DEL", "PNQ", "19:00"),
    ("AI150", "PNQ", "DEL", "22:30"),
)


@dataclass(frozen=True, slots=True)
class ScheduledFlight:
    flight_number: str
    airline_code: str
    airline_name: str
    origin: str
    destination: str
    departure_utc: datetime
    arrival_utc: datetime
    aircraft_code: str
    fare_economy: Decimal
    fare_business: Decimal | None

    def row(self) -> dict[str, Any]:
        return {
            "flight_number": self.flight_number,
            "airline_code": self.airline_code,
            "airline_name": self.airline_name,
            "origin": self.origin,
            "destination": self.destination,
            "departure_utc": self.departure_utc,
            "arrival_utc": self.arrival_utc,
            "aircraft_code": self.aircraft_code,
            "fare_economy": self.fare_economy,
            "fare_business": self.fare_business,
        }


@dataclass(frozen=True, slots=True)
class Point:
    code: str
    lat: float
    lon: float
    tz: ZoneInfo


@lru_cache(maxsize=1)
def airport_data() -> dict[str, AirportRecord]:
    """Every airport with an IATA code, from the `airportsdata` package."""
    return {k: v for k, v in airportsdata.load("IATA").items() if len(k) == 3 and v.get("tz")}


@lru_cache(maxsize=4096)
def point(code: str) -> Point:
    a = airport_data()[code]
    return Point(code, float(a["lat"]), float(a["lon"]), ZoneInfo(a["tz"]))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def distance_km(origin: str, destination: str) -> float:
    a, b = point(origin), point(destination)
    return haversine_km(a.lat, a.lon, b.lat, b.lon)


def block_minutes(km: float) -> int:
    """Gate-to-gate minutes for a distance, rounded to 5 minutes."""
    minutes = TAXI_MINUTES + CLIMB_DESCENT_MINUTES + km / CRUISE_KMH * 60
    return max(30, 5 * round(minutes / 5))


def _round_fare(value: float) -> Decimal:
    return Decimal(round(value / 10.0) * 10).quantize(Decimal("0.01"))


def base_fares(km: float, *, factor: float = 1.0) -> tuple[Decimal, Decimal]:
    """(economy, business) fares in INR for a distance; `factor` is demand (0.8 - 1.4)."""
    economy = (1500.0 + 4.2 * km) * factor
    return _round_fare(economy), _round_fare(economy * 2.7)


def aircraft_for(km: float, trunk: bool) -> str:
    if km < 450 and not trunk:
        return "ATR72"
    return "A321" if trunk else "A320"


def local_departure(day: date, hhmm: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, hhmm, tzinfo=tz).astimezone(UTC)


def make_flight(
    *,
    number: str,
    airline: str,
    origin: str,
    destination: str,
    departure_utc: datetime,
    factor: float = 1.0,
    aircraft: str | None = None,
    trunk: bool = False,
) -> ScheduledFlight:
    km = distance_km(origin, destination)
    code = aircraft or aircraft_for(km, trunk)
    economy, business = base_fares(km, factor=factor)
    return ScheduledFlight(
        flight_number=number,
        airline_code=airline,
        airline_name=AIRLINES.get(airline, airline),
        origin=origin,
        destination=destination,
        departure_utc=departure_utc,
        arrival_utc=departure_utc + timedelta(minutes=block_minutes(km)),
        aircraft_code=code,
        fare_economy=economy,
        fare_business=business if AIRCRAFT[code].seats("business") else None,
    )


def today_in_india(now: datetime | None = None) -> date:
    return (now or clock.utcnow()).astimezone(INDIA).date()


def seed_flights_date(today: date) -> date:
    """The date the seed's AI101-AI150 fly: the first Monday at least 7 days after `today`."""
    day = today + timedelta(days=7)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def seed_flights(day: date) -> list[ScheduledFlight]:
    """The seed's fifty Air India flights on `day` (local IST departure times)."""
    flights = []
    for i, (number, origin, destination, hhmm) in enumerate(SEED_FLIGHTS):
        h, m = map(int, hhmm.split(":"))
        flights.append(
            make_flight(
                number=number,
                airline="AI",
                origin=origin,
                destination=destination,
                departure_utc=local_departure(day, time(h, m), point(origin).tz),
                factor=0.95 + (i % 5) * 0.05,
                aircraft="A320",
            )
        )
    return flights


@dataclass(frozen=True, slots=True)
class Slot:
    """One daily service: a route at a local time, by an airline, under one flight number."""

    number: str
    airline: str
    origin: str
    destination: str
    local_time: time
    aircraft: str
    factor: float
    skip_weekday: int | None  # a weekday it does not fly, or None (daily)


def _pick_airline(rng: random.Random) -> str:
    codes = [code for code, _ in _AIRLINE_WEIGHTS]
    weights = [weight for _, weight in _AIRLINE_WEIGHTS]
    return rng.choices(codes, weights)[0]


def _routes_demo() -> list[tuple[str, str, int, bool]]:
    """(origin, destination, flights a day, trunk?) of the demo network."""
    routes = [(a, b, 3, True) for a in METROS for b in METROS if a != b]
    for city in CITIES:
        nearest = sorted(METROS, key=lambda m: distance_km(city, m))[:3]
        for metro in nearest:
            routes.append((city, metro, 1, False))
            routes.append((metro, city, 1, False))
    # A few city-to-city links, so one-stops do not all go through a metro.
    for a, b in (("PNQ", "GOI"), ("AMD", "JAI"), ("COK", "TRV"), ("LKO", "JAI")):
        routes.append((a, b, 1, False))
        routes.append((b, a, 1, False))
    return routes


def _slots(
    routes: Iterable[tuple[str, str, int, bool]], rng: random.Random, *, skip_share: float
) -> list[Slot]:
    counters = dict(_NUMBER_BASE)
    slots = []
    for origin, destination, per_day, trunk in routes:
        km = distance_km(origin, destination)
        # Spread the day's departures between 05:30 and 23:00, jittered by up to an hour.
        span = (23 * 60 - 5 * 60 - 30) / per_day
        for k in range(per_day):
            minute = 5 * 60 + 30 + int(span * k + rng.uniform(0, min(span, 60)))
            minute = min(minute - minute % 5, 23 * 60 + 55)
            airline = _pick_airline(rng)
            number = f"{airline}{counters[airline]}"
            counters[airline] += 1
            slots.append(
                Slot(
                    number=number,
                    airline=airline,
                    origin=origin,
                    destination=destination,
                    local_time=time(minute // 60, minute % 60),
                    aircraft=aircraft_for(km, trunk),
                    factor=round(rng.uniform(0.85, 1.3), 2),
                    skip_weekday=rng.randrange(7) if rng.random() < skip_share else None,
                )
            )
    return slots


def _fly(slots: Sequence[Slot], days: Iterable[date], seed: int) -> list[ScheduledFlight]:
    flights = []
    for day in days:
        weekday = day.weekday()
        for slot in slots:
            if slot.skip_weekday == weekday:
                continue
            # Fares move a little from day to day (deterministic per slot and day).
            day_rng = random.Random(f"{seed}:{slot.number}:{day.isoformat()}")  # noqa: S311
            wiggle = day_rng.uniform(0.92, 1.1)
            flights.append(
                make_flight(
                    number=slot.number,
                    airline=slot.airline,
                    origin=slot.origin,
                    destination=slot.destination,
                    departure_utc=local_departure(day, slot.local_time, point(slot.origin).tz),
                    factor=slot.factor * wiggle,
                    aircraft=slot.aircraft,
                )
            )
    return flights


def demo_schedule(*, today: date, days: int = 30, seed: int = 20_260_101) -> list[ScheduledFlight]:
    """The demo schedule from `today` for `days` days, plus the seed's AI101-AI150."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible demo, not a secret)
    slots = _slots(_routes_demo(), rng, skip_share=0.15)
    flights = _fly(slots, (today + timedelta(days=d) for d in range(days)), seed)
    return flights + seed_flights(seed_flights_date(today))


def large_network_airports(count: int) -> list[str]:
    """The demo airports, then other Indian airports (by IATA code) up to `count`."""
    others = sorted(
        code
        for code, a in airport_data().items()
        if a["country"] == "IN" and code not in DEMO_AIRPORTS
    )
    return list(DEMO_AIRPORTS + tuple(others))[:count]


def large_network(
    *, start: date, days: int, flights_per_day: int, seed: int = 7, airports: int = 80
) -> list[ScheduledFlight]:
    """A benchmark network of about `flights_per_day` flights a day over `airports` airports:
    the metros fully connected, every other airport tied to three hubs, and random extra
    routes, with frequencies spread over the routes by weight."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible demo, not a secret)
    codes = large_network_airports(airports)
    hubs = list(METROS) + [c for c in CITIES if c in codes][:6]
    spokes = [c for c in codes if c not in hubs]
    pairs: dict[tuple[str, str], float] = {}
    for a in hubs:
        for b in hubs:
            if a != b:
                pairs[(a, b)] = 3.0 if a in METROS and b in METROS else 2.0
    for s in spokes:
        for h in rng.sample(hubs, 3):
            pairs[(s, h)] = pairs[(h, s)] = 1.0
    target_routes = max(len(pairs), flights_per_day // 6)
    while len(pairs) < target_routes:
        a, b = rng.sample(codes, 2)
        pairs.setdefault((a, b), 0.5)
    total = sum(pairs.values())
    routes = []
    for (a, b), weight in pairs.items():
        share = flights_per_day * weight / total
        per_day = int(share) + (1 if rng.random() < share - int(share) else 0)
        if per_day:
            routes.append((a, b, per_day, a in METROS and b in METROS))
    slots = _slots(routes, rng, skip_share=0.0)
    return _fly(slots, (start + timedelta(days=d) for d in range(days)), seed)
