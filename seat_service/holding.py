"""Holding seats and releasing them: the rules, and the compensation across Redis and Postgres.

A hold is three steps, none in a transaction with the others: the user's reservation (their
hold rate and their cap over every flight, in the user's Redis slot: `user_holds.py`), the
flight's hold script (all or nothing, in the flight's Redis slot: `holds.py`, the Redis store),
then one INSERT of the hold's history row (Postgres). A step that refuses or fails undoes the
earlier ones, best effort: whatever cannot be undone lapses with the hold's ttl, so an error
never leaves a seat held for longer. A hold script that finds the flight's sold set gone
(Redis flushed) has it refilled from Postgres first: a sold seat is never held again.

A release is compare-and-delete in Redis under the hold row's lock in Postgres, so it cannot
interleave with a confirmation of the same hold (`sales.py`).
"""

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from seat_service.errors import (
    DuplicateSeats,
    FlightCancelled,
    FlightDeparted,
    HoldAlreadyConfirmed,
    HoldLimitReached,
    HoldNotFound,
    HoldRateLimited,
    SeatLimitExceeded,
    SeatNotFound,
    SeatUnavailable,
    TooManySeats,
)
from seat_service.flights import FlightDirectory, FlightInfo
from seat_service.holds import Acquired, HoldStore, redis_errors
from seat_service.layout import SeatLayout, normalise_seat
from seat_service.models import CONFIRMED, EXPIRED, HELD, RELEASED
from seat_service.pg import connect, transaction
from seat_service.service import HOLD_BY_ID, HoldInfo
from shared import clock
from shared.contracts.flights import CANCELLED
from shared.db import Database
from shared.errors import ServiceUnavailable

log = logging.getLogger("seat_service")

_RECORD_HOLD = (
    "INSERT INTO seats.holds"  # noqa: S608 (a status constant, nothing from a request)
    " (hold_id, flight_id, user_id, seats, status, expires_at, created_at)"
    f" VALUES ($1, $2, $3, $4, '{HELD}', $5, $6)"
)
_SOLD_AND_STATUS = (
    "SELECT f.status, array(SELECT seat_number FROM seats.sold_seats AS s"
    " WHERE s.flight_id = f.flight_id) FROM seats.flights AS f WHERE f.flight_id = $1"
)
_END_HOLD = "UPDATE seats.holds SET status = $2, ended_at = $3 WHERE hold_id = $1"


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# What may be held -------------------------------------------------------------------------
def check_bookable(flight: FlightInfo, *, now: datetime | None = None) -> None:
    if flight.status == CANCELLED:
        raise FlightCancelled(f"Flight {flight.flight_number or flight.flight_id} is cancelled")
    if flight.departure_utc <= (now or clock.utcnow()):
        raise FlightDeparted(f"Flight {flight.flight_number or flight.flight_id} has departed")


def resolve_seats(layout: SeatLayout, requested: Sequence[str], *, limit: int) -> list[str]:
    """Client seat numbers -> the aircraft's seat numbers, in the order asked; or 422."""
    if not requested:
        raise SeatNotFound("No seat requested", seats=[])
    normalised = [normalise_seat(raw) for raw in requested]
    unknown = [
        raw
        for raw, seat in zip(requested, normalised, strict=True)
        if seat is None or seat not in layout.cabin_of
    ]
    if unknown:
        raise SeatNotFound(f"Not on this aircraft: {', '.join(unknown)}", seats=unknown)
    seats = [s for s in normalised if s is not None]
    twice = sorted(seat for seat, n in Counter(seats).items() if n > 1)
    if twice:
        raise DuplicateSeats(f"Listed more than once: {', '.join(twice)}", seats=twice)
    if len(seats) > limit:
        raise TooManySeats(
            f"At most {limit} seats can be held per flight; {len(seats)} requested", limit=limit
        )
    return seats


# Holding ----------------------------------------------------------------------------------
async def hold_seats(
    *,
    db: Database,
    holds: HoldStore,
    directory: FlightDirectory,
    user_id: int,
    flight_id: int,
    seat_numbers: Sequence[str],
    ttl_ms: int,
    max_per_user: int,
    max_held: int,
    rate_limit: int,
    rate_window_seconds: int,
) -> HoldInfo:
    """Hold the seats for the user, all or nothing, for `ttl_ms`.

    The user's hold rate and cap over every flight come first (`reserve`, the user's Redis
    slot), then the flight's hold script; then the hold's history row is written. A later step
    that refuses or fails undoes the earlier ones."""
    flight = await directory.get(db=db, flight_id=flight_id)
    check_bookable(flight)
    seats = resolve_seats(flight.layout, seat_numbers, limit=max_per_user)
    hold_id = uuid.uuid4()
    await reserve(
        holds=holds,
        user_id=user_id,
        hold_id=hold_id,
        seats=seats,
        ttl_ms=ttl_ms,
        max_held=max_held,
        rate_limit=rate_limit,
        rate_window_seconds=rate_window_seconds,
    )
    try:
        got = await _acquire(
            db=db,
            holds=holds,
            flight=flight,
            hold_id=hold_id,
            user_id=user_id,
            seats=seats,
            ttl_ms=ttl_ms,
            max_per_user=max_per_user,
        )
    except BaseException:
        # No hold: the reservation goes (best effort; else it lapses with the hold's ttl).
        await holds.forget_user_hold(user_id=user_id, hold_id=hold_id, seats=seats)
        raise
    expires_at = _from_ms(got.expires_ms)
    info = HoldInfo(hold_id, flight_id, user_id, seats, HELD, expires_at, clock.utcnow())
    await _record_hold(db=db, holds=holds, info=info)
    return info


