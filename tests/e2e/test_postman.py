"""The Postman collection is a real test: newman runs it against the e2e stack's gateway.

- Three runs in a row, every one clean (no failed assertion, no script error, every request
  executed, every refusal answered with its status and problem `code`): each run signs up new
  travellers and books a seat it found free, so runs do not use each other up.
- A run against a gateway that throttles everything after the sign-up (the outside tester's
  429 on login) stores nothing from the refused answers: the requests that need a token are
  skipped, none is sent with `null` in its path, no script throws.
- The collection's form: Postman v2.1, bearer auth once at the collection level, the
  documented camelCase bodies, the whole journey of SPEC §3.

newman comes from `make install` (`npm ci`, pinned in package-lock.json). Without it the test
skips locally and fails under CI.
"""

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import E2E_DATABASE_URL, ROOT

pytestmark = pytest.mark.e2e

COLLECTION = ROOT / "postman_collection.json"
NEWMAN = ROOT / "node_modules" / ".bin" / "newman"
RUNS = 3
# Each run: ~30 requests; generous for a loaded machine.
RUN_TIMEOUT_SECONDS = 120

# The journey of SPEC §3, as (method, path) in the collection ({{...}} for ids).
JOURNEY = [
    ("POST", "/api/auth/signup"),
    ("POST", "/api/auth/login"),
    ("GET", "/api/auth/me"),
    ("GET", "/api/flights/search"),
    ("GET", "/api/seats/{{flightId}}"),
    ("POST", "/api/seats/lock"),
    ("POST", "/api/bookings/create"),
    ("GET", "/api/bookings/{{bookingId}}"),
    ("POST", "/api/discounts/apply"),
    ("POST", "/api/payments/pay"),
    ("POST", "/api/tickets/generate"),
    ("GET", "/api/tickets/{{ticketId}}"),
    ("GET", "/api/tickets/{{ticketId}}/pdf"),
    ("POST", "/api/notifications/send"),
    ("GET", "/api/notifications"),
]
# Refusals every run must see, as the collection names their check: "<status> <code>".
REFUSALS = {
    "409 PRICE_CHANGED",
    "404 BOOKING_NOT_FOUND",
    "409 DISCOUNT_ALREADY_APPLIED",
    "402 PAYMENT_DECLINED",
    "405 METHOD_NOT_ALLOWED",
    "401 UNAUTHORIZED",
}
# Requests that must not send the traveller's token.
PUBLIC = {("POST", "/api/auth/signup"), ("POST", "/api/auth/login"), ("POST", "/api/auth/refresh")}


# -- newman ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def newman() -> Path:
    """The pinned newman, or skip (locally) / fail (under CI) saying how to get it.

    Session-scoped and first in the tests' arguments: decided before the stack starts."""
    if NEWMAN.exists() and shutil.which("node"):
        return NEWMAN
    reason = (
        "newman is not installed (node_modules/.bin/newman, or node missing): "
        "run `make install` with node and npm on PATH"
    )
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set: the Postman collection must run)")
    pytest.skip(reason)


def run_newman(
    newman: Path, base_url: str, report: Path
) -> tuple[subprocess.CompletedProcess[str], dict]:
    """One newman run of the collection against `base_url`; its JSON report's `run`."""
    proc = subprocess.run(
        [
            str(newman),
            "run",
            str(COLLECTION),
            "--env-var",
            f"baseUrl={base_url}",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--color",
            "off",
            "--disable-unicode",
            "--timeout-request",
            "30000",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert report.exists(), f"newman wrote no report (exit {proc.returncode}):\n{tail(proc)}"
    return proc, json.loads(report.read_text())["run"]


def tail(proc: subprocess.CompletedProcess[str], lines: int = 80) -> str:
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-lines:])


def requests_of(collection: dict) -> Iterator[dict]:
    for item in collection["item"]:
        if "item" in item:
            yield from requests_of(item)
        else:
            yield item


def assertions(execution: dict) -> list[tuple[str, str | None]]:
    return [
        (a["assertion"], (a.get("error") or {}).get("message"))
        for a in execution.get("assertions", [])
    ]


def failures(run: dict) -> list[str]:
    return [
        f"{f['source'].get('name', '?')}: {f['error'].get('name')}: {f['error'].get('message')}"
        for f in run["failures"]
    ]


# -- the stack's demo data ------------------------------------------------------------------


@pytest.fixture(scope="module")
async def demo_flights(reference_data: None) -> None:
    """What `make seed` guarantees the collection: the demo schedule for the days it searches
    (tomorrow and the day after, India time).

    Only those two days, not the seed's AI101-AI150 a week on: the other e2e tests create
    their own flights further out and must not find the demo's in their searches.
    """
    from flight_search_service.airports import AirportDirectory
    from flight_search_service.schedule import INDIA, demo_schedule, today_in_india
    from flight_search_service.service import insert_flights
    from shared.db import Database

    today = today_in_india()
    days = {today + timedelta(days=1), today + timedelta(days=2)}
    flights = [
        f
        for f in demo_schedule(today=today, days=3)
        if f.departure_utc.astimezone(INDIA).date() in days
    ]
    # Two connections: the airport directory reads on its own while the session inserts.
    db = Database(E2E_DATABASE_URL, pool_size=2, max_overflow=0)
    try:
        async with db.sessionmaker() as session:
            await insert_flights(
                session=session, flights=flights, airports=AirportDirectory(db.sessionmaker)
            )
            await session.commit()
    finally:
        await db.dispose()


# -- the runs -------------------------------------------------------------------------------


