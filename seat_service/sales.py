"""Sales (the booking service confirms a hold) and their undoing (a cancelled booking).

Every change to a flight's sold seats bumps its availability version and writes
`seats.availability_changed` (and `seats.sold_out` when nothing is left; `events.py`) to the
outbox in the same transaction. Sales on one flight are serialised by the flight's row lock,
so versions and counts are exact and two sales never deadlock on each other's seats;
Postgres' unique (flight, seat) refuses a seat sold already, whatever Redis says.

A confirmation is BEGIN, one statement that locks the hold and then its flight, the Redis pin,
one statement that sells (seats, hold, version, counts, events, NOTIFY), COMMIT. A sale
Postgres refuses (a seat sold already) repairs Redis afterwards: the hold's keys go and the
flight's sold set learns what Postgres knows.
"""

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from redis.exceptions import RedisError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seat_service.errors import (
    FlightCancelled,
    FlightNotFound,
    HoldAlreadyConfirmed,
    HoldExpired,
    HoldNotFound,
    HoldReleased,
    SeatAlreadySold,
)
from seat_service.events import AVAILABILITY_CHANGED_SQL, SOLD_OUT_SQL, availability_changed
from seat_service.holds import HoldStore
from seat_service.layout import normalise_seat, seat_layout
from seat_service.models import CONFIRMED, EXPIRED, HELD, RELEASED, Flight, SoldSeat, outbox
from seat_service.pg import connect, transaction
from shared import clock
from shared.contracts.flights import CANCELLED, CabinName
from shared.contracts.seats import AvailabilityChanged, SoldOut
from shared.db import Database
from shared.errors import ServiceUnavailable
from shared.events import outbox_channel, publish_many
from shared.logging import request_id_var
from shared.tracing import current_traceparent

log = logging.getLogger("seat_service")


def booking_key(booking_id: int | str) -> str:
    return str(booking_id).strip()


@dataclass(frozen=True)
class Sale:
    hold_id: uuid.UUID
    flight_id: int
    booking_id: str
    seats: list[str]
    sold_at: datetime


# The hold, locked, then (only if it is still held) its flight, locked: always in that order.
_LOCK_HOLD = f"""
WITH h AS (
  SELECT hold_id, flight_id, user_id, seats, status, booking_id, ended_at
  FROM seats.holds WHERE hold_id = $1 FOR UPDATE
)
SELECT h.*, f.status AS flight_status, f.layout::text AS layout
FROM h LEFT JOIN LATERAL (
  SELECT status, layout FROM seats.flights
  WHERE flight_id = h.flight_id AND h.status = '{HELD}' FOR UPDATE
) AS f ON true
"""  # noqa: S608 (a status constant, nothing from a request)

_EXPIRE = f"""
UPDATE seats.holds SET status = '{EXPIRED}', ended_at = least(expires_at, $2) WHERE hold_id = $1
"""  # noqa: S608 (a status constant)