async def _record_hold(*, db: Database, holds: HoldStore, info: HoldInfo) -> None:
    """The granted hold's history row; if it cannot be written, the hold is undone."""
    try:
        async with connect(db) as conn:
            await conn.execute(
                _RECORD_HOLD,
                info.hold_id,
                info.flight_id,
                info.user_id,
                info.seats,
                info.expires_at,
                info.created_at,
            )
    except BaseException:
        try:  # Redis granted it but there is no history row: give the seats back.
            await holds.release(
                flight_id=info.flight_id,
                hold_id=info.hold_id,
                user_id=info.user_id,
                seats=info.seats,
            )
        except ServiceUnavailable:
            log.warning("could not undo hold %s; its keys expire on their own", info.hold_id)
        raise


async def reserve(
    *,
    holds: HoldStore,
    user_id: int,
    hold_id: uuid.UUID,
    seats: list[str],
    ttl_ms: int,
    max_held: int,
    rate_limit: int,
    rate_window_seconds: int,
) -> None:
    """Count the hold attempt against the user's rate, and reserve its seats under the user's
    cap over every flight; or HOLD_RATE_LIMITED (429) / HOLD_LIMIT_REACHED (409)."""
    with redis_errors():
        got = await holds.users.reserve(
            user_id=user_id,
            hold_id=hold_id,
            seats=seats,
            ttl_ms=ttl_ms,
            cap=max_held,
            rate_limit=rate_limit,
            rate_window_ms=rate_window_seconds * 1000,
        )
    if got.retry_after_ms is not None:
        raise HoldRateLimited(
            f"At most {rate_limit} hold attempts per {rate_window_seconds} s; try again later",
            retry_after=-(-got.retry_after_ms // 1000),
            limit=rate_limit,
        )
    if not got.ok:
        raise HoldLimitReached(
            f"A traveller can hold at most {max_held} seats at once over all flights; "
            f"{got.held} already held, {len(seats)} requested. Release or book some first",
            limit=max_held,
            held=got.held,
            requested=len(seats),
        )


async def _acquire(
    *,
    db: Database,
    holds: HoldStore,
    flight: FlightInfo,
    hold_id: uuid.UUID,
    user_id: int,
    seats: list[str],
    ttl_ms: int,
    max_per_user: int,
) -> Acquired:
    """The hold script, refilling the flight's sold set first if Redis has lost it."""
    flight_id = flight.flight_id
    for _ in range(3):
        got = await holds.acquire(
            flight_id=flight_id,
            hold_id=hold_id,
            user_id=user_id,
            seats=seats,
            ttl_ms=ttl_ms,
            max_per_user=max_per_user,
        )
        if not got.reload:
            break
        # The sold set is missing (first hold on the flight, or Redis lost it): refill it.
        await _reload_sold(db=db, holds=holds, flight_id=flight_id)
    else:
        raise ServiceUnavailable("Seat holds are unavailable right now; try again")
    if got.cancelled:
        raise FlightCancelled(f"Flight {flight.flight_number or flight_id} is cancelled")
    if got.busy:
        raise SeatUnavailable(
            f"Not available: {', '.join(got.busy)}", seats=got.busy, flightId=flight_id
        )
    if got.already_held is not None:
        raise SeatLimitExceeded(
            f"A traveller can hold at most {max_per_user} seats on a flight; "
            f"{got.already_held} already held",
            limit=max_per_user,
            held=got.already_held,
        )
    return got


async def _reload_sold(*, db: Database, holds: HoldStore, flight_id: int) -> None:
    """The flight's sold set from Postgres: its sold seats, and whether it is cancelled."""
    async with connect(db) as conn:
        row = await conn.fetchrow(_SOLD_AND_STATUS, flight_id)
    status, sold = row if row is not None else (None, [])
    await holds.load_sold(flight_id, sold, cancelled=status == CANCELLED)


# Releasing --------------------------------------------------------------------------------
async def release_hold(
    *, db: Database, holds: HoldStore, hold_id: uuid.UUID, user_id: int | None
) -> HoldInfo:
    """End a hold early (compare-and-delete). `user_id` None: on behalf of a service.

    Someone else's hold answers as if it did not exist. Releasing a hold that already ended
    (released, expired) is a no-op; a confirmed hold's seats are sold and stay so."""
    async with transaction(db) as conn:
        row = await conn.fetchrow(HOLD_BY_ID + " FOR UPDATE", hold_id)
        if row is None or (user_id is not None and row["user_id"] != user_id):
            raise HoldNotFound()
        hold = HoldInfo.of_row(row)
        if hold.status == CONFIRMED:
            raise HoldAlreadyConfirmed("The hold's seats are sold; cancel the booking instead")
        if hold.status != HELD:
            return hold
        # Under the row lock, so a confirmation of the same hold cannot interleave.
        was_live = await holds.release(
            flight_id=hold.flight_id, hold_id=hold_id, user_id=hold.user_id, seats=hold.seats
        )
        now = clock.utcnow()
        status, ended = (RELEASED, now) if was_live else (EXPIRED, min(hold.expires_at, now))
        await conn.execute(_END_HOLD, hold_id, status, ended)
        return HoldInfo.of_row(row, status=status)
