"""Seat hold benchmark: hold latency and throughput, and a contention run.

    python bench/bench_seats.py              # or: make bench-seats

It runs the seat service as a real process (uvicorn, one worker) on a scratch database and Redis
prefix, serves the JWKS of a throwaway signing key itself, and stores its flights with the same
function the `flight.created` handler runs. Then:

- latency: `--serial` holds of distinct seats one after another (the service time);
- throughput: `--holds` holds of distinct seats (one seat, one traveller each) by
  `--concurrency` clients; reported: holds per second and the latency p50/p90/p99/max;
- seat map: GET /api/seats/{id} of a 600-seat flight, p50/p99;
- the booking service's calls: GET /internal/holds/{id} and POST /internal/holds/{id}/confirm
  of the serial run's holds, one after another;
- contention: `--rounds` rounds; in each, `--contenders` travellers ask at once for one or two
  of the same 4 seats; reported: successes, conflicts, errors, and whether any seat was granted
  twice (checked against the grants and Redis' seat keys);
- a backlog of `--events` `flight.created` events (what a seed leaves): time and CPU to consume.

Every phase also reports the seat service's CPU per operation: the process's CPU time (all its
threads, /proc) over the phase divided by the operations, background tasks included.

The report goes to bench/reports/seats.md. Everything it created is removed at the end.
"""

import argparse
import asyncio
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, JwksServer, bearer, cpu_seconds, free_port, percentile

REPORT = ROOT / "bench" / "reports" / "seats.md"
KID = "bench-seats"
T = TypeVar("T")


# The service under test ----------------------------------------------------------------------
class SeatService:
    def __init__(self, jwks_url: str) -> None:
        from sqlalchemy.engine import make_url

        run = uuid.uuid4().hex[:8]
        base = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/fb")
        self.database_url = (
            make_url(base)
            .set(database=f"fb_bench_seat_{run}")
            .render_as_string(hide_password=False)
        )
        self.prefix = f"fbbench:{run}:"
        self.port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "ENVIRONMENT": "development",
            "DATABASE_URL": self.database_url,
            "REDIS_PREFIX": self.prefix,
            "JWKS_URL": jwks_url,
            "LOG_LEVEL": "WARNING",
            "DB_POOL_SIZE": "10",
            "DB_MAX_OVERFLOW": "5",
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return self.env.get("REDIS_URL", "redis://localhost:6379/0")

    def cpu(self) -> float:
        """CPU seconds the service process has used so far."""
        assert self.process is not None
        return cpu_seconds({"seat": self.process.pid})["seat"]

    async def measured(self, work: Awaitable[T]) -> tuple[T, float]:
        """Run `work`; its result and the service's CPU seconds meanwhile."""
        before = self.cpu()
        result = await work
        return result, self.cpu() - before

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "shared.manage", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        print("migrating a scratch database ...", flush=True)
        self.manage("check", "--wait", "20")
        self.manage("migrate", "--service", "seat")
        print("starting the seat service ...", flush=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "seat_service.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--timeout-keep-alive",
                "60",
            ],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit("the seat service did not become ready")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        import redis

        client = redis.Redis.from_url(self.redis_url)
        for key in client.scan_iter(match=f"{self.prefix}*", count=1000):
            client.unlink(key)
        client.close()
        self.manage("dropdb")


def flight_document(
    flight_id: int, departure: datetime, *, number: str, aircraft: Any, airline: str = "Bench Air"
) -> Any:
    """A `flight.created` (`shared.contracts.flights.FlightCreated`), DEL-BOM, two hours."""
    from shared.contracts.flights import Fares, FlightCreated

    india = timezone(timedelta(hours=5, minutes=30))
    arrival = departure + timedelta(hours=2)
    return FlightCreated(
        flight_id=flight_id,
        flight_number=number,
        airline=airline,
        airline_code=number[:2],
        origin="DEL",
        destination="BOM",
        departure_time=departure,
        arrival_time=arrival,
        departure_time_local=departure.astimezone(india),
        arrival_time_local=arrival.astimezone(india),
        origin_time_zone="Asia/Kolkata",
        destination_time_zone="Asia/Kolkata",
        duration_minutes=120,
        status="scheduled",
        aircraft=aircraft,
        fares=Fares(economy=Decimal("4500.00"), business=Decimal("12000.00")),
        currency="INR",
    )