# The sale, under both locks. Seats already sold are skipped (ON CONFLICT), and then nothing
# else happens: no row comes back and the caller voids the hold. Otherwise the hold is
# confirmed, the version bumped, the counts taken (this statement's snapshot, which cannot miss
# a sale: they all take the flight's lock, held here, plus the rows inserted here) and the
# events written (type and version from the contracts), one row back per event, each with its
# NOTIFY for the outbox relay.
# $1 flight, $2 hold, $3 booking, $4 now, $5 seats, $6 their cabins, $7 $8 event ids,
# $9 request id, $10 NOTIFY channel, $11 the current `traceparent` (the events continue the
# request's trace, as `publish` makes them).
_SELL = f"""
WITH ins AS (
  INSERT INTO seats.sold_seats (flight_id, seat_number, cabin, hold_id, booking_id, sold_at)
  SELECT $1::bigint, seat, cabin, $2::uuid, $3::text, $4::timestamptz
  FROM unnest($5::text[], $6::text[]) AS s(seat, cabin)
  ON CONFLICT (flight_id, seat_number) DO NOTHING
  RETURNING cabin
), whole AS (
  SELECT count(*) = cardinality($5::text[]) AS ok FROM ins
), hold AS (
  UPDATE seats.holds SET status = '{CONFIRMED}', booking_id = $3::text, ended_at = $4::timestamptz
  WHERE hold_id = $2::uuid AND (SELECT ok FROM whole)
), flight AS (
  UPDATE seats.flights SET version = version + 1, updated_at = now()
  WHERE flight_id = $1::bigint AND (SELECT ok FROM whole)
  RETURNING flight_number, version, capacity, total_seats
), sold AS (
  SELECT cabin, count(*)::int AS n FROM (
    SELECT cabin FROM seats.sold_seats WHERE flight_id = $1::bigint
    UNION ALL SELECT cabin FROM ins
  ) AS x GROUP BY cabin
), counted AS (
  SELECT f.flight_number, f.version, f.total_seats,
    (SELECT coalesce(sum(n), 0)::int FROM sold) AS seats_sold,
    (SELECT coalesce(jsonb_object_agg(c.key, c.value::int - coalesce(s.n, 0)), '{{}}'::jsonb)
     FROM jsonb_each_text(f.capacity) AS c LEFT JOIN sold AS s ON s.cabin = c.key) AS by_cabin
  FROM flight AS f
), events AS (
  INSERT INTO seats.outbox (event_id, type, version, payload, request_id, traceparent)
  SELECT $7::uuid, '{AvailabilityChanged.type}', {AvailabilityChanged.version:d},
    {AVAILABILITY_CHANGED_SQL}, $9::text, $11::text
  FROM counted
  UNION ALL
  SELECT $8::uuid, '{SoldOut.type}', {SoldOut.version:d}, {SOLD_OUT_SQL}, $9::text, $11::text
  FROM counted WHERE total_seats - seats_sold <= 0
  RETURNING id
)
SELECT pg_notify($10::text, '') FROM events
"""  # noqa: S608 (statuses and the events' payloads from `events.py`: constants only)

# Redis said the seats were free; Postgres knows better: what this sale inserted goes, the
# hold is void, and the seats someone else bought come back.
_VOID = f"""
WITH gone AS (
  DELETE FROM seats.sold_seats WHERE flight_id = $1 AND hold_id = $2
), hold AS (
  UPDATE seats.holds SET status = '{RELEASED}', ended_at = $4 WHERE hold_id = $2
)
SELECT array(
  SELECT seat_number FROM seats.sold_seats
  WHERE flight_id = $1 AND seat_number = ANY($3::text[]) AND hold_id IS DISTINCT FROM $2
)
"""  # noqa: S608 (a status constant)


def _settled(row: Any, booking: str) -> Sale | None:
    """A hold that is no longer `held`: the sale again (same booking), or why not; None if
    it is still held."""
    if row is None:
        raise HoldNotFound()
    status = row["status"]
    if status == CONFIRMED:
        if row["booking_id"] != booking:
            raise HoldAlreadyConfirmed("The hold was confirmed for another booking")
        return Sale(row["hold_id"], row["flight_id"], booking, list(row["seats"]), row["ended_at"])
    if status == RELEASED:
        raise HoldReleased()
    if status == EXPIRED:
        raise HoldExpired()
    if row["layout"] is None:
        raise FlightNotFound()
    if row["flight_status"] == CANCELLED:
        raise FlightCancelled()
    return None


