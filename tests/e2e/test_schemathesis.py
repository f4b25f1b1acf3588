"""The OpenAPI document is the API (SPEC §2): schemathesis, run against the real processes.

Schemathesis reads the document the gateway serves (`/openapi.json`, every service's merged)
and runs every check in all four phases: the schema's examples, coverage (boundaries, each
constraint broken in turn, undeclared methods, missing auth), fuzzing, and the stateful phase,
which follows the document's links through the journey (search -> seat map -> hold ->
booking -> pay -> ticket). It is bounded (a fixed seed, `MAX_EXAMPLES` cases per operation and
phase) and the run's JSON report must show no failure and no error: any answer the document
does not describe (a status, a content type, a body, a header), any 5xx, a valid request
refused or an invalid one accepted fails this test.

It signs up a real traveller and uses their token; a flight on sale and the seed's discount
codes are there for it to find (schemathesis draws the search's airports and date, and the
discount codes, from small dictionaries some of the time). Its requests come from an address
of their own (X-Forwarded-For from a trusted peer), so the throttles it trips (login,
sign-up, holds) never slow the other tests down.
"""

import json
import os
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import PASSWORD, SignUp, unique_address
from tests.helpers import IST, bearer, unique_email

pytestmark = pytest.mark.e2e

# Fixed, so a run is repeatable; FB_SCHEMATHESIS_SEED / _EXAMPLES explore further by hand.
SEED = int(os.environ.get("FB_SCHEMATHESIS_SEED", "20261130"))
MAX_EXAMPLES = int(os.environ.get("FB_SCHEMATHESIS_EXAMPLES", "50"))
STATEFUL_EXAMPLES = 200
PHASES = ("examples", "coverage", "fuzzing", "stateful")
# The whole run must stay well inside the suite's budget; the test's own timeout is a backstop.
RUN_TIMEOUT_SECONDS = 480

# Statuses a schema-valid request may get besides schemathesis's defaults (2xx, 3xx, 401,
# 403, 404, 409, 429, 5xx): refusals by a rule no JSON schema can state.
BUSINESS_REFUSALS: dict[str, tuple[str, ...]] = {
    # unknown airport, the same airport twice, a date in the past or over a year ahead
    "/api/flights/search": ("422",),
    # the same for any slice, and a slice dated before the one before it (DATES_OUT_OF_ORDER)
    "/api/flights/search/multi": ("422",),
    # a password that is too common or contains the email (PASSWORD_TOO_WEAK)
    "/api/auth/signup": ("422",),
    # no such seat on the aircraft, too many seats
    "/api/seats/lock": ("422",),
    # holds that do not form one booking, seat or passenger counts that do not match them
    "/api/bookings": ("422",),
    "/api/bookings/create": ("422",),
    # a declined card (402); a number failing the Luhn check, an expired card, a reused key
    "/api/payments/pay": ("402", "422"),
    # an expired, exhausted or used-up code, a booking below the code's minimum
    "/api/discounts/apply": ("422",),
    "/api/discounts/validate": ("422",),
}
POSITIVE_DEFAULTS = ("2xx", "3xx", "401", "403", "404", "409", "429", "5xx")
ADMIN_ONLY = r"^/api/(flights|flights/\{flight_id\}/cancel|discounts)$"
# The flights on sale for it: a route and a day no other test sells, so the first itinerary
# of a search is one of these, with its seats free.
ORIGIN, DESTINATION, DAYS_AHEAD = "HYD", "COK", 8


def toml_value(value: Any) -> str:
    return json.dumps(value)  # a JSON string, number or array of them is TOML too


