"""The seat map, a read model: every seat of a flight with its status, and the counts.

No row per seat is stored: a flight's map is its aircraft layout (from `FlightDirectory`)
minus the seats sold (Postgres' `sold_seats`) minus the seats held (live holds in Redis, one
script round trip: `HoldStore.view`). Only the seats held or sold are looked at one by one:
most seats are available, and the routes splice those in from ready-made JSON (`api.py`).
"""

from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from seat_service.flights import FlightDirectory, FlightInfo
from seat_service.holds import HoldStore
from seat_service.layout import SeatLayout
from seat_service.pg import connect
from shared.contracts.flights import CANCELLED
from shared.db import Database

# A seat's status on the map (`SeatRead.status`).
SEAT_AVAILABLE, SEAT_HELD, SEAT_SOLD = "available", "held", "sold"
SEAT_STATUSES = (SEAT_AVAILABLE, SEAT_HELD, SEAT_SOLD)


class SeatView(NamedTuple):
    seat_number: str
    cabin: str
    status: str  # one of SEAT_STATUSES
    mine: bool


@dataclass(frozen=True)
class SeatMap:
    """The layout's seats, all available but those in `taken` (seat -> (status, mine))."""

    flight: FlightInfo
    flight_status: str
    taken: dict[str, tuple[str, bool]]
    counts: dict[str, int]
    by_cabin: dict[str, dict[str, int]]

    def seats(self) -> list[SeatView]:
        cabin_of, taken = self.flight.layout.cabin_of, self.taken
        return [
            SeatView(seat, cabin_of[seat], *taken.get(seat, (SEAT_AVAILABLE, False)))
            for seat in self.flight.layout.seats
        ]


_SOLD_TO = (
    "SELECT s.seat_number, h.user_id FROM seats.sold_seats AS s"
    " LEFT JOIN seats.holds AS h ON h.hold_id = s.hold_id WHERE s.flight_id = $1"
)


async def seat_map(
    *,
    db: Database,
    holds: HoldStore,
    directory: FlightDirectory,
    flight_id: int,
    user_id: int,
) -> SeatMap:
    """Every seat of the flight with its status: layout minus sold (Postgres) minus held (Redis).

    Only the seats held or sold are looked at one by one: most seats are available."""
    flight = await directory.get(db=db, flight_id=flight_id)
    layout = flight.layout
    # Redis before Postgres: a sale that commits in between shows as sold, never as available
    # (its hold keys go only after its commit).
    seen = await holds.view(flight_id=flight_id, seats=layout.seats, user_id=user_id)
    async with connect(db) as conn:
        sold = await conn.fetch(_SOLD_TO, flight_id)
    taken = {layout.seats[i]: (SEAT_HELD, hold_id in seen.mine) for i, hold_id in seen.held.items()}
    for seat, buyer in sold:
        if seat in layout.cabin_of:
            taken[seat] = (SEAT_SOLD, buyer == user_id)
    counts, by_cabin = _tally(layout, taken)
    status = CANCELLED if seen.cancelled else flight.status
    return SeatMap(flight, status, taken, counts, by_cabin)


def _tally(
    layout: SeatLayout, taken: dict[str, tuple[str, bool]]
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Seats per status, overall and per cabin."""
    by_status = Counter((layout.cabin_of[seat], status) for seat, (status, _) in taken.items())
    by_cabin: dict[str, dict[str, int]] = {}
    for cabin, total in layout.capacity.items():
        held, sold = by_status[(cabin, SEAT_HELD)], by_status[(cabin, SEAT_SOLD)]
        by_cabin[cabin] = {
            "total": total,
            SEAT_AVAILABLE: total - held - sold,
            SEAT_HELD: held,
            SEAT_SOLD: sold,
        }
    counts = {s: sum(c[s] for c in by_cabin.values()) for s in SEAT_STATUSES}
    return counts, by_cabin