async def confirm_hold(
    *,
    db: Database,
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
    async with transaction(db) as conn:
        row = await conn.fetchrow(_LOCK_HOLD, hold_id)
        repeat = _settled(row, booking)
        if repeat is not None:
            return repeat
        flight_id, seats = row["flight_id"], list(row["seats"])
        outcome: Sale | SeatAlreadySold | HoldExpired
        # Under the locks: a release or another confirmation of this hold waits for us.
        if await holds.pin(flight_id=flight_id, hold_id=hold_id, seats=seats, pin_ms=pin_ms):
            outcome = await _sell(conn, row, booking)
        else:
            await conn.execute(_EXPIRE, hold_id, clock.utcnow())
            outcome = HoldExpired("The hold ran out before it was confirmed")
    if isinstance(outcome, HoldExpired):
        raise outcome
    if isinstance(outcome, SeatAlreadySold):
        await _repair(db, holds, row)
        raise outcome
    try:
        await holds.finish_sale(
            flight_id=flight_id, hold_id=hold_id, user_id=row["user_id"], seats=seats
        )
    except (ServiceUnavailable, RedisError):
        # The sale stands (Postgres); the hold keys run out on their own.
        log.warning("sale of hold %s committed but Redis was not updated", hold_id)
    return outcome


async def _sell(conn: Any, row: Any, booking: str) -> Sale | SeatAlreadySold:
    """The sale itself, in the caller's transaction; or the seats Postgres says are sold."""
    layout = seat_layout(json.loads(row["layout"]))
    flight_id, hold_id = row["flight_id"], row["hold_id"]
    seats = sorted(row["seats"])
    cabins = [layout.cabin_of.get(seat, "economy") for seat in seats]
    now = clock.utcnow()
    events = await conn.fetch(
        _SELL,
        flight_id,
        hold_id,
        booking,
        now,
        seats,
        cabins,
        uuid.uuid4(),
        uuid.uuid4(),
        request_id_var.get(),
        outbox_channel(outbox),
        current_traceparent(),
    )
    if events:
        return Sale(hold_id, flight_id, booking, list(row["seats"]), now)
    taken = sorted(await conn.fetchval(_VOID, flight_id, hold_id, seats, now))
    return SeatAlreadySold(f"Already sold: {', '.join(taken)}", seats=taken, flightId=flight_id)


async def _repair(db: Database, holds: HoldStore, row: Any) -> None:
    """After a refused sale: the hold's keys go, the sold set learns what Postgres knows."""
    flight_id = row["flight_id"]
    try:
        await holds.release(
            flight_id=flight_id, hold_id=row["hold_id"], user_id=row["user_id"], seats=row["seats"]
        )
        async with connect(db) as conn:
            sold_now = await sold_seat_numbers(conn, flight_id)
        await holds.load_sold(flight_id, sold_now)
    except ServiceUnavailable:
        log.warning("could not repair Redis after refusing hold %s", row["hold_id"])


async def sold_seat_numbers(conn: Any, flight_id: int) -> list[str]:
    sql = "SELECT seat_number FROM seats.sold_seats WHERE flight_id = $1"
    return [r[0] for r in await conn.fetch(sql, flight_id)]


# Releases (a cancelled booking) -----------------------------------------------------------
@dataclass(frozen=True)
class SeatRelease:
    flight_id: int
    booking_id: str
    released: list[str]
    not_released: list[str]
    availability: AvailabilityChanged | None


async def _availability_changed(session: AsyncSession, flight_id: int) -> AvailabilityChanged:
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
    sold = sum(sold_by_cabin.values())
    # The capacity's cabins are the layout's, which came from the flight document's.
    left = {cabin: n - sold_by_cabin.get(cabin, 0) for cabin, n in capacity.items()}
    changed = availability_changed(
        flight_id=flight_id,
        flight_number=flight_number,
        total=total,
        sold=sold,
        by_cabin=cast(dict[CabinName, int], left),
        version=version,
    )
    events: list[AvailabilityChanged | SoldOut] = [changed]
    if total - sold <= 0:
        events.append(
            SoldOut(flight_id=flight_id, flight_number=flight_number, availability_version=version)
        )
    await publish_many(session, outbox, events)
    return changed


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