def config(*, token: str, address: str, flight_date: str) -> str:
    """schemathesis.toml for this run."""
    lines = [
        f"seed = {SEED}",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        'database = "none"',
        # The journey is six calls (search, seat map, hold, book, pay, ticket), and a read;
        # the links followed are the document's own (schemathesis infers none of its own).
        "[phases.stateful]",
        "max-steps = 10",
        "[phases.stateful.inference]",
        "algorithms = []",
        "[phases.stateful.generation]",
        f"max-examples = {STATEFUL_EXAMPLES}",
        "[headers]",
        f'"X-Forwarded-For" = {toml_value(address)}',
        "[auth.openapi.bearerAuth]",
        f"bearer = {toml_value(token)}",
        "[dictionaries.origins]",
        f"values = {toml_value([ORIGIN])}",
        "[dictionaries.destinations]",
        f"values = {toml_value([DESTINATION])}",
        "[dictionaries.dates]",
        f"values = {toml_value([flight_date])}",
        "[dictionaries.codes]",
        f"values = {toml_value(['FLY100', 'SAVE200', 'NEW50', 'FLY10'])}",
    ]
    lines += [
        "[[operations]]",
        'include-path = "/api/flights/search"',
        "[operations.parameters]",
        '"query.source" = { dictionary = "origins", probability = 0.8 }',
        '"query.destination" = { dictionary = "destinations", probability = 0.8 }',
        '"query.date" = { dictionary = "dates", probability = 0.8 }',
        "[operations.checks.positive_data_acceptance]",
        "expected-statuses = "
        + toml_value([*POSITIVE_DEFAULTS, *BUSINESS_REFUSALS["/api/flights/search"]]),
    ]
    for path in ("/api/discounts/apply", "/api/discounts/validate"):
        where = "body.code" if path.endswith("apply") else "query.code"
        lines += [
            "[[operations]]",
            f"include-path = {toml_value(path)}",
            "[operations.parameters]",
            f'"{where}" = {{ dictionary = "codes", probability = 0.5 }}',
            "[operations.checks.positive_data_acceptance]",
            f"expected-statuses = {toml_value([*POSITIVE_DEFAULTS, *BUSINESS_REFUSALS[path]])}",
        ]
    # Administrators' operations answer this traveller 403 whatever it sends: as steps of the
    # stateful phase they would only crowd out the journey's.
    lines += [
        "[[operations]]",
        f"include-path-regex = {toml_value(ADMIN_ONLY)}",
        "[operations.phases.stateful]",
        "enabled = false",
    ]
    for path, extra in BUSINESS_REFUSALS.items():
        if path == "/api/flights/search" or path.startswith("/api/discounts/"):
            continue
        lines += [
            "[[operations]]",
            f"include-path = {toml_value(path)}",
            "[operations.checks.positive_data_acceptance]",
            f"expected-statuses = {toml_value([*POSITIVE_DEFAULTS, *extra])}",
        ]
    return "\n".join(lines) + "\n"


