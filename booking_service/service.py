"""Creating, reading and repricing bookings.

The lifecycle after creation (payment, confirmation, expiry, cancellation) is in `lifecycle.py`.
"""

import asyncio
import itertools
import logging
import secrets
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from booking_service import fares
from booking_service.clients import Clients, FlightInfo, HoldInfo
from booking_service.config import BookingSettings
from booking_service.errors import (
    BookingNotFound,
    BookingNotPending,
    DiscountAlreadyApplied,
    DiscountTooLarge,
    FlightCancelled,
    FlightDeparted,
    HoldAlreadyUsed,
    HoldExpired,
    HoldFlightMismatch,
    HoldNotFound,
    HoldNotOwned,
    HoldRequired,
    ItineraryInvalid,
    NoActiveHold,
    OneHoldPerFlight,
    PassengerCountMismatch,
    PassengersRequired,
    PaymentInProgress,
    PriceChanged,
    SeatCountMismatch,
    TooManySeats,
)
from booking_service.models import (
    PENDING,
    BookedSeat,
    Booking,
    Passenger,
    Segment,
    outbox,
)
from booking_service.schemas import BookingCreate, PassengerIn, booking_event
from shared import clock
from shared.contracts.bookings import BookingCreated, BookingRepriced
from shared.contracts.flights import CANCELLED as FLIGHT_CANCELLED
from shared.db import autocommit
from shared.errors import Forbidden
from shared.events import publish
from shared.money import fmt
from shared.security import Principal

log = logging.getLogger("booking.service")

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
REFERENCE_LENGTH = 6


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def constraint_of(exc: IntegrityError) -> str | None:
    """The name of the constraint a failed INSERT/UPDATE violated (asyncpg)."""
    cause = getattr(exc.orig, "__cause__", None)
    return getattr(cause, "constraint_name", None) or getattr(exc.orig, "constraint_name", None)


# Loading -------------------------------------------------------------------------------------

# The whole booking in one query: a few rows (seats x passengers), no extra round trips.
GRAPH = (joinedload(Booking.segments).joinedload(Segment.seats), joinedload(Booking.passengers))
# A page of bookings: one query per relationship for the whole page.
PAGE_GRAPH = (
    selectinload(Booking.segments).selectinload(Segment.seats),
    selectinload(Booking.passengers),
)
COLUMNS = [attr.key for attr in Booking.__mapper__.column_attrs]


async def load_booking(session: AsyncSession, booking_id: int) -> Booking | None:
    """The booking with its segments, seats and passengers (one query, no lock)."""
    result = await session.scalars(select(Booking).where(Booking.id == booking_id).options(*GRAPH))
    return result.unique().one_or_none()