async def add_flights(database_url: str, first_id: int, count: int, rows: int) -> list[int]:
    """Flights of `rows` x 10 economy seats, stored as the flight.created handler does."""
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from seat_service.flights import upsert_flight
    from shared.contracts.flights import Aircraft, CabinLayout

    cabin = CabinLayout(cabin="economy", first_row=1, last_row=rows, letters="ABCDEFGHJK")
    aircraft = Aircraft(code="B77W", name="Bench 777", cabins=[cabin])
    engine = create_async_engine(database_url)
    departure = datetime.now(UTC) + timedelta(days=5)
    ids = list(range(first_id, first_id + count))
    async with AsyncSession(engine) as session, session.begin():
        for flight_id in ids:
            document = flight_document(
                flight_id, departure, number=f"BN{flight_id}", aircraft=aircraft
            )
            await upsert_flight(session=session, document=document)
    await engine.dispose()
    return ids


# Runs ----------------------------------------------------------------------------------------
async def throughput(
    client: httpx.AsyncClient, tokens: JwksServer, flights: list[int], holds: int, concurrency: int
) -> dict[str, Any]:
    seats = [(f, f"{row}{c}") for f in flights for row in range(1, 61) for c in "ABCDEFGHJK"]
    jobs = [(seat, tokens.header(100_000 + i)) for i, seat in enumerate(seats[:holds])]
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    latencies: list[float] = []
    outcomes: Counter[int] = Counter()
    hold_ids: list[str] = []

    async def worker() -> None:
        while not queue.empty():
            (flight_id, seat), headers = queue.get_nowait()
            t0 = time.perf_counter()
            try:
                r = await client.post(
                    "/api/seats/lock",
                    json={"flightId": flight_id, "seatNumber": seat},
                    headers=headers,
                )
                outcomes[r.status_code] += 1
                if r.status_code == 201:
                    hold_ids.append(r.json()["holdId"])
            except httpx.TransportError:
                outcomes[599] += 1  # the connection failed: counted, not fatal
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "outcomes": outcomes, "elapsed": elapsed, "holds": hold_ids}


async def seat_maps(
    client: httpx.AsyncClient, tokens: JwksServer, flight_id: int, n: int
) -> list[float]:
    headers = tokens.header(99)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = await client.get(f"/api/seats/{flight_id}", headers=headers)
        out.append(time.perf_counter() - t0)
        r.raise_for_status()
    return out


def service_headers() -> dict[str, str]:
    """The booking service's token for the seat service, signed with its key as the seat
    process finds it (SERVICE_KEYS_DIR, relative to the repository like the process's)."""
    from shared.service_identity import ServiceIdentity

    keys = ROOT / os.environ.get("SERVICE_KEYS_DIR", "var/service-keys")
    token = ServiceIdentity(directory=keys, service="booking").mint("seat")
    return bearer(token)


async def internal_calls(
    client: httpx.AsyncClient, hold_ids: list[str], *, confirm: bool
) -> list[float]:
    """The booking service's view, one call after another: read each hold, or confirm it."""
    headers = service_headers()
    out = []
    for i, hold_id in enumerate(hold_ids):
        t0 = time.perf_counter()
        if confirm:
            r = await client.post(
                f"/internal/holds/{hold_id}/confirm",
                json={"bookingId": 700_000 + i},
                headers=headers,
            )
        else:
            r = await client.get(f"/internal/holds/{hold_id}", headers=headers)
        out.append(time.perf_counter() - t0)
        r.raise_for_status()
    return out


def created_event(flight_id: int, departure: datetime) -> dict[str, str]:
    """A `flight.created` entry as the flight search service's relay writes it."""
    from shared.contracts.flights import Aircraft, CabinLayout
    from shared.events import Event

    cabins = [
        CabinLayout(cabin="business", first_row=1, last_row=4, letters="ACDF"),
        CabinLayout(cabin="economy", first_row=5, last_row=34, letters="ABCDEF"),
    ]
    aircraft = Aircraft(code="A321", name="Airbus A321", cabins=cabins)
    created = flight_document(flight_id, departure, number=f"BX{flight_id}", aircraft=aircraft)
    event = Event(
        uuid.uuid4(),
        created.type,
        "flight-search",
        datetime.now(UTC),
        created.payload(),
        version=created.version,
    )
    return event.to_fields()