def run_schemathesis(gateway_url: str, config_text: str, out: Path) -> dict[str, Any]:
    """`st run` over the gateway's document; the JSON report (the process output on failure)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "schemathesis.toml").write_text(config_text)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(out / "schemathesis.toml"),
        "run",
        f"{gateway_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        ",".join(PHASES),
        # One worker: hypothesis describing strategies from two threads at once trips a
        # CPython 3.11 bug (SystemError: AST constructor recursion depth mismatch).
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--report",
        "json,junit",
        "--report-dir",
        str(out),
        "--report-json-path",
        str(out / "report.json"),
        "--report-junit-path",
        str(out / "junit.xml"),
        "--no-color",
    ]
    done = subprocess.run(
        command,
        cwd=out,
        # Our own checks (schemathesis_hooks.py), which `--checks all` includes.
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    (out / "output.txt").write_text(done.stdout + done.stderr)
    report_path = out / "report.json"
    assert report_path.exists(), f"no report; schemathesis said:\n{done.stdout[-4000:]}"
    report = json.loads(report_path.read_text())
    report["output"] = done.stdout
    report["returncode"] = done.returncode
    return report


@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + 60)
async def test_schemathesis_finds_nothing(
    gateway: httpx.AsyncClient,
    gateway_url: str,
    signup: SignUp,
    admin: dict[str, str],
    reference_data: None,
    discount_codes: None,
    tmp_path: Path,
) -> None:
    traveller = await signup(name="Schemathesis Traveller")
    day = (datetime.now(IST) + timedelta(days=DAYS_AHEAD)).date()
    for hour, number in ((7, "6E901"), (18, "6E902")):
        departure = datetime.combine(day, time(hour), tzinfo=IST)
        created = await gateway.post(
            "/api/flights",
            json={
                "flightNumber": number,
                "origin": ORIGIN,
                "destination": DESTINATION,
                "departureTime": departure.isoformat(),
                "aircraft": "A320",
                "fares": {"economy": "3900.00", "business": "9900.00"},
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
    date = day.isoformat()
    document = (await gateway.get("/openapi.json")).json()
    assert "x-missing-services" not in document["info"], document["info"]

    report = run_schemathesis(
        gateway_url,
        config(token=traveller["token"], address=unique_address(), flight_date=date),
        tmp_path,
    )

    summary = report["output"][-6000:]
    assert report["failures"] == [] and report["errors"] == [], summary
    assert report["returncode"] == 0 and report["exit_code"] == 0, summary
    assert report["complete"], summary
    assert {name: phase["status"] for name, phase in report["phases"].items()} == dict.fromkeys(
        PHASES, "success"
    ), summary
    tested = report["operations"]
    assert tested["selected"] == tested["total"] == len(list(_operations(document))), tested
    assert report["test_cases"]["generated"] > 1000, report["test_cases"]


def _operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    ]


# The journey by the document's links alone ------------------------------------------------------
# Schemathesis's stateful phase follows the links at random and rarely strings six together;
# here they are followed in order, from real answers, and each step must succeed.


def _evaluate(expression: Any, response: httpx.Response) -> Any:
    """A link's runtime expression(s) (`$response.body#/a/0/b`, or within `{...}` in a string)."""
    if isinstance(expression, list):
        return [_evaluate(item, response) for item in expression]
    if isinstance(expression, dict):
        return {key: _evaluate(value, response) for key, value in expression.items()}
    if not isinstance(expression, str):
        return expression
    if expression.startswith("$response.body#"):
        value: Any = response.json()
        for token in [t for t in expression.split("#", 1)[1].split("/") if t]:
            value = value[int(token)] if isinstance(value, list) else value[token]
        return value
    while "{$" in expression:
        start = expression.index("{$")
        end = expression.index("}", start)
        value = _evaluate(expression[start + 1 : end], response)
        expression = f"{expression[:start]}{value}{expression[end + 1 :]}"
    return expression


