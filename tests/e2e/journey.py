"""SPEC §3, rows 1 to 12, through the gateway, step by step, and then a cancellation with its
refund: the journey every stack is walked through (the shared one in test_full_journey.py,
and the scale runs: a database per service, two processes of each service).
"""

import asyncio
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from pypdf import PdfReader

from tests.e2e.checks import create_flight
from tests.e2e.conftest import SignUp
from tests.helpers import IST, SUCCESS_CARD, assert_problem, bearer, eventually, unique_email


@dataclass(frozen=True)
class Journey:
    """What the journey made: the traveller, their flight, booking, discount and ticket."""

    me: dict[str, str]
    user_id: int
    flight: dict[str, Any]
    seats: list[str]
    booking: dict[str, Any]
    discount: dict[str, Any]
    ticket: dict[str, Any]


async def spec_journey(
    gateway: httpx.AsyncClient, signup: SignUp, admin: dict[str, str]
) -> Journey:
    """Rows 1 to 12: signup, login, search, seat map, hold, book, read, discount, pay, ticket
    (JSON and PDF), notifications (the automatic ones once each, and one sent by hand)."""
    user_id, me = await signed_up_and_logged_in(gateway)
    flight = await created_and_found(gateway, me, admin)
    seats, booking = await held_and_booked(gateway, me, flight, user_id)
    discount = await discounted_and_paid(gateway, me, booking)
    ticket = await ticketed(gateway, me, booking, discount)
    await notified(gateway, me, user_id, signup)
    return Journey(me, user_id, flight, seats, booking, discount, ticket)


async def signed_up_and_logged_in(gateway: httpx.AsyncClient) -> tuple[int, dict[str, str]]:
    """1. Sign up; 2. log in: the user id and the login's bearer header."""
    email = unique_email("journey")
    password = "correct-horse-battery"
    signed = await gateway.post(
        "/api/auth/signup", json={"name": "Asha Rao", "email": email, "password": password}
    )
    assert signed.status_code == 201, signed.text
    login = await gateway.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return login.json()["userId"], bearer(login.json()["token"])


async def created_and_found(
    gateway: httpx.AsyncClient, me: dict[str, str], admin: dict[str, str]
) -> dict[str, Any]:
    """3. Search: the flight is there, direct, with the shapes of SPEC §3."""
    flight = await create_flight(gateway, admin, days=6)
    date = datetime.fromisoformat(flight["departureTime"]).astimezone(IST).date().isoformat()
    search = await gateway.get(
        "/api/flights/search",
        params={"source": "DEL", "destination": "BOM", "date": date},
        headers=me,
    )
    assert search.status_code == 200, search.text
    found = search.json()
    assert found["source"] == "DEL" and found["destination"] == "BOM" and found["date"] == date
    itinerary = next(
        i
        for i in found["itineraries"]
        if [s["flightId"] for s in i["segments"]] == [flight["flightId"]]
    )
    assert itinerary["stops"] == 0 and itinerary["price"]["currency"] == "INR"
    return flight


async def held_and_booked(
    gateway: httpx.AsyncClient, me: dict[str, str], flight: dict[str, Any], user_id: int
) -> tuple[list[str], dict[str, Any]]:
    """4. Seat map; 5. hold two seats, seed style; 6. book (the server prices it); 7. read it,
    also in the seed's form. The seats and the booking."""
    flight_id = flight["flightId"]
    seat_map = await gateway.get(f"/api/seats/{flight_id}", headers=me)
    assert seat_map.status_code == 200, seat_map.text
    economy = [s["seatNumber"] for s in seat_map.json()["seats"] if s["cabin"] == "economy"]
    seats = economy[:2]
    hold = await gateway.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumbers": seats}, headers=me
    )
    assert hold.status_code == 201, hold.text
    assert sorted(hold.json()["seats"]) == sorted(seats)

    created = await gateway.post(
        "/api/bookings/create",
        json={
            "holdIds": [hold.json()["holdId"]],
            "passengers": [{"name": "Asha Rao"}, {"name": "Ravi Rao"}],
        },
        headers=me,
    )
    assert created.status_code == 201, created.text
    booking = created.json()
    assert booking["status"] == "PENDING" and booking["userId"] == user_id
    read = await gateway.get(f"/api/bookings/{booking['id']}/{user_id}", headers=me)
    assert read.status_code == 200 and read.json()["reference"] == booking["reference"]
    return seats, booking


