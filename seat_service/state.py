"""What the seat service's routes need, built once at start-up (`app.state.seats`)."""

from dataclasses import dataclass

from seat_service.config import SeatSettings
from seat_service.flights import FlightDirectory
from seat_service.holds import HoldStore
from shared.db import Database
from shared.events import OutboxRelay


@dataclass(frozen=True)
class Seats:
    db: Database
    holds: HoldStore
    flights: FlightDirectory
    settings: SeatSettings
    relay: OutboxRelay
