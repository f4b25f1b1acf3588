"""Seat maps and holds: the rules, with an explicit database and hold store (sales and
their undoing: `sales.py`).

Redis (`HoldStore`) is the fast path for holds; Postgres' `sold_seats`, with its unique
(flight, seat), is the final word on what is sold. A hold is the hold script in Redis, then
one INSERT of its history row (no transaction around it: it is one statement). Flights come
from `FlightDirectory` (cached); the SQL is hand-written (see `pg.py`).
"""

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
from seat_service.flights import (
    CANCELLED,
    FlightDirectory,
    FlightInfo,
    fetch_flight_document,
    upsert_flight,
)
from seat_service.holds import Acquired, HoldStore, redis_errors
from seat_service.layout import SeatLayout, normalise_seat
from seat_service.models import Hold
from seat_service.pg import connect, transaction
from seat_service.sales import (
    Sale,
    SeatRelease,
    booking_key,
    confirm_hold,
    release_sold_seats,
    utcnow,
)
from shared.db import Database
from shared.errors import ServiceUnavailable

log = logging.getLogger("seat_service")


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def parse_hold_id(raw: str | uuid.UUID) -> uuid.UUID:
    """A hold id from a path; anything that is not one is a hold that does not exist."""
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise HoldNotFound() from None


# Seat maps --------------------------------------------------------------------------------
class SeatView(NamedTuple):
    seat_number: str
    cabin: str
    status: str  # available | held | sold
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
            SeatView(seat, cabin_of[seat], *taken.get(seat, ("available", False)))
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
    taken = {layout.seats[i]: ("held", hold_id in seen.mine) for i, hold_id in seen.held.items()}
    for seat, buyer in sold:
        if seat in layout.cabin_of:
            taken[seat] = ("sold", buyer == user_id)
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
        held, sold = by_status[(cabin, "held")], by_status[(cabin, "sold")]
        available = total - held - sold
        by_cabin[cabin] = {"total": total, "available": available, "held": held, "sold": sold}
    counts = {s: sum(c[s] for c in by_cabin.values()) for s in ("available", "held", "sold")}
    return counts, by_cabin


# Holds ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HoldInfo:
    hold_id: uuid.UUID
    flight_id: int
    user_id: int
    seats: list[str]
    status: str
    expires_at: datetime
    created_at: datetime | None = None
    booking_id: str | None = None

    @classmethod
    def of_row(cls, row: Any, *, status: str | None = None) -> "HoldInfo":
        """From a row of these columns, in this order (`_HOLD`)."""
        return cls(*row[:4], status or row[4], *row[5:])


def check_bookable(flight: FlightInfo, *, now: datetime | None = None) -> None:
    if flight.status == CANCELLED:
        raise FlightCancelled(f"Flight {flight.flight_number or flight.flight_id} is cancelled")
    if flight.departure_utc <= (now or utcnow()):
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


_RECORD_HOLD = (
    "INSERT INTO seats.holds (hold_id, flight_id, user_id, seats, status, expires_at, created_at)"
    " VALUES ($1, $2, $3, $4, 'held', $5, $6)"
)


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
    info = HoldInfo(hold_id, flight_id, user_id, seats, "held", _from_ms(got.expires_ms), utcnow())
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


_SOLD_AND_STATUS = (
    "SELECT f.status, array(SELECT seat_number FROM seats.sold_seats AS s"
    " WHERE s.flight_id = f.flight_id) FROM seats.flights AS f WHERE f.flight_id = $1"
)


async def _reload_sold(*, db: Database, holds: HoldStore, flight_id: int) -> None:
    """The flight's sold set from Postgres: its sold seats, and whether it is cancelled."""
    async with connect(db) as conn:
        row = await conn.fetchrow(_SOLD_AND_STATUS, flight_id)
    status, sold = row if row is not None else (None, [])
    await holds.load_sold(flight_id, sold, cancelled=status == CANCELLED)


_HOLD = (
    "SELECT hold_id, flight_id, user_id, seats, status, expires_at, created_at, booking_id"
    " FROM seats.holds WHERE hold_id = $1"
)
_END_HOLD = "UPDATE seats.holds SET status = $2, ended_at = $3 WHERE hold_id = $1"