async def backlog(service: SeatService, count: int, first_id: int) -> dict[str, Any]:
    """`count` flight.created events at once; time until the service has stored them all."""
    from redis.asyncio import Redis
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from shared.events import stream_for
    from shared.redis import Keys

    stream = stream_for(Keys(service.prefix), "flight.created")
    redis = Redis.from_url(service.redis_url, decode_responses=True)
    engine = create_async_engine(service.database_url)
    departure = datetime.now(UTC) + timedelta(days=10)
    query = text("SELECT count(*) FROM seats.flights WHERE flight_id >= :first")
    cpu_before, started = service.cpu(), time.perf_counter()
    async with redis.pipeline(transaction=False) as pipe:
        for flight_id in range(first_id, first_id + count):
            pipe.xadd(stream, created_event(flight_id, departure))
        await pipe.execute()
    stored = 0
    deadline = time.monotonic() + max(60.0, count * 0.05)
    while stored < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        async with engine.connect() as conn:
            stored = (await conn.execute(query, {"first": first_id})).scalar_one()
    elapsed, cpu = time.perf_counter() - started, service.cpu() - cpu_before
    await redis.aclose()
    await engine.dispose()
    return {"events": count, "stored": stored, "elapsed": elapsed, "cpu": cpu}


async def contention(
    client: httpx.AsyncClient,
    tokens: JwksServer,
    flight_id: int,
    rounds: int,
    contenders: int,
    prefix: str,
    redis_url: str,
) -> dict[str, Any]:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url, decode_responses=True)
    rng = random.Random(42)
    totals: Counter[str] = Counter()
    double_grants = 0
    redis_mismatches = 0
    latencies: list[float] = []
    user = 500_000
    for round_no in range(rounds):
        row = round_no + 1
        seats = [f"{row}{c}" for c in "ABCD"]
        asks = []
        for _ in range(contenders):
            user += 1
            k = rng.choice((1, 2))
            asks.append((rng.sample(seats, k), tokens.header(user)))

        async def ask(
            wanted: list[str], headers: dict[str, str]
        ) -> tuple[list[str], httpx.Response]:
            t0 = time.perf_counter()
            try:
                r = await client.post(
                    "/api/seats/lock",
                    json={"flightId": flight_id, "seatNumbers": wanted},
                    headers=headers,
                )
            except httpx.TransportError as exc:
                r = httpx.Response(599, text=type(exc).__name__)
            latencies.append(time.perf_counter() - t0)
            return wanted, r

        answers = await asyncio.gather(*(ask(w, h) for w, h in asks))
        granted: dict[str, str] = {}
        for wanted, r in answers:
            if r.status_code == 201:
                totals["successes"] += 1
                for seat in wanted:
                    if seat in granted:
                        double_grants += 1
                    granted[seat] = r.json()["holdId"]
            elif r.status_code == 409:
                totals["conflicts"] += 1
            else:
                totals[f"errors ({r.status_code})"] += 1
        keys = [f"{prefix}seat:{{flight:{flight_id}}}:{s}" for s in seats]
        in_redis = dict(zip(seats, await redis.mget(keys), strict=True))
        if in_redis != {s: granted.get(s) for s in seats}:
            redis_mismatches += 1
    await redis.aclose()
    return {
        "totals": totals,
        "double_grants": double_grants,
        "redis_mismatches": redis_mismatches,
        "latencies": latencies,
        "requests": rounds * contenders,
    }


# Report --------------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def hold_row(label: str, run: dict[str, Any]) -> str:
    lat = run["latencies"]
    ok = run["outcomes"].get(201, 0)
    return (
        f"| {label} | {len(lat)} | {ok / run['elapsed']:.0f} | {ms(percentile(lat, 50))} |"
        f" {ms(percentile(lat, 90))} | {ms(percentile(lat, 99))} | {ms(max(lat))} | {ok} |"
        f" {len(lat) - ok} | {ms(run['cpu'] / len(lat))} |"
    )


