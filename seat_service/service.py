"""Seat maps, holds, sales and releases: the rules, with explicit session and hold store.

Redis (`HoldStore`) is the fast path for holds; Postgres' `sold_seats`, with its unique
(flight, seat), is the final word on what is sold. Every change to a flight's sold seats bumps
its availability version and writes `seats.availability_changed` (and `seats.sold_out` when
nothing is left) to the outbox in the same transaction.
"""

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from seat_service.errors import (
    DuplicateSeats,
    FlightCancelled,
    FlightDeparted,
    FlightNotFound,
    HoldAlreadyConfirmed,
    HoldExpired,
    HoldNotFound,
    HoldReleased,
    SeatAlreadySold,
    SeatLimitExceeded,
    SeatNotFound,
    SeatUnavailable,
    TooManySeats,
)
from seat_service.flights import (
    CANCELLED,
    fetch_flight_document,
    find_flight,
    load_flight,
    upsert_flight,
)
from seat_service.holds import HoldStore
from seat_service.layout import SeatLayout, normalise_seat, seat_layout
from seat_service.models import Flight, Hold, SoldSeat, outbox
from shared.errors import ServiceUnavailable
from shared.events import publish
from shared.http import ServiceClient

log = logging.getLogger("seat_service")


def utcnow() -> datetime:
    return datetime.now(UTC)


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


def booking_key(booking_id: int | str) -> str:
    return str(booking_id).strip()


# Seat maps --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeatView:
    seat_number: str
    cabin: str
    status: str  # available | held | sold
    mine: bool


@dataclass(frozen=True)
class SeatMap:
    flight: Flight
    seats: list[SeatView]
    counts: dict[str, int]
    by_cabin: dict[str, dict[str, int]]


async def seat_map(
    *,
    session: AsyncSession,
    holds: HoldStore,
    flights: ServiceClient,
    flight_id: int,
    user_id: int,
) -> SeatMap:
    """Every seat of the flight with its status: layout minus sold (Postgres) minus held (Redis)."""
    async with session.begin():
        flight = await find_flight(session=session, flight_id=flight_id)
        if flight is not None:
            return await _map_of(session=session, holds=holds, flight=flight, user_id=user_id)
    await load_flight(session=session, flights=flights, flight_id=flight_id)
    async with session.begin():
        flight = await find_flight(session=session, flight_id=flight_id)
        assert flight is not None
        return await _map_of(session=session, holds=holds, flight=flight, user_id=user_id)


async def _map_of(
    *, session: AsyncSession, holds: HoldStore, flight: Flight, user_id: int
) -> SeatMap:
    layout = seat_layout(flight.layout)
    # Redis before Postgres: a sale that commits in between shows as sold, never as available
    # (its hold keys go only after its commit).
    holders, my_holds = await holds.snapshot(
        flight_id=flight.flight_id, seats=layout.seats, user_id=user_id
    )
    rows = await session.execute(
        select(SoldSeat.seat_number, Hold.user_id)
        .outerjoin(Hold, Hold.hold_id == SoldSeat.hold_id)
        .where(SoldSeat.flight_id == flight.flight_id)
    )
    sold: dict[str, int | None] = {seat: buyer for seat, buyer in rows}
    seats: list[SeatView] = []
    counts = {"available": 0, "held": 0, "sold": 0}
    by_cabin: dict[str, dict[str, int]] = {}
    for seat, holder in zip(layout.seats, holders, strict=True):
        cabin = layout.cabin_of[seat]
        if seat in sold:
            status, mine = "sold", sold[seat] == user_id
        elif holder:
            status, mine = "held", holder in my_holds
        else:
            status, mine = "available", False
        seats.append(SeatView(seat, cabin, status, mine))
        counts[status] += 1
        tally = by_cabin.setdefault(cabin, {"total": 0, "available": 0, "held": 0, "sold": 0})
        tally["total"] += 1
        tally[status] += 1
    return SeatMap(flight, seats, counts, by_cabin)


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
    def of(cls, hold: Hold, *, status: str | None = None) -> "HoldInfo":
        return cls(
            hold.hold_id,
            hold.flight_id,
            hold.user_id,
            list(hold.seats),
            status or hold.status,
            hold.expires_at,
            hold.created_at,
            hold.booking_id,
        )


def check_bookable(flight: Flight, *, now: datetime | None = None) -> None:
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


