"""Seat inventory service: seat maps and race-free seat holds."""

from functools import lru_cache

from pydantic import Field

from shared.settings import BaseServiceSettings


class SeatSettings(BaseServiceSettings):
    service_name: str = "seat"

    # How long a hold lasts (SEAT_HOLD_SECONDS); fractions are allowed (tests use them).
    seat_hold_seconds: float = Field(600, gt=0)
    # Seats one user may hold at once on one flight (MAX_SEATS_PER_USER).
    max_seats_per_user: int = Field(9, ge=1, le=100)
    # Seats one user may hold at once over every flight (MAX_HELD_SEATS_PER_USER). 36 is the
    # largest real trip: 9 passengers, a round trip, each way one stop (4 flights x 9 seats);
    # more is hoarding. Expired, released and sold holds do not count.
    max_held_seats_per_user: int = Field(36, ge=1, le=1000)
    # Hold attempts one user may make per window (HOLD_RATE_LIMIT per HOLD_RATE_WINDOW_SECONDS;
    # 0: no limit), granted or not: seat by seat, 36 seats with a few changes of mind fit in a
    # minute; a script retrying a taken seat in a loop does not.
    hold_rate_limit: int = Field(60, ge=0)
    hold_rate_window_seconds: int = Field(60, ge=1, le=86_400)
    # How often the sweeper records holds that ran out as expired (HOLD_SWEEP_SECONDS).
    hold_sweep_seconds: float = Field(30, gt=0)
    # A confirmation in progress keeps its hold alive at least this long (HOLD_CONFIRM_PIN_SECONDS).
    hold_confirm_pin_seconds: float = Field(15, gt=0)
    # How long a process keeps what holds and seat maps read of a flight (layout, departure,
    # status) before reading it again (FLIGHT_CACHE_SECONDS; 0: every time). A cancellation is
    # seen at once whatever this is: the hold script checks it in Redis.
    flight_cache_seconds: float = Field(60, ge=0)
    # flight.created events read (and then handled in one transaction) at a time
    # (FLIGHT_EVENT_BATCH): a seed leaves thousands of them.
    flight_event_batch: int = Field(200, ge=1, le=1000)

    @property
    def hold_ttl_ms(self) -> int:
        return max(1, round(self.seat_hold_seconds * 1000))


@lru_cache
def get_settings() -> SeatSettings:
    return SeatSettings()