def header_section(args: argparse.Namespace) -> list[str]:
    return [
        "# Seat hold benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench-seats` (`bench/bench_seats.py`)"
        f" on {os.cpu_count()} CPU cores shared with the load generator, Postgres and Redis;"
        f" Python {platform.python_version()}, the seat service as one uvicorn worker.",
        f"Load average while it ran: {args.load_before:.1f} at the start,"
        f" {os.getloadavg()[0]:.1f} at the end (other work shares the machine): read the numbers"
        " as orders of magnitude. CPU figures are the seat-service process's CPU time (all its"
        " threads, from /proc) over a phase divided by the operations of that phase, its"
        " background tasks (outbox relay, event consumer, sweeper) included.",
        "",
        "Issue #9's goal is a hold in at most 2 ms of seat-service CPU. Before its changes"
        " (commit e413dcb), measured on this machine by running the old and the new service"
        " alternately (2026-11-30): a hold 1.9-2.9 ms, a seat map 3.3-4.6 ms, a get hold"
        " 1.0-1.3 ms, a confirm 5.5-8.2 ms, a flight.created event 3.3 ms of CPU; the figures"
        " below are what this checkout costs.",
        "",
    ]


def holds_section(args: argparse.Namespace, serial: dict[str, Any], tp: dict[str, Any]) -> list:
    return [
        "## Holds of distinct seats: latency, throughput and CPU",
        "",
        "Each hold is one seat for one traveller (a distinct seat of 600-seat flights):"
        " the service verifies the EdDSA token, checks the flight, runs the hold script in Redis"
        " and records the hold's history row in Postgres.",
        "",
        "| clients | holds | holds/s | p50 ms | p90 ms | p99 ms | max ms | 201 | other |"
        " seat-service CPU ms per hold |",
        "|---|---|---|---|---|---|---|---|---|---|",
        hold_row("1 (one after another)", serial),
        hold_row(f"{args.concurrency} concurrent", tp),
        "",
        "With one client the latency is the service time; with many, holds/s is the ceiling of"
        " one worker on this machine and the latency is mostly queueing (clients / throughput).",
        "",
    ]


def calls_section(maps: dict[str, Any], reads: dict[str, Any], sales: dict[str, Any]) -> list:
    def row(label: str, run: dict[str, Any]) -> str:
        lat = run["latencies"]
        return (
            f"| {label} | {len(lat)} | {ms(percentile(lat, 50))} | {ms(percentile(lat, 99))} |"
            f" {ms(run['cpu'] / max(1, len(lat)))} |"
        )

    return [
        "## Seat map and the booking service's calls",
        "",
        "One call after another. GET /api/seats/{id} of a 600-seat flight with holds on it:"
        " the flight (cached), one Redis round trip (a read-only script over the 600 seat keys"
        " that returns only the held ones) and its sold seats from Postgres. GET"
        " /internal/holds/{id} and POST /internal/holds/{id}/confirm (a sale: the seats into"
        " `sold_seats`, the availability event into the outbox, and the relay moving it on to"
        " its stream) of the one-client run's holds.",
        "",
        "| call | calls | p50 ms | p99 ms | seat-service CPU ms per call |",
        "|---|---|---|---|---|",
        row("seat map", maps),
        row("get hold (internal)", reads),
        row("confirm (internal)", sales),
        "",
    ]


def contention_section(args: argparse.Namespace, ct: dict[str, Any]) -> list[str]:
    totals = ct["totals"]
    errors = sum(v for k, v in totals.items() if k.startswith("errors"))
    return [
        "## Contention: many travellers after the same few seats",
        "",
        f"{args.rounds} rounds; in each, {args.contenders} travellers ask at the same moment for"
        " one or two (at random) of the same 4 seats.",
        "",
        "| requests | successes | conflicts (409) | errors | seats granted twice |"
        " rounds where Redis disagreed with the grants | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|",
        f"| {ct['requests']} | {totals['successes']} | {totals['conflicts']} | {errors} |"
        f" {ct['double_grants']} | {ct['redis_mismatches']} | {ms(percentile(ct['latencies'], 50))}"
        f" | {ms(percentile(ct['latencies'], 99))} |",
        "",
        f"Every round grants between 2 and 4 holds (4 seats, one or two per request); all other"
        f" requests get 409 `SEAT_UNAVAILABLE`. {errors} errors"
        + (
            f": {dict((k, v) for k, v in totals.items() if k.startswith('errors'))}."
            if errors
            else "."
        ),
        "",
    ]