async def follow(
    gateway: httpx.AsyncClient,
    document: dict[str, Any],
    response: httpx.Response,
    source: tuple[str, str],
    name: str,
    *,
    headers: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> httpx.Response:
    """Call what `source`'s link `name` (for this response's status) points at."""
    method, path = source
    links = document["paths"][path][method]["responses"][str(response.status_code)]["links"]
    link = links[name]
    pointer = link["operationRef"].removeprefix("#/paths/").replace("%7B", "{").replace("%7D", "}")
    target_path, target_method = pointer.rsplit("/", 1)
    target_path = target_path.replace("~1", "/").replace("~0", "~")
    headers = dict(headers)
    for key, expression in link.get("parameters", {}).items():
        where, _, parameter = key.partition(".")
        value = _evaluate(expression, response)
        if where == "path":
            target_path = target_path.replace(f"{{{parameter}}}", str(value))
        else:
            assert where == "header", key
            headers[parameter] = value
    body = None
    if "requestBody" in link:
        body = {**_evaluate(link["requestBody"], response), **(extra or {})}
    return await gateway.request(target_method.upper(), target_path, json=body, headers=headers)


def expect(response: httpx.Response, status: int) -> httpx.Response:
    assert response.status_code == status, f"{response.request.url}: {response.text[:400]}"
    return response


async def test_the_documented_links_walk_the_journey(
    gateway: httpx.AsyncClient,
    admin: dict[str, str],
    reference_data: None,
    discount_codes: None,
) -> None:
    document = (await gateway.get("/openapi.json")).json()

    async def step(
        response: httpx.Response,
        source: tuple[str, str],
        name: str,
        status: int,
        headers: dict[str, str],
        **extra: Any,
    ) -> httpx.Response:
        return expect(
            await follow(gateway, document, response, source, name, headers=headers, extra=extra),
            status,
        )

    # Sign-up -> the token it gives (me), the refresh token it gives (refresh, and again).
    signed = expect(
        await gateway.post(
            "/api/auth/signup",
            json={"name": "Link Walker", "email": unique_email("links"), "password": PASSWORD},
            headers={"X-Forwarded-For": unique_address()},
        ),
        201,
    )
    me = await step(signed, ("post", "/api/auth/signup"), "Me", 200, {})
    assert me.json()["userId"] == signed.json()["userId"]
    refreshed = await step(signed, ("post", "/api/auth/signup"), "Refresh", 200, {})
    refreshed = await step(refreshed, ("post", "/api/auth/refresh"), "Refresh", 200, {})
    user = bearer(refreshed.json()["token"])

    # Two flights of a route of this test's own; the created flight -> its seat map.
    day = (datetime.now(IST) + timedelta(days=DAYS_AHEAD + 1)).date()
    created = []
    for hour, number in ((8, "6E911"), (20, "6E912")):
        response = await gateway.post(
            "/api/flights",
            json={
                "flightNumber": number,
                "origin": "AMD",
                "destination": "IXC",
                "departureTime": datetime.combine(day, time(hour), tzinfo=IST).isoformat(),
                "aircraft": "A320",
                "fares": {"economy": "4100.00", "business": "9800.00"},
            },
            headers=admin,
        )
        created.append(expect(response, 201))
    await step(created[0], ("post", "/api/flights"), "Read", 200, user)

    # Search -> seat map -> hold -> book -> pay -> ticket -> read, and the reads on the way.
    search = expect(
        await gateway.get(
            "/api/flights/search",
            params={"source": "AMD", "destination": "IXC", "date": day.isoformat()},
            headers=user,
        ),
        200,
    )
    await step(search, ("get", "/api/flights/search"), "Flight", 200, user)
    seat_map = await step(search, ("get", "/api/flights/search"), "SeatMap", 200, user)
    hold = await step(seat_map, ("get", "/api/seats/{flight_id}"), "Hold", 201, user)
    booking = await step(hold, ("post", "/api/seats/lock"), "Book", 201, user)
    source = ("post", "/api/bookings")
    await step(booking, source, "Read", 200, user)
    await step(booking, source, "ReadAsOwner", 200, user)
    paid = await step(booking, source, "Pay", 201, user)
    confirmed = await step(paid, ("post", "/api/payments/pay"), "Booking", 200, user)
    assert confirmed.json()["status"] == "CONFIRMED"
    await step(paid, ("post", "/api/payments/pay"), "Read", 200, user)
    # 201, or 200 when the ticket service has already issued it on the booking.confirmed event
    ticket = await follow(
        gateway, document, paid, ("post", "/api/payments/pay"), "Ticket", headers=user
    )
    assert ticket.status_code in (200, 201), ticket.text
    await step(ticket, ("post", "/api/tickets/generate"), "Read", 200, user)
    pdf = await step(ticket, ("post", "/api/tickets/generate"), "Pdf", 200, user)
    assert pdf.headers["content-type"] == "application/pdf"

    # The other flight: hold -> release; hold -> book -> discount -> cancel.
    other_map = await step(created[1], ("post", "/api/flights"), "SeatMap", 200, user)
    hold = await step(other_map, ("get", "/api/seats/{flight_id}"), "Hold", 201, user)
    await step(hold, ("post", "/api/seats/lock"), "Release", 204, user)
    hold = await step(other_map, ("get", "/api/seats/{flight_id}"), "Hold", 201, user)
    booking = await step(hold, ("post", "/api/seats/lock"), "Book", 201, user)
    await step(booking, source, "ApplyDiscount", 200, user, code="FLY100")
    cancelled = await step(booking, source, "Cancel", 200, user)
    assert cancelled.json()["status"] == "CANCELLED"

    # A message to oneself -> the notification.
    sent = expect(
        await gateway.post("/api/notifications/send", json={"message": "hello"}, headers=user),
        202,
    )
    await step(sent, ("post", "/api/notifications/send"), "Read", 200, user)