async def hold_seats(
    *,
    session: AsyncSession,
    holds: HoldStore,
    flights: ServiceClient,
    user_id: int,
    flight_id: int,
    seat_numbers: Sequence[str],
    ttl_ms: int,
    max_per_user: int,
) -> HoldInfo:
    """Hold the seats for the user, all or nothing, for `ttl_ms`.

    One Postgres transaction reads the flight, Redis grants the hold (one script) and the
    history row is written; if that transaction fails, the Redis hold is undone."""
    granted = _Granted(hold_id=uuid.uuid4(), user_id=user_id)
    request = {"ttl_ms": ttl_ms, "max_per_user": max_per_user, "seat_numbers": seat_numbers}
    try:
        async with session.begin():
            flight = await find_flight(session=session, flight_id=flight_id)
            if flight is not None:
                return await _grant(
                    session=session, holds=holds, flight=flight, granted=granted, **request
                )
        # Not seen yet (its flight.created not consumed yet?): fetched outside any transaction.
        await load_flight(session=session, flights=flights, flight_id=flight_id)
        async with session.begin():
            flight = await find_flight(session=session, flight_id=flight_id)
            assert flight is not None
            return await _grant(
                session=session, holds=holds, flight=flight, granted=granted, **request
            )
    except BaseException:
        if granted.seats:  # Redis granted it but there is no history row: give the seats back.
            try:
                await holds.release(
                    flight_id=flight_id,
                    hold_id=granted.hold_id,
                    user_id=user_id,
                    seats=granted.seats,
                )
            except ServiceUnavailable:
                log.warning("could not undo hold %s; its keys expire on their own", granted.hold_id)
        raise


@dataclass
class _Granted:
    """What Redis granted, so a failed transaction can give it back."""

    hold_id: uuid.UUID
    user_id: int
    seats: list[str] | None = None


async def _grant(
    *,
    session: AsyncSession,
    holds: HoldStore,
    flight: Flight,
    granted: _Granted,
    seat_numbers: Sequence[str],
    ttl_ms: int,
    max_per_user: int,
) -> HoldInfo:
    check_bookable(flight)
    seats = resolve_seats(seat_layout(flight.layout), seat_numbers, limit=max_per_user)
    flight_id, user_id = flight.flight_id, granted.user_id
    for _ in range(3):
        got = await holds.acquire(
            flight_id=flight_id,
            hold_id=granted.hold_id,
            user_id=user_id,
            seats=seats,
            ttl_ms=ttl_ms,
            max_per_user=max_per_user,
        )
        if not got.reload:
            break
        # The sold set is missing (first hold on the flight, or Redis lost it): refill it.
        await holds.load_sold(
            flight_id, await sold_seat_numbers(session=session, flight_id=flight_id)
        )
    else:
        raise ServiceUnavailable("Seat holds are unavailable right now; try again")
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
    granted.seats = seats
    hold = Hold(
        hold_id=granted.hold_id,
        flight_id=flight_id,
        user_id=user_id,
        seats=seats,
        status="held",
        expires_at=_from_ms(got.expires_ms),
        created_at=utcnow(),
    )
    session.add(hold)
    return HoldInfo.of(hold)


async def sold_seat_numbers(*, session: AsyncSession, flight_id: int) -> list[str]:
    rows = await session.execute(
        select(SoldSeat.seat_number).where(SoldSeat.flight_id == flight_id)
    )
    return list(rows.scalars())