async def lock_booking(
    session: AsyncSession, booking_id: int, *, skip_locked: bool = False
) -> Booking | None:
    """The booking's row, locked for this transaction (fresh from the database); its segments,
    seats and passengers are not loaded."""
    return (
        await session.scalars(
            select(Booking)
            .where(Booking.id == booking_id)
            .with_for_update(skip_locked=skip_locked)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()


async def lock_with_graph(
    session: AsyncSession, booking_id: int, *, skip_locked: bool = False
) -> Booking | None:
    """The whole booking, its row locked for this transaction with columns fresh from the lock.

    The graph is read before the lock, so the lock is held for no extra query: a booking's
    segments, seats and passengers never change once it exists. None if it does not exist
    (or, with `skip_locked`, another transaction holds it).
    """
    b = await load_booking(session, booking_id)
    if b is None:
        return None
    lock = {"skip_locked": True} if skip_locked else True
    try:  # re-reads the columns only: the loaded collections stay
        await session.refresh(b, attribute_names=COLUMNS, with_for_update=lock)
    except InvalidRequestError:  # no row: skipped (bookings are never deleted)
        if skip_locked:
            return None
        raise
    return b


async def load_graph(session: AsyncSession, b: Booking) -> Booking:
    """Load the graph of a booking already locked in this transaction (its columns stay)."""
    if await load_booking(session, b.id) is not b:  # the identity map answers with `b` itself
        raise BookingNotFound(f"Booking {b.id} not found")
    return b


# Creating ------------------------------------------------------------------------------------


async def create_booking(
    *,
    session: AsyncSession,
    clients: Clients,
    settings: BookingSettings,
    user: Principal,
    request: BookingCreate,
    user_token: str | None = None,
) -> Booking:
    """A PENDING booking from the caller's live holds, priced by the server."""
    if request.user_id is not None and request.user_id != user.user_id:
        raise Forbidden("userId does not match the authenticated user")
    holds = await _resolve_holds(clients=clients, user=user, request=request)
    flights = dict(
        zip(
            [h.flight_id for h in holds],
            await asyncio.gather(*(clients.flights.get_flight(h.flight_id) for h in holds)),
            strict=True,
        )
    )
    legs = _itinerary([(flights[h.flight_id], h) for h in holds])  # a cancelled flight first
    _check_live(holds)
    held = len(legs[0][1].seats)
    if any(len(h.seats) != held for _, h in legs):
        raise SeatCountMismatch(
            "Every flight of the itinerary needs the same number of held seats",
            heldSeats={str(h.flight_id): len(h.seats) for _, h in legs},
        )
    if request.seats is not None and request.seats != held:
        raise SeatCountMismatch(
            f"seats is {request.seats} but {held} seat(s) are held", seats=request.seats, held=held
        )
    if held > settings.max_seats_per_booking:
        raise TooManySeats(f"At most {settings.max_seats_per_booking} seats per booking")
    passengers = await _passengers(
        clients=clients, user=user, request=request, seats=held, user_token=user_token
    )
    price = fares.quote(legs, settings, passengers=held)
    if request.price is not None and request.price != price.total:
        raise PriceChanged(
            f"The price is now {fmt(price.total)} {price.currency}, not {fmt(request.price)}",
            price=fmt(request.price),
            currentPrice=fmt(price.total),
            currency=price.currency,
            fare={
                "base": fmt(price.base),
                "taxes": fmt(price.taxes),
                "fees": fmt(price.fees),
                "discount": fmt(price.discount),
                "total": fmt(price.total),
                "currency": price.currency,
            },
        )
    return await _insert_booking(session=session, user=user, price=price, passengers=passengers)


async def _resolve_holds(
    *, clients: Clients, user: Principal, request: BookingCreate
) -> list[HoldInfo]:
    ids = request.all_hold_ids
    if ids:
        holds = await _holds_by_id(clients=clients, ids=ids)
    elif request.flight_id is not None:
        holds = await _live_hold_on_flight(
            clients=clients, user=user, flight_id=request.flight_id, seats=request.seats
        )
    else:  # the schema refuses a request with neither
        raise HoldRequired("Send holdIds (or flightId and seats)")
    for hold in holds:  # ownership first: nothing else about another user's hold is told
        if hold.user_id != user.user_id:
            raise HoldNotOwned(f"Seat hold {hold.hold_id} is not yours", holdId=hold.hold_id)
    if request.flight_id is not None and request.flight_id not in {h.flight_id for h in holds}:
        raise HoldFlightMismatch(
            f"The seat hold(s) are not for flight {request.flight_id}", flightId=request.flight_id
        )
    if len({h.flight_id for h in holds}) != len(holds):
        raise OneHoldPerFlight("Send one seat hold per flight of the itinerary")
    return holds


async def _holds_by_id(*, clients: Clients, ids: list[str]) -> list[HoldInfo]:
    """The holds named in the request, each of which must exist."""
    found = await asyncio.gather(*(clients.seats.get_hold(i) for i in ids))
    holds = []
    for hold_id, hold in zip(ids, found, strict=True):
        if hold is None:
            raise HoldNotFound(f"Seat hold {hold_id} does not exist", holdId=hold_id)
        holds.append(hold)
    return holds


async def _live_hold_on_flight(
    *, clients: Clients, user: Principal, flight_id: int, seats: int | None
) -> list[HoldInfo]:
    """The caller's one live hold on the flight, for a request that names no hold: none, or
    several that the number of `seats` does not tell apart, is refused."""
    listed = await clients.seats.find_holds(user_id=user.user_id, flight_id=flight_id)
    if listed is None:
        raise HoldRequired(
            "Hold the seats first (POST /api/seats/lock) and send the holdId(s) "
            "as holdIds (or holdId) with this request"
        )
    now = clock.utcnow()
    live = [
        h for h in listed if h.user_id == user.user_id and h.state == "live" and h.expires_at > now
    ]
    if seats is not None and len(live) > 1:
        live = [h for h in live if len(h.seats) == seats] or live
    if not live:
        raise NoActiveHold(
            f"You hold no seats on flight {flight_id}; hold them first (POST /api/seats/lock)",
            flightId=flight_id,
        )
    if len(live) > 1:
        raise HoldRequired(
            f"You hold seats on flight {flight_id} in {len(live)} holds; say which with holdIds",
            holdIds=[h.hold_id for h in live],
        )
    return live


def _check_live(holds: list[HoldInfo]) -> None:
    now = clock.utcnow()
    for hold in holds:
        if hold.state == "used":
            raise HoldAlreadyUsed(
                f"Seat hold {hold.hold_id} is already used by a booking", holdId=hold.hold_id
            )
        if hold.state == "gone" or hold.expires_at <= now:
            raise HoldExpired(
                f"Seat hold {hold.hold_id} has expired or was released; hold the seats again",
                holdId=hold.hold_id,
            )


def _itinerary(legs: list[tuple[FlightInfo, HoldInfo]]) -> list[tuple[FlightInfo, HoldInfo]]:
    """The legs in flying order, checked to be bookable and to connect (at most one stop)."""
    now = clock.utcnow()
    for flight, _ in legs:
        if flight.status == FLIGHT_CANCELLED:
            raise FlightCancelled(
                f"Flight {flight.flight_number} is cancelled", flightId=flight.flight_id
            )
        if flight.departure_time <= now:
            raise FlightDeparted(
                f"Flight {flight.flight_number} has departed", flightId=flight.flight_id
            )
    legs = sorted(legs, key=lambda leg: leg[0].departure_time)
    if len(legs) > 2:
        raise ItineraryInvalid("At most one stop: one or two flights per booking")
    for (a, _), (b, _) in itertools.pairwise(legs):
        if a.destination != b.origin or b.departure_time <= a.arrival_time:
            raise ItineraryInvalid(
                f"Flight {b.flight_number} does not connect with {a.flight_number}"
            )
        if b.destination == legs[0][0].origin:
            raise ItineraryInvalid("A connection may not return to the origin")
    return legs


async def _passengers(
    *,
    clients: Clients,
    user: Principal,
    request: BookingCreate,
    seats: int,
    user_token: str | None,
) -> list[PassengerIn]:
    if request.passengers is None:
        if seats > 1:
            raise PassengersRequired(f"{seats} seats are held: give one passenger name per seat")
        name = await _account_name(clients=clients, user=user, user_token=user_token)
        name = name or (user.email.split("@")[0] if user.email else None) or "Account holder"
        return [PassengerIn(name=name, email=user.email)]
    if len(request.passengers) != seats:
        raise PassengerCountMismatch(
            f"{seats} seat(s) held but {len(request.passengers)} passenger(s) given",
            seats=seats,
            passengers=len(request.passengers),
        )
    return request.passengers


async def _account_name(*, clients: Clients, user: Principal, user_token: str | None) -> str | None:
    """The account holder's name: the token's `name` claim, or (a token minted before the
    claim existed) the auth service's GET /api/auth/me."""
    if user.name is not None:
        return user.name.strip()[:100] or None
    if user_token:
        return await clients.auth.account_name(user_token=user_token)
    return None


def _new_booking(*, user: Principal, price: fares.Quote, passengers: list[PassengerIn]) -> Booking:
    """The PENDING booking of a priced itinerary, with a fresh reference (not added yet)."""
    now = clock.utcnow()
    return Booking(
        reference=new_reference(),
        user_id=user.user_id,
        status=PENDING,
        base=price.base,
        taxes=price.taxes,
        fees=price.fees,
        discount=price.discount,
        total=price.total,
        amount_due=price.total,
        currency=price.currency,
        expires_at=min(seg.hold.expires_at for seg in price.segments),
        created_at=now,
        updated_at=now,
        segments=[
            Segment(
                position=i,
                flight_id=seg.flight.flight_id,
                flight_number=seg.flight.flight_number,
                airline=seg.flight.airline,
                origin=seg.flight.origin,
                destination=seg.flight.destination,
                departure_time=seg.flight.departure_time,
                arrival_time=seg.flight.arrival_time,
                hold_id=seg.hold.hold_id,
                seat_numbers=[s.seat_number for s in seg.seats],
                cabin=seg.cabin,
                seats=[
                    BookedSeat(
                        position=p,
                        seat_number=s.seat_number,
                        cabin=s.cabin,
                        fare=s.fare,
                        tax_rate=s.tax_rate,
                        tax=s.tax,
                    )
                    for p, s in enumerate(seg.seats)
                ],
            )
            for i, seg in enumerate(price.segments)
        ],
        passengers=[
            Passenger(position=i, name=p.name, email=p.email, phone=p.phone)
            for i, p in enumerate(passengers)
        ],
    )


async def _insert_booking(
    *,
    session: AsyncSession,
    user: Principal,
    price: fares.Quote,
    passengers: list[PassengerIn],
) -> Booking:
    """Insert the booking and its `booking.created`, one transaction per attempt: a drawn
    reference another booking has is drawn again; a hold another booking has is refused."""
    for _attempt in range(8):
        booking = _new_booking(user=user, price=price, passengers=passengers)
        try:
            async with session.begin():
                session.add(booking)
                await session.flush()
                await publish(session, outbox, booking_event(BookingCreated, booking))
        except IntegrityError as exc:  # rolled back, the booking expunged with it
            name = constraint_of(exc)
            if name == "uq_booking_segments_hold_id":  # the unique index is the check
                used = [seg.hold.hold_id for seg in price.segments]
                raise await _hold_used(session, used) from None
            if name == "uq_bookings_reference":
                continue  # a PNR collision: draw another
            raise
        return booking
    raise RuntimeError("could not draw a free booking reference")  # pragma: no cover


async def _hold_used(session: AsyncSession, hold_ids: list[str]) -> HoldAlreadyUsed:
    """The refusal naming the hold another booking has (read after the failed insert)."""
    async with autocommit(session):
        used = (
            await session.scalars(select(Segment.hold_id).where(Segment.hold_id.in_(hold_ids)))
        ).first()
    if used is None:  # pragma: no cover (that booking was rolled back meanwhile)
        return HoldAlreadyUsed("A seat hold is already used by a booking")
    return HoldAlreadyUsed(f"Seat hold {used} is already used by a booking", holdId=used)


# Reading -------------------------------------------------------------------------------------


async def get_booking(*, session: AsyncSession, booking_id: int, user: Principal) -> Booking:
    """The caller's booking (admins: anyone's); someone else's answers 404."""
    async with autocommit(session):
        booking = await load_booking(session, booking_id)
    if booking is None or (booking.user_id != user.user_id and not user.is_admin):
        raise BookingNotFound(f"Booking {booking_id} not found")
    return booking


async def get_booking_internal(*, session: AsyncSession, booking_id: int) -> Booking:
    async with autocommit(session):
        booking = await load_booking(session, booking_id)
    if booking is None:
        raise BookingNotFound(f"Booking {booking_id} not found")
    return booking


async def list_bookings(
    *, session: AsyncSession, user: Principal, limit: int, cursor: int | None
) -> tuple[list[Booking], str | None]:
    """The caller's bookings, newest first; the cursor is the last id of the previous page."""
    query = select(Booking).where(Booking.user_id == user.user_id)
    if cursor is not None:
        query = query.where(Booking.id < cursor)
    query = query.order_by(Booking.id.desc()).limit(limit + 1).options(*PAGE_GRAPH)
    async with autocommit(session):
        rows = list((await session.scalars(query)).all())
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


# Repricing (the discount service) -------------------------------------------------------------


async def apply_discount(
    *, session: AsyncSession, booking_id: int, code: str, discount: Decimal
) -> tuple[Booking, Decimal]:
    """Apply a discount to a PENDING booking; returns it and the amount due before."""
    async with session.begin():
        b = await lock_with_graph(session, booking_id)
        if b is None:
            raise BookingNotFound(f"Booking {booking_id} not found")
        if b.status != PENDING or b.cancel_requested_at is not None:
            raise BookingNotPending(f"The booking is {b.status}", bookingStatus=b.status)
        if b.payment_id is not None:
            raise PaymentInProgress("A payment for this booking is in progress")
        gross = b.base + b.taxes + b.fees
        if b.discount_code is not None:
            if b.discount_code == code and b.discount == discount:
                return b, gross
            raise DiscountAlreadyApplied(
                f"Code {b.discount_code} is already applied to this booking",
                discountCode=b.discount_code,
            )
        if discount < 0 or discount > gross:
            raise DiscountTooLarge(f"A discount must be between 0.00 and {fmt(gross)}")
        before = b.amount_due
        b.discount = discount
        b.discount_code = code
        b.total = gross - discount
        b.amount_due = b.total
        b.updated_at = clock.utcnow()
        await publish(session, outbox, booking_event(BookingRepriced, b, amount_before=before))
    return b, before