async def release_hold(
    *, db: Database, holds: HoldStore, hold_id: uuid.UUID, user_id: int | None
) -> HoldInfo:
    """End a hold early (compare-and-delete). `user_id` None: on behalf of a service.

    Someone else's hold answers as if it did not exist. Releasing a hold that already ended
    (released, expired) is a no-op; a confirmed hold's seats are sold and stay so."""
    async with transaction(db) as conn:
        row = await conn.fetchrow(_HOLD + " FOR UPDATE", hold_id)
        if row is None or (user_id is not None and row["user_id"] != user_id):
            raise HoldNotFound()
        hold = HoldInfo.of_row(row)
        if hold.status == "confirmed":
            raise HoldAlreadyConfirmed("The hold's seats are sold; cancel the booking instead")
        if hold.status != "held":
            return hold
        # Under the row lock, so a confirmation of the same hold cannot interleave.
        was_live = await holds.release(
            flight_id=hold.flight_id, hold_id=hold_id, user_id=hold.user_id, seats=hold.seats
        )
        now = utcnow()
        status, ended = ("released", now) if was_live else ("expired", min(hold.expires_at, now))
        await conn.execute(_END_HOLD, hold_id, status, ended)
        return HoldInfo.of_row(row, status=status)


async def get_hold(*, db: Database, holds: HoldStore, hold_id: uuid.UUID) -> HoldInfo:
    """A hold as the booking service sees it; a held hold no longer in Redis shows expired."""
    async with connect(db) as conn:
        row = await conn.fetchrow(_HOLD, hold_id)
    if row is None:
        raise HoldNotFound()
    hold = HoldInfo.of_row(row)
    if hold.status == "held":
        (live,) = await holds.live_holds([(hold.flight_id, hold.hold_id)])
        if not live:
            return HoldInfo.of_row(row, status="expired")
    return hold


_LIVE_HOLDS_OF = (
    "SELECT hold_id, flight_id, user_id, seats, status, expires_at, created_at, booking_id"
    " FROM seats.holds WHERE user_id = $1 AND flight_id = $2 AND status = 'held'"
    " ORDER BY created_at"
)


async def live_holds_of(
    *, db: Database, holds: HoldStore, user_id: int, flight_id: int
) -> list[HoldInfo]:
    """The user's live holds on a flight (the booking service books from them)."""
    async with connect(db) as conn:
        rows = [HoldInfo.of_row(r) for r in await conn.fetch(_LIVE_HOLDS_OF, user_id, flight_id)]
    alive = await holds.live_holds([(h.flight_id, h.hold_id) for h in rows])
    return [h for h, live in zip(rows, alive, strict=True) if live]


# Sweeper ----------------------------------------------------------------------------------
async def sweep_expired_holds(
    *, session: AsyncSession, holds: HoldStore, batch_size: int = 500
) -> int:
    """Record as expired the holds past their expiry whose Redis keys are gone."""
    total = 0
    while True:
        async with session.begin():
            rows = (
                await session.execute(
                    select(Hold.hold_id, Hold.flight_id)
                    .where(Hold.status == "held", Hold.expires_at < func.now())
                    .order_by(Hold.expires_at)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            live = await holds.live_holds([(r.flight_id, r.hold_id) for r in rows])
            dead = [r.hold_id for r, alive in zip(rows, live, strict=True) if not alive]
            if dead:
                await session.execute(
                    update(Hold)
                    .where(Hold.hold_id.in_(dead))
                    .values(status="expired", ended_at=Hold.expires_at)
                )
        total += len(dead)
        if len(rows) < batch_size or not dead:
            return total


__all__ = [
    "HoldInfo",
    "Sale",
    "SeatMap",
    "SeatRelease",
    "booking_key",
    "confirm_hold",
    "fetch_flight_document",
    "get_hold",
    "hold_seats",
    "live_holds_of",
    "release_hold",
    "release_sold_seats",
    "seat_map",
    "sweep_expired_holds",
    "upsert_flight",
]