async def _locked_hold(session: AsyncSession, hold_id: uuid.UUID) -> Hold | None:
    return (
        await session.execute(
            select(Hold)
            .where(Hold.hold_id == hold_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def release_hold(
    *, session: AsyncSession, holds: HoldStore, hold_id: uuid.UUID, user_id: int | None
) -> HoldInfo:
    """End a hold early (compare-and-delete). `user_id` None: on behalf of a service.

    Someone else's hold answers as if it did not exist. Releasing a hold that already ended
    (released, expired) is a no-op; a confirmed hold's seats are sold and stay so."""
    async with session.begin():
        hold = await _locked_hold(session, hold_id)
        if hold is None or (user_id is not None and hold.user_id != user_id):
            raise HoldNotFound()
        if hold.status == "confirmed":
            raise HoldAlreadyConfirmed("The hold's seats are sold; cancel the booking instead")
        if hold.status == "held":
            # Under the row lock, so a confirmation of the same hold cannot interleave.
            was_live = await holds.release(
                flight_id=hold.flight_id,
                hold_id=hold.hold_id,
                user_id=hold.user_id,
                seats=hold.seats,
            )
            hold.status = "released" if was_live else "expired"
            hold.ended_at = utcnow() if was_live else min(hold.expires_at, utcnow())
    return HoldInfo.of(hold)


async def get_hold(*, session: AsyncSession, holds: HoldStore, hold_id: uuid.UUID) -> HoldInfo:
    """A hold as the booking service sees it; a held hold no longer in Redis shows expired."""
    async with session.begin():
        hold = (
            await session.execute(select(Hold).where(Hold.hold_id == hold_id))
        ).scalar_one_or_none()
    if hold is None:
        raise HoldNotFound()
    if hold.status == "held":
        (live,) = await holds.live_holds([(hold.flight_id, hold.hold_id)])
        if not live:
            return HoldInfo.of(hold, status="expired")
    return HoldInfo.of(hold)


async def live_holds_of(
    *, session: AsyncSession, holds: HoldStore, user_id: int, flight_id: int
) -> list[HoldInfo]:
    """The user's live holds on a flight (the booking service books from them)."""
    async with session.begin():
        rows = list(
            (
                await session.execute(
                    select(Hold)
                    .where(
                        Hold.user_id == user_id,
                        Hold.flight_id == flight_id,
                        Hold.status == "held",
                    )
                    .order_by(Hold.created_at)
                )
            ).scalars()
        )
    alive = await holds.live_holds([(h.flight_id, h.hold_id) for h in rows])
    return [HoldInfo.of(h) for h, live in zip(rows, alive, strict=True) if live]


# Sales ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sale:
    hold_id: uuid.UUID
    flight_id: int
    booking_id: str
    seats: list[str]
    sold_at: datetime


async def _availability_changed(session: AsyncSession, flight_id: int) -> dict[str, Any]:
    """Bump the flight's version and write the availability events (caller's transaction)."""
    flight_number, version, capacity, total = (
        await session.execute(
            update(Flight)
            .where(Flight.flight_id == flight_id)
            .values(version=Flight.version + 1, updated_at=func.now())
            .returning(Flight.flight_number, Flight.version, Flight.capacity, Flight.total_seats)
        )
    ).one()
    sold_by_cabin = dict(
        (
            await session.execute(
                select(SoldSeat.cabin, func.count())
                .where(SoldSeat.flight_id == flight_id)
                .group_by(SoldSeat.cabin)
            )
        ).all()
    )
    by_cabin = {cabin: n - sold_by_cabin.get(cabin, 0) for cabin, n in capacity.items()}
    sold = sum(sold_by_cabin.values())
    payload = {
        "flightId": flight_id,
        "flightNumber": flight_number,
        "seatsAvailable": total - sold,
        "seatsTotal": total,
        "seatsSold": sold,
        "byCabin": by_cabin,
        "version": version,
    }
    await publish(session, outbox, type="seats.availability_changed", payload=payload)
    if total - sold <= 0:
        await publish(
            session,
            outbox,
            type="seats.sold_out",
            payload={"flightId": flight_id, "flightNumber": flight_number, "version": version},
        )
    return payload


async def confirm_hold(
    *,
    session: AsyncSession,
    holds: HoldStore,
    hold_id: uuid.UUID,
    booking_id: int | str,
    pin_ms: int,
) -> Sale:
    """Sell a live hold's seats to a booking, in one Postgres transaction.

    Idempotent for the same booking. The hold must still be live in Redis (else
    HOLD_EXPIRED); Postgres' unique (flight, seat) refuses a seat sold already, whatever Redis
    says (SEAT_ALREADY_SOLD)."""
    booking = booking_key(booking_id)
    outcome: Exception | None = None
    taken: list[str] = []
    async with session.begin():
        hold = await _locked_hold(session, hold_id)
        if hold is None:
            raise HoldNotFound()
        if hold.status == "confirmed":
            if hold.booking_id != booking:
                raise HoldAlreadyConfirmed("The hold was confirmed for another booking")
            repeat = True
        elif hold.status == "released":
            raise HoldReleased()
        elif hold.status == "expired":
            raise HoldExpired()
        else:
            repeat = False
        if not repeat:
            # Lock the flight: sales on one flight are serialised, so versions and counts are
            # exact, and two sales never deadlock on each other's seats.
            flight = (
                await session.execute(
                    select(Flight)
                    .where(Flight.flight_id == hold.flight_id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
            ).scalar_one_or_none()
            if flight is None:
                raise FlightNotFound()
            if flight.status == CANCELLED:
                raise FlightCancelled()
            live = await holds.pin(
                flight_id=hold.flight_id, hold_id=hold.hold_id, seats=hold.seats, pin_ms=pin_ms
            )
            if not live:
                hold.status, hold.ended_at = "expired", min(hold.expires_at, utcnow())
                outcome = HoldExpired("The hold ran out before it was confirmed")
            else:
                layout = seat_layout(flight.layout)
                now = utcnow()
                try:
                    async with session.begin_nested():
                        session.add_all(
                            SoldSeat(
                                flight_id=hold.flight_id,
                                seat_number=seat,
                                cabin=layout.cabin_of.get(seat, "economy"),
                                hold_id=hold.hold_id,
                                booking_id=booking,
                                sold_at=now,
                            )
                            for seat in sorted(hold.seats)
                        )
                except IntegrityError:
                    # Redis said the seats were free; Postgres knows better. The hold is void.
                    sold = await session.execute(
                        select(SoldSeat.seat_number).where(
                            SoldSeat.flight_id == hold.flight_id,
                            SoldSeat.seat_number.in_(hold.seats),
                        )
                    )
                    taken = sorted(sold.scalars())
                    hold.status, hold.ended_at = "released", now
                    outcome = SeatAlreadySold(
                        f"Already sold: {', '.join(taken)}", seats=taken, flightId=hold.flight_id
                    )
                else:
                    hold.status, hold.booking_id, hold.ended_at = "confirmed", booking, now
                    await _availability_changed(session, hold.flight_id)
        sale = Sale(hold.hold_id, hold.flight_id, booking, list(hold.seats), hold.ended_at)
        user_id = hold.user_id
    if isinstance(outcome, HoldExpired):
        raise outcome
    if isinstance(outcome, SeatAlreadySold):
        # Repair the fast path: the hold's keys go, the sold set learns what Postgres knows.
        try:
            await holds.release(
                flight_id=sale.flight_id, hold_id=sale.hold_id, user_id=user_id, seats=sale.seats
            )
            async with session.begin():
                sold_now = await sold_seat_numbers(session=session, flight_id=sale.flight_id)
            await holds.load_sold(sale.flight_id, sold_now)
        except ServiceUnavailable:
            log.warning("could not repair Redis after refusing hold %s", sale.hold_id)
        raise outcome
    try:
        await holds.finish_sale(
            flight_id=sale.flight_id, hold_id=sale.hold_id, user_id=user_id, seats=sale.seats
        )
    except (ServiceUnavailable, RedisError):
        # The sale stands (Postgres); the hold keys run out on their own.
        log.warning("sale of hold %s committed but Redis was not updated", sale.hold_id)
    return sale


@dataclass(frozen=True)
class SeatRelease:
    flight_id: int
    booking_id: str
    released: list[str]
    not_released: list[str]
    availability: dict[str, Any] | None


async def release_sold_seats(
    *,
    session: AsyncSession,
    holds: HoldStore,
    flight_id: int,
    seat_numbers: Sequence[str],
    booking_id: int | str,
) -> SeatRelease:
    """Put a booking's sold seats back on sale (a cancellation). Idempotent: seats not sold to
    that booking are left alone and reported in `not_released`."""
    booking = booking_key(booking_id)
    wanted = [normalise_seat(raw) or raw.strip() for raw in seat_numbers]
    wanted = list(dict.fromkeys(wanted))
    async with session.begin():
        flight = (
            await session.execute(
                select(Flight).where(Flight.flight_id == flight_id).with_for_update()
            )
        ).scalar_one_or_none()
        if flight is None:
            raise FlightNotFound()
        released = list(
            (
                await session.execute(
                    delete(SoldSeat)
                    .where(
                        SoldSeat.flight_id == flight_id,
                        SoldSeat.seat_number.in_(wanted),
                        SoldSeat.booking_id == booking,
                    )
                    .returning(SoldSeat.seat_number)
                )
            ).scalars()
        )
        availability = await _availability_changed(session, flight_id) if released else None
    if released:
        try:
            await holds.unsell(flight_id, released)
        except ServiceUnavailable:
            # A stale sold set only refuses holds on these seats until it is rebuilt.
            log.warning("seats %s of flight %s released but Redis not updated", released, flight_id)
    return SeatRelease(
        flight_id,
        booking,
        sorted(released),
        [s for s in wanted if s not in released],
        availability,
    )


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