def backlog_section(bl: dict[str, Any]) -> list[str]:
    per_event = bl["cpu"] / max(1, bl["stored"])
    return [
        "## A backlog of flight.created events",
        "",
        f"{bl['events']} `flight.created` events added to the stream at once (what a seed leaves"
        " behind), consumed by the running service.",
        "",
        "| events | stored | seconds until all stored | seat-service CPU s | CPU ms per event |",
        "|---|---|---|---|---|",
        f"| {bl['events']} | {bl['stored']} | {bl['elapsed']:.1f} | {bl['cpu']:.2f} |"
        f" {per_event * 1000:.2f} |",
        "",
    ]


# Main ----------------------------------------------------------------------------------------
async def hold_phases(
    args: argparse.Namespace, service: SeatService, client: httpx.AsyncClient, tokens: JwksServer
) -> dict[str, Any]:
    flights = await add_flights(service.database_url, 1, args.flights, rows=60)
    (warm,) = await add_flights(service.database_url, 9001, 1, rows=60)
    (serial_flight,) = await add_flights(service.database_url, 9002, 1, rows=60)
    print("warming up ...", flush=True)
    await throughput(client, tokens, [warm], 100, args.concurrency)
    await seat_maps(client, tokens, warm, 10)
    print(f"latency: {args.serial} holds one after another ...", flush=True)
    serial, cpu = await service.measured(
        throughput(client, tokens, [serial_flight], args.serial, 1)
    )
    serial["cpu"] = cpu
    print(f"throughput: {args.holds} holds ...", flush=True)
    tp, cpu = await service.measured(
        throughput(client, tokens, flights, args.holds, args.concurrency)
    )
    tp["cpu"] = cpu
    lat, cpu = await service.measured(seat_maps(client, tokens, flights[0], 100))
    maps = {"latencies": lat, "cpu": cpu}
    print("the booking service's calls: get hold, confirm ...", flush=True)
    lat, cpu = await service.measured(internal_calls(client, serial["holds"], confirm=False))
    reads = {"latencies": lat, "cpu": cpu}
    lat, cpu = await service.measured(internal_calls(client, serial["holds"], confirm=True))
    sales = {"latencies": lat, "cpu": cpu}
    return {"serial": serial, "tp": tp, "maps": maps, "reads": reads, "sales": sales}


async def run(args: argparse.Namespace) -> None:
    tokens = JwksServer(KID)
    service = SeatService(tokens.url)
    try:
        service.start()
        (contended,) = await add_flights(service.database_url, 9000, 1, rows=max(args.rounds, 1))
        limits = httpx.Limits(max_connections=args.concurrency + args.contenders)
        async with httpx.AsyncClient(base_url=service.url, timeout=30, limits=limits) as client:
            runs = await hold_phases(args, service, client, tokens)
            print(f"contention: {args.rounds} rounds x {args.contenders} ...", flush=True)
            ct = await contention(
                client,
                tokens,
                contended,
                args.rounds,
                args.contenders,
                service.prefix,
                service.redis_url,
            )
        print(f"backlog: {args.events} flight.created events ...", flush=True)
        bl = await backlog(service, args.events, 100_000)
        lines = [
            *header_section(args),
            *holds_section(args, runs["serial"], runs["tp"]),
            *calls_section(runs["maps"], runs["reads"], runs["sales"]),
            *contention_section(args, ct),
            *backlog_section(bl),
        ]
        text = "\n".join(lines)
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(text)
        print(text)
    finally:
        service.stop()
        tokens.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serial", type=int, default=150, help="at most 600")
    parser.add_argument("--holds", type=int, default=1500)
    parser.add_argument("--flights", type=int, default=3, help="600 seats each")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--contenders", type=int, default=100)
    parser.add_argument("--events", type=int, default=2000, help="flight.created backlog")
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]
    if args.holds > args.flights * 600 or args.serial > 600:
        parser.error("more holds than seats: raise --flights")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
