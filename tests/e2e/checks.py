"""Assertions and set-up steps the e2e tests share."""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code", "instance", "requestId"}


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem with our members, the status, (the code) and the request id."""
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert set(body) >= PROBLEM_MEMBERS, body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    assert body["requestId"] == response.headers["x-request-id"]
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


_numbers = itertools.count(1)


async def create_flight(gateway: httpx.AsyncClient, admin: dict[str, str], days: int) -> dict:
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
            "aircraft": "A320",
            "fares": {"economy": "4500.00", "business": "12000.00"},
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return r.json()
