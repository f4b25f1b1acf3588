"""SPEC §3, rows 1 to 12, in order, through the gateway, with every service a real process:
signup, login, search, seat map, hold, book, read, discount, pay, ticket (JSON and PDF),
notifications (the automatic ones once each, and one sent by hand).
"""

import asyncio
import io
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
from pypdf import PdfReader

from tests.e2e.checks import create_flight
from tests.e2e.conftest import SignUp
from tests.helpers import IST, SUCCESS_CARD, assert_problem, bearer, eventually, unique_email

pytestmark = pytest.mark.e2e


async def test_the_whole_journey_of_spec_section_3(
    gateway: httpx.AsyncClient,
    signup: SignUp,
    admin: dict[str, str],
    reference_data: None,
    discount_codes: None,
) -> None:
    # 1. Sign up; 2. log in.
    email = unique_email("journey")
    password = "correct-horse-battery"
    signed = await gateway.post(
        "/api/auth/signup", json={"name": "Asha Rao", "email": email, "password": password}
    )
    assert signed.status_code == 201, signed.text
    login = await gateway.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    user_id = login.json()["userId"]
    me = bearer(login.json()["token"])

    # 3. Search: the flight is there, direct, with the shapes of SPEC §3.
    flight = await create_flight(gateway, admin, days=6)
    flight_id = flight["flightId"]
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
        i for i in found["itineraries"] if [s["flightId"] for s in i["segments"]] == [flight_id]
    )
    assert itinerary["stops"] == 0 and itinerary["price"]["currency"] == "INR"

    # 4. Seat map; 5. hold two seats, seed style ("A1" is "1A").
    seat_map = await gateway.get(f"/api/seats/{flight_id}", headers=me)
    assert seat_map.status_code == 200, seat_map.text
    economy = [s["seatNumber"] for s in seat_map.json()["seats"] if s["cabin"] == "economy"]
    seats = economy[:2]
    hold = await gateway.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumbers": seats}, headers=me
    )
    assert hold.status_code == 201, hold.text
    assert sorted(hold.json()["seats"]) == sorted(seats)

    # 6. Book (the server prices it); 7. read it, also in the seed's form.
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

    # 8. The seed's code FLY100 takes 100 off; pay must then receive the new amount.
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

    # 9. Pay with the success test card.
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

    # 10. The ticket (the explicit call returns the one issued on booking.confirmed, if any).
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

    # 11. The ticket as JSON and as a PDF with the PNR and the total.
    assert (await gateway.get(f"/api/tickets/{t['id']}", headers=me)).json()["id"] == t["id"]
    pdf = await gateway.get(f"/api/tickets/{t['id']}/pdf", headers=me)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert booking["reference"] in text
    assert f"{Decimal(discount['amountAfter']):,.2f}" in text or discount["amountAfter"] in text

    # 12. Notifications: booking confirmed and ticket issued, once per channel each.
    async def automatic() -> dict[str, list[str]]:
        r = await gateway.get("/api/notifications", params={"limit": 100}, headers=me)
        assert r.status_code == 200, r.text
        seen: dict[str, list[str]] = {}
        for n in r.json()["items"]:
            seen.setdefault(n["event"], []).append(n["channel"])
        return seen

    async def both_arrived() -> bool:
        seen = await automatic()
        return "booking.confirmed" in seen and "ticket.issued" in seen

    await eventually(both_arrived, within=20)
    await asyncio.sleep(1.0)  # a duplicate, if any, would show up by now
    seen = await automatic()
    assert sorted(seen["booking.confirmed"]) == ["email", "sms"]
    assert sorted(seen["ticket.issued"]) == ["email", "sms"]

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
