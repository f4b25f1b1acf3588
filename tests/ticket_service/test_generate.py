"""POST /api/tickets/generate and GET /api/tickets/{id} against the real booking stack."""

import asyncio
import re
from datetime import timedelta
from decimal import Decimal

import httpx

from shared.contracts.tickets import TicketIssued
from tests import helpers
from tests.booking_service.harness import new_flight
from tests.helpers import DECLINE_CARD, SUCCESS_CARD, assert_problem
from tests.ticket_service.conftest import Tickets

TICKET_NUMBER = re.compile(r"^[0-9]{13}$")
HOURS_2 = timedelta(hours=2)
INVOICE_NUMBER = re.compile(r"^FB/[0-9]{4}-[0-9]{2}/[0-9]{6}$")


def money(value: str) -> Decimal:
    assert re.fullmatch(r"-?[0-9]+\.[0-9]{2}", value), value
    return Decimal(value)


def assert_adds_up(invoice: dict, amount_paid: Decimal) -> None:
    """The invoice, line by line and in total, is the amount paid to the paisa."""
    lines = invoice["lines"]
    for line in lines:
        assert money(line["total"]) == money(line["base"]) + money(line["gst"]) + money(line["fee"])
    base = sum((money(x["base"]) for x in lines), Decimal("0.00"))
    gst = sum((money(x["gst"]) for x in lines), Decimal("0.00"))
    fees = sum((money(x["fee"]) for x in lines), Decimal("0.00"))
    assert (money(invoice["base"]), money(invoice["gst"]), money(invoice["fees"])) == (
        base,
        gst,
        fees,
    )
    total = base + gst + fees - money(invoice["discount"])
    assert money(invoice["total"]) == total == amount_paid
    assert money(invoice["amountPaid"]) == amount_paid


async def paid_amount(tickets: Tickets, booking_id: int) -> Decimal:
    payments = [p for p in await tickets.stack.payments_of(booking_id) if p.status == "SUCCEEDED"]
    assert len(payments) == 1, payments
    return Decimal(payments[0].amount)


async def test_confirmed_booking_gets_its_ticket(tickets: Tickets, user) -> None:
    user_id, headers = user
    booking = await tickets.confirmed_booking(headers, "12A", "12B")
    r = await tickets.generate(headers, booking["id"])
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["bookingId"] == booking["id"] and t["userId"] == user_id
    assert t["reference"] == booking["reference"] and t["status"] == "issued"
    assert t["pdfUrl"] == f"/api/tickets/{t['id']}/pdf"
    assert [p["name"] for p in t["passengers"]] == ["Passenger 1", "Passenger 2"]
    # One 13-digit number per passenger and flight, Air India's prefix 098.
    assert len(t["tickets"]) == 2
    assert {(c["passenger"], c["seatNumber"]) for c in t["tickets"]} == {
        ("Passenger 1", "12A"),
        ("Passenger 2", "12B"),
    }
    for c in t["tickets"]:
        assert TICKET_NUMBER.match(c["ticketNumber"]) and c["ticketNumber"].startswith("098")
        assert c["flightId"] == booking["flightIds"][0]
        assert c["flightNumber"] == booking["segments"][0]["flightNumber"]
        assert c["departureTime"].endswith("+05:30")  # local time at DEL
    [segment] = t["segments"]
    assert (segment["origin"], segment["destination"], segment["durationMinutes"]) == (
        "DEL",
        "BOM",
        120,
    )
    invoice = t["invoice"]
    assert INVOICE_NUMBER.match(invoice["number"]), invoice["number"]
    assert invoice["currency"] == "INR"
    assert [(x["base"], x["gstRate"], x["gst"], x["fee"]) for x in invoice["lines"]] == [
        ("4500.00", "0.05", "225.00", "199.00"),
        ("4500.00", "0.05", "225.00", "199.00"),
    ]
    assert invoice["total"] == booking["amountDue"] == "9848.00"
    assert invoice["totalInWords"] == "Rupees Nine Thousand Eight Hundred Forty Eight Only"
    assert_adds_up(invoice, await paid_amount(tickets, booking["id"]))


async def test_twice_gives_the_same_ticket(tickets: Tickets, user) -> None:
    _, headers = user
    booking = await tickets.confirmed_booking(headers, "14C")
    first = await tickets.generate(headers, booking["id"])
    assert first.status_code == 201, first.text
    again = await tickets.generate(
        headers, None, body={"booking_id": booking["id"]}
    )  # the seed's form
    assert again.status_code == 200, again.text
    assert again.json() == first.json()