async def discounted_and_paid(
    gateway: httpx.AsyncClient, me: dict[str, str], booking: dict[str, Any]
) -> dict[str, Any]:
    """8. The seed's code FLY100 takes 100 off, and pay must then receive the new amount;
    9. pay with the success test card. The discount as applied."""
    applied = await gateway.post(
        "/api/discounts/apply", json={"bookingId": booking["id"], "code": "FLY100"}, headers=me
    )
    assert applied.status_code == 200, applied.text
    discount = applied.json()
    assert Decimal(discount["amountBefore"]) - Decimal(discount["amountAfter"]) == Decimal("100")
    assert_problem(
        await gateway.post(
            "/api/payments/pay",
            json={"bookingId": booking["id"], "amount": discount["amountBefore"]},
            headers=me,
        ),
        409,
        "AMOUNT_MISMATCH",
    )
    paid = await gateway.post(
        "/api/payments/pay",
        json={
            "bookingId": booking["id"],
            "amount": discount["amountAfter"],
            "card": SUCCESS_CARD,
        },
        headers={**me, "Idempotency-Key": f"journey-{booking['id']}"},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "SUCCEEDED" and paid.json()["bookingStatus"] == "CONFIRMED"
    return discount


async def ticketed(
    gateway: httpx.AsyncClient,
    me: dict[str, str],
    booking: dict[str, Any],
    discount: dict[str, Any],
) -> dict[str, Any]:
    """10. The ticket (the explicit call returns the one issued on booking.confirmed, if any);
    11. the ticket as JSON and as a PDF with the PNR and the total."""
    ticket = await gateway.post(
        "/api/tickets/generate", json={"booking_id": booking["id"]}, headers=me
    )
    assert ticket.status_code in (200, 201), ticket.text
    t = ticket.json()
    assert t["reference"] == booking["reference"] and len(t["tickets"]) == 2
    assert all(len(c["ticketNumber"]) == 13 for c in t["tickets"])
    assert t["invoice"]["total"] == discount["amountAfter"]
    again = await gateway.post(
        "/api/tickets/generate", json={"bookingId": booking["id"]}, headers=me
    )
    assert again.status_code == 200 and again.json()["id"] == t["id"]

    assert (await gateway.get(f"/api/tickets/{t['id']}", headers=me)).json()["id"] == t["id"]
    pdf = await gateway.get(f"/api/tickets/{t['id']}/pdf", headers=me)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert booking["reference"] in text
    total = discount["amountAfter"]
    assert f"{Decimal(total):,.2f}" in text or total in text
    return t


async def notified(
    gateway: httpx.AsyncClient, me: dict[str, str], user_id: int, signup: SignUp
) -> None:
    """12. Notifications: booking confirmed and ticket issued, once per channel each; one sent
    by hand, to oneself only."""
    await each_once_per_channel(gateway, me, {"booking.confirmed", "ticket.issued"})
    sent = await gateway.post(
        "/api/notifications/send", json={"userId": user_id, "message": "ticket booked"}, headers=me
    )
    assert sent.status_code == 202, sent.text
    other = (await signup())["userId"]
    assert_problem(
        await gateway.post(
            "/api/notifications/send", json={"userId": other, "message": "hi"}, headers=me
        ),
        403,
    )


async def each_once_per_channel(
    gateway: httpx.AsyncClient, me: dict[str, str], events: set[str]
) -> None:
    """The traveller's notifications of each of `events` arrive, one email and one SMS each."""

    async def seen() -> dict[str, list[str]]:
        r = await gateway.get("/api/notifications", params={"limit": 100}, headers=me)
        assert r.status_code == 200, r.text
        by_event: dict[str, list[str]] = {}
        for n in r.json()["items"]:
            by_event.setdefault(n["event"], []).append(n["channel"])
        return by_event

    async def all_arrived() -> bool:
        return events <= set(await seen())

    await eventually(all_arrived, within=20)
    await asyncio.sleep(1.0)  # a duplicate, if any, would show up by now
    by_event = await seen()
    for event in events:
        assert sorted(by_event[event]) == ["email", "sms"], (event, by_event[event])


async def cancel_with_refund(gateway: httpx.AsyncClient, journey: Journey) -> None:
    """The paid booking cancelled: refunded in full, the seats free again, the ticket void,
    and the traveller told of the cancellation and of the refund."""
    me, booking = journey.me, journey.booking
    cancelled = await gateway.post(f"/api/bookings/{booking['id']}/cancel", headers=me)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["refundedAmount"] == journey.discount["amountAfter"]
    payments = await gateway.get("/api/payments", params={"bookingId": booking["id"]}, headers=me)
    assert [p["status"] for p in payments.json()["items"]] == ["REFUNDED"]
    seat_map = await gateway.get(f"/api/seats/{journey.flight['flightId']}", headers=me)
    status = {s["seatNumber"]: s["status"] for s in seat_map.json()["seats"]}
    assert [status[seat] for seat in journey.seats] == ["available"] * len(journey.seats)

    async def voided() -> bool:
        r = await gateway.get(f"/api/tickets/{journey.ticket['id']}", headers=me)
        return r.json()["status"] == "void"

    await eventually(voided, within=20)
    await each_once_per_channel(gateway, me, {"booking.cancelled", "payment.refunded"})