def test_the_collection_passes_three_runs_in_a_row(
    newman: Path, gateway_url: str, demo_flights: None, discount_codes: None, tmp_path: Path
) -> None:
    collection = json.loads(COLLECTION.read_text())
    names = [item["name"] for item in requests_of(collection)]
    refusal_items = [n for n in names if n.startswith("Refused:")]
    durations = []
    for n in range(1, RUNS + 1):
        started = time.monotonic()
        proc, run = run_newman(newman, gateway_url, tmp_path / f"run-{n}.json")
        durations.append(time.monotonic() - started)
        where = f"run {n} of {RUNS}:\n{tail(proc)}"
        stats = run["stats"]

        # Clean: no failed assertion, no script error, no request error, exit status 0.
        assert failures(run) == [], where
        assert stats["assertions"]["failed"] == 0, where
        assert stats["testScripts"]["failed"] == 0, where
        assert stats["prerequestScripts"]["failed"] == 0, where
        assert stats["requests"]["failed"] == 0, where
        assert proc.returncode == 0, where

        # Every request ran (a skipped one is absent from the executions), each answer checked.
        executed = {e["item"]["name"] for e in run["executions"]}
        assert executed == set(names), f"not executed: {set(names) - executed}; {where}"
        # Each answer checked: the collection's X-Request-ID check, the request's status
        # check, and its content type and fields (or, for a refusal, the problem document).
        thin = [e["item"]["name"] for e in run["executions"] if len(assertions(e)) < 3]
        assert thin == [], where

        # Every refusal request got its status and problem code (the check "<status> <code>").
        seen = {
            name
            for e in run["executions"]
            if e["item"]["name"] in refusal_items
            for name, error in assertions(e)
            if error is None and re.fullmatch(r"\d{3} [A-Z][A-Z0-9_]*", name)
        }
        assert seen >= REFUSALS, f"missing refusals {REFUSALS - seen}; {where}"
        assert len(seen) >= len(refusal_items), where

    print(
        f"newman: {RUNS} runs in {sum(durations):.1f} s "
        f"({', '.join(f'{d:.1f} s' for d in durations)})"
    )


class ThrottlingGateway(BaseHTTPRequestHandler):
    """Sign-up works, everything after it is 429: the outside tester's throttled login."""

    seen: list[str]

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(f"{self.command} {self.path}")
        headers = {"X-Request-ID": "stub"}
        if (self.command, self.path) == ("POST", "/api/auth/signup"):
            status, body = (
                201,
                {"userId": 7, "token": "a.b.c", "refreshToken": "r", "expiresIn": 900},
            )
            headers |= {"Content-Type": "application/json", "Cache-Control": "no-store"}
        else:
            status = 429
            body = {
                "type": "about:blank",
                "title": "Too many requests",
                "status": 429,
                "detail": "slow down",
                "code": "RATE_LIMITED",
                "instance": self.path,
                "requestId": "stub",
            }
            headers |= {"Content-Type": "application/problem+json", "Retry-After": "60"}
        data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def throttling_gateway() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (ThrottlingGateway,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_throttled_login_stores_nothing_and_skips_what_needs_it(
    newman: Path, throttling_gateway: tuple[str, list[str]], tmp_path: Path
) -> None:
    base_url, seen = throttling_gateway
    proc, run = run_newman(newman, base_url, tmp_path / "throttled.json")
    where = tail(proc)

    # The refusals are reported as failed checks, and the run fails ...
    assert proc.returncode != 0 and run["stats"]["assertions"]["failed"] > 0, where
    assert {f["error"]["name"] for f in run["failures"]} == {"AssertionError"}, failures(run)
    # ... but no script throws (no TypeError from reading a refused answer) ...
    assert run["stats"]["testScripts"]["failed"] == 0, where
    assert run["stats"]["prerequestScripts"]["failed"] == 0, where
    # ... and nothing that needs the token is sent: no `/api/bookings/null`, no `{{...}}`.
    assert seen == [
        "POST /api/auth/signup",
        "POST /api/auth/login",
        "POST /api/auth/signup",  # the second traveller (throttled too)
        "GET /api/bookings",  # the no-token refusal, which needs nothing
    ], where
    assert not any(re.search(r"null|undefined|\{\{", s) for s in seen), seen


# -- the collection's form ------------------------------------------------------------------


def raw_path(item: dict) -> str:
    return item["request"]["url"]["raw"].removeprefix("{{baseUrl}}").split("?")[0]


def json_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from json_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from json_keys(inner)


def test_the_collection_uses_collection_auth_documented_bodies_and_covers_the_journey() -> None:
    collection = json.loads(COLLECTION.read_text())
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert variables["baseUrl"] == "http://localhost:8080"
    assert collection["auth"] == {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}],
    }
    items = list(requests_of(collection))
    for item in items:
        request = item["request"]
        where = item["name"]
        assert request["url"]["raw"].startswith("{{baseUrl}}/"), where
        # The token comes from the collection's auth, never a header of its own.
        assert not [h for h in request["header"] if h["key"].lower() == "authorization"], where
        endpoint = (request["method"], raw_path(item))
        if endpoint in PUBLIC:
            assert request.get("auth") == {"type": "noauth"}, where
        if "body" in request:
            # The documented camelCase fields (`bookingId`, not the legacy `booking_id`).
            body = json.loads(re.sub(r"\{\{\w+\}\}", "1", request["body"]["raw"]))
            for key in json_keys(body):
                assert re.fullmatch(r"[a-z][a-zA-Z0-9]*", key), f"{where}: {key}"
    endpoints = {(i["request"]["method"], raw_path(i)) for i in items}
    assert set(JOURNEY) <= endpoints, set(JOURNEY) - endpoints
    text = COLLECTION.read_text()
    assert "AI101" not in text and "booking_id" not in text
    assert "admin" not in text.lower()
