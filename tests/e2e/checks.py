"""Assertions and set-up steps the e2e tests share."""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers import IST, SUCCESS_CARD

_numbers = itertools.count(1)


async def create_flight(
    gateway: httpx.AsyncClient, admin: dict[str, str], days: int, aircraft: str = "A320"
) -> dict:
    """A DEL-BOM flight `days` from now (an ATR72 has 72 economy seats and no business)."""
    departure = (datetime.now(UTC) + timedelta(days=days)).replace(
        hour=6, minute=30, second=0, microsecond=0
    )
    number = f"9W{next(_numbers) + days * 10 + datetime.now(UTC).microsecond % 7000}"
    r = await gateway.post(
        "/api/flights",
        json={
            "flightNumber": number,
            "origin": "DEL",
            "destination": "BOM",
            "departureTime": departure.isoformat(),
            "aircraft": aircraft,
            "fares": {"economy": "4500.00", "business": "12000.00"},
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def seats_available_in_search(
    gateway: httpx.AsyncClient, headers: dict[str, str], flight: dict[str, Any]
) -> int | None:
    """The seats search shows free on `flight` (a DEL-BOM nonstop), bypassing the cache; None
    when search does not list the flight."""
    date = datetime.fromisoformat(flight["departureTime"]).astimezone(IST).date().isoformat()
    r = await gateway.get(
        "/api/flights/search",
        params={"source": "DEL", "destination": "BOM", "date": date, "maxStops": 0},
        headers={**headers, "Cache-Control": "no-cache"},
    )
    assert r.status_code == 200, r.text
    for itinerary in r.json()["itineraries"]:
        if [s["flightId"] for s in itinerary["segments"]] == [flight["flightId"]]:
            return itinerary["seatsAvailable"]
    return None


async def sell(
    gateway: httpx.AsyncClient, headers: dict[str, str], flight_id: int, seats: list[str]
) -> dict[str, Any]:
    """Hold, book and pay for `seats` as one traveller; the booking as created."""
    hold = await gateway.post(
        "/api/seats/lock", json={"flightId": flight_id, "seatNumbers": seats}, headers=headers
    )
    assert hold.status_code == 201, hold.text
    booking = await gateway.post(
        "/api/bookings",
        json={
            "holdIds": [hold.json()["holdId"]],
            "passengers": [{"name": f"Traveller {seat}"} for seat in seats],
        },
        headers=headers,
    )
    assert booking.status_code == 201, booking.text
    b = booking.json()
    paid = await gateway.post(
        "/api/payments/pay",
        json={"bookingId": b["id"], "amount": b["amountDue"], "card": SUCCESS_CARD},
        headers=headers,
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["bookingStatus"] == "CONFIRMED"
    return b