async def test_concurrent_generates_issue_one_ticket(tickets: Tickets, user) -> None:
    _, headers = user
    booking = await tickets.confirmed_booking(headers, "15A", "15B", "15C")
    responses = await asyncio.gather(*(tickets.generate(headers, booking["id"]) for _ in range(8)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({tuple(c["ticketNumber"] for c in r.json()["tickets"]) for r in responses}) == 1
    rows = await tickets.sql(
        "SELECT count(*) FROM tickets.tickets WHERE booking_id = :b", b=booking["id"]
    )
    assert rows[0][0] == 1
    events = await tickets.sql(
        "SELECT payload FROM tickets.outbox WHERE type = 'ticket.issued' "
        "AND (payload->>'bookingId')::bigint = :b",
        b=booking["id"],
    )
    assert len(events) == 1
    issued = TicketIssued.model_validate(events[0].payload)
    assert issued.ticket_numbers == [c["ticketNumber"] for c in responses[0].json()["tickets"]]
    assert issued.reference == booking["reference"]
    assert issued.ticket_id == responses[0].json()["id"]
    assert issued.user_id == booking["userId"]


async def test_one_number_per_passenger_and_flight_all_unique(tickets: Tickets, user) -> None:
    """A one-stop booking: two flights x two passengers = four distinct e-ticket numbers."""
    _, headers = user
    first = await new_flight(
        origin="DEL", destination="BOM", departs_in=timedelta(days=4), airline_code="AI"
    )
    second = await new_flight(
        origin="BOM",
        destination="BLR",
        departs_in=timedelta(days=4, hours=3),
        duration=HOURS_2,
        airline_code="AI",
    )
    holds = [
        await tickets.stack.hold(headers, first, "20A", "20B"),
        await tickets.stack.hold(headers, second, "21A", "21B"),
    ]
    r = await tickets.stack.book(
        headers,
        holdIds=[h["holdId"] for h in holds],
        passengers=[{"name": "Asha Rao"}, {"name": "Ravi Rao"}],
    )
    assert r.status_code == 201, r.text
    booking = r.json()
    paid = await tickets.stack.pay(headers, booking, card=SUCCESS_CARD)
    assert paid.status_code == 201, paid.text
    t = await tickets.issued(headers, booking["id"])
    numbers = [c["ticketNumber"] for c in t["tickets"]]
    assert len(numbers) == 4 == len(set(numbers))
    assert all(TICKET_NUMBER.match(n) and n.startswith("098") for n in numbers)
    assert {(c["passenger"], c["flightId"], c["seatNumber"]) for c in t["tickets"]} == {
        ("Asha Rao", first, "20A"),
        ("Ravi Rao", first, "20B"),
        ("Asha Rao", second, "21A"),
        ("Ravi Rao", second, "21B"),
    }
    assert [s["flightId"] for s in t["segments"]] == [first, second]
    assert t["tickets"][2]["departureTime"].endswith("+05:30")
    assert_adds_up(t["invoice"], await paid_amount(tickets, booking["id"]))
    assert t["invoice"]["fees"] == "796.00"  # 199.00 per passenger and flight


async def test_airline_prefix_and_numbers_unique_across_tickets(tickets: Tickets, user) -> None:
    _, headers = user
    indigo = await new_flight(airline_code="6E")
    unknown = await new_flight(airline_code="QP", airline="Akasa Air")
    a = await tickets.issued(
        headers, (await tickets.confirmed_booking(headers, flight_id=indigo))["id"]
    )
    b = await tickets.issued(
        headers, (await tickets.confirmed_booking(headers, flight_id=unknown))["id"]
    )
    assert a["tickets"][0]["ticketNumber"].startswith("312")
    assert b["tickets"][0]["ticketNumber"].startswith("999")
    rows = await tickets.sql("SELECT ticket_number, count(*) OVER () FROM tickets.ticket_numbers")
    numbers = [r[0] for r in rows]
    assert len(numbers) == len(set(numbers)) >= 2
    assert all(TICKET_NUMBER.match(n) for n in numbers)


async def test_business_and_economy_seats_taxed_at_their_rates(tickets: Tickets, user) -> None:
    _, headers = user
    booking = await tickets.confirmed_booking(headers, "2A", "12C")
    t = await tickets.issued(headers, booking["id"])
    rates = {x["seatNumber"]: (x["base"], x["gstRate"], x["gst"]) for x in t["invoice"]["lines"]}
    assert rates == {
        "2A": ("12000.00", "0.12", "1440.00"),
        "12C": ("4500.00", "0.05", "225.00"),
    }
    assert t["invoice"]["gst"] == booking["fare"]["taxes"] == "1665.00"
    assert_adds_up(t["invoice"], await paid_amount(tickets, booking["id"]))


async def test_invoice_with_a_discount_adds_up_to_the_amount_paid(tickets: Tickets, user) -> None:
    _, headers = user
    booking = await tickets.stack.booked(headers, await new_flight(economy="4567.89"), "16A", "16B")
    r = await tickets.stack.bookings.post(
        f"/internal/bookings/{booking['id']}/discount",
        json={"code": "FLY100", "discount": "100.00"},
        headers=helpers.service_headers("discount", "booking"),
    )
    assert r.status_code == 200, r.text
    booking = r.json()["booking"]
    assert booking["amountDue"] == "9890.56"  # 2 x (4567.89 + 228.39 + 199.00) - 100.00
    paid = await tickets.stack.pay(headers, booking, card=SUCCESS_CARD)
    assert paid.status_code == 201, paid.text
    t = await tickets.issued(headers, booking["id"])
    invoice = t["invoice"]
    assert (invoice["discount"], invoice["total"]) == ("100.00", "9890.56")
    assert t["discountCode"] == "FLY100"
    assert invoice["totalInWords"] == (
        "Rupees Nine Thousand Eight Hundred Ninety and Fifty Six Paise Only"
    )
    assert [x["gstRate"] for x in invoice["lines"]] == ["0.05", "0.05"]
    assert_adds_up(invoice, await paid_amount(tickets, booking["id"]))


async def test_invoice_numbers_are_sequential(tickets: Tickets, user) -> None:
    _, headers = user
    numbers = []
    for _ in range(3):
        booking = await tickets.confirmed_booking(headers)
        numbers.append((await tickets.issued(headers, booking["id"]))["invoice"]["number"])
    serials = [int(n.rsplit("/", 1)[1]) for n in numbers]
    assert serials == [serials[0], serials[0] + 1, serials[0] + 2]
    assert len({n.rsplit("/", 1)[0] for n in numbers}) == 1


# Refusals ----------------------------------------------------------------------------------


async def test_only_a_confirmed_booking_is_ticketed(tickets: Tickets, user) -> None:
    _, headers = user
    pending = await tickets.stack.booked(headers, await new_flight(), "17A")
    r = await tickets.generate(headers, pending["id"])
    body = assert_problem(r, 409, "BOOKING_NOT_CONFIRMED")
    assert body["bookingStatus"] == "PENDING"
    declined = await tickets.stack.pay(headers, pending, card=DECLINE_CARD)
    assert declined.status_code == 402, declined.text
    assert (await tickets.generate(headers, pending["id"])).status_code == 409
    rows = await tickets.sql(
        "SELECT count(*) FROM tickets.tickets WHERE booking_id = :b", b=pending["id"]
    )
    assert rows[0][0] == 0


async def test_someone_elses_or_a_missing_booking_is_404(tickets: Tickets, new_user) -> None:
    _, owner = new_user()
    _, other = new_user()
    booking = await tickets.confirmed_booking(owner)
    r = await tickets.generate(other, booking["id"])
    assert r.status_code == 404 and r.json()["code"] == "BOOKING_NOT_FOUND", r.text
    missing = await tickets.generate(owner, 9_000_000_000)
    assert missing.status_code == 404 and missing.json()["code"] == "BOOKING_NOT_FOUND"
    t = await tickets.issued(owner, booking["id"])  # the owner can, afterwards
    assert (await tickets.generate(other, booking["id"])).status_code == 404
    assert (await tickets.client.get(f"/api/tickets/{t['id']}", headers=other)).status_code == 404


async def test_bad_input_is_422_and_no_token_401(tickets: Tickets, user) -> None:
    _, headers = user
    for body in ({}, {"bookingId": "abc"}, {"bookingId": 0}, {"bookingId": 2**70}, [1]):
        r = await tickets.client.post("/api/tickets/generate", json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["code"] == "VALIDATION_FAILED"
    r = await tickets.client.post("/api/tickets/generate", json={"bookingId": 1})
    assert r.status_code == 401
    assert (await tickets.client.get("/api/tickets/0", headers=headers)).status_code == 422
    assert (await tickets.client.get("/api/tickets/abc", headers=headers)).status_code == 404
    assert (await tickets.client.get("/api/tickets/generate", headers=headers)).status_code == 405
    assert (await tickets.client.get("/api/tickets/1")).status_code == 401


# Reading -----------------------------------------------------------------------------------


async def test_get_my_ticket_and_only_mine(tickets: Tickets, new_user) -> None:
    _, owner = new_user()
    _, other = new_user()
    booking = await tickets.confirmed_booking(owner)
    issued = await tickets.issued(owner, booking["id"])
    r = await tickets.client.get(f"/api/tickets/{issued['id']}", headers=owner)
    assert r.status_code == 200 and r.json() == issued
    for headers, ticket_id in ((other, issued["id"]), (owner, 9_000_000_000)):
        r = await tickets.client.get(f"/api/tickets/{ticket_id}", headers=headers)
        assert r.status_code == 404 and r.json()["code"] == "TICKET_NOT_FOUND", r.text
    mine = await tickets.client.get(
        "/api/tickets", params={"bookingId": booking["id"]}, headers=owner
    )
    assert [t["id"] for t in mine.json()["items"]] == [issued["id"]]
    theirs = await tickets.client.get("/api/tickets", headers=other)
    assert theirs.json()["items"] == []


async def test_a_live_ticket_is_answered_without_asking_the_booking_service(
    tickets: Tickets, user, new_user
) -> None:
    _, headers = user
    _, someone_else = new_user()
    booking = await tickets.confirmed_booking(headers, "24D")
    first = await tickets.issued(headers, booking["id"])
    client = tickets.app.state.clients.bookings.http
    reachable = client.transport
    client.transport = httpx.MockTransport(lambda request: httpx.Response(503))
    try:
        again = await tickets.generate(headers, booking["id"])
        assert again.status_code == 200 and again.json()["id"] == first["id"]
        other = await tickets.generate(someone_else, booking["id"])
        assert other.status_code == 502  # not the owner's: only the booking service could say
    finally:
        client.transport = reachable
