"""Seat hold benchmark: hold latency and throughput, and a contention run.

    python bench/bench_seats.py              # or: make bench-seats

It runs the seat service as a real process (uvicorn, one worker) on a scratch database and Redis
prefix, serves the JWKS of a throwaway signing key itself, and stores its flights with the same
function the `flight.created` handler runs. Then:

- latency: `--serial` holds of distinct seats one after another (the service time);
- throughput: `--holds` holds of distinct seats (one seat, one traveller each) by
  `--concurrency` clients; reported: holds per second and the latency p50/p90/p99/max;
- seat map: GET /api/seats/{id} of a 600-seat flight, p50/p99;
- contention: `--rounds` rounds; in each, `--contenders` travellers ask at once for one or two
  of the same 4 seats; reported: successes, conflicts, errors, and whether any seat was granted
  twice (checked against the grants and Redis' seat keys).

The report goes to bench/reports/seats.md. Everything it created is removed at the end.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REPORT = ROOT / "bench" / "reports" / "seats.md"
KID = "bench-seats"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Tokens: a throwaway key, its JWKS served over HTTP ------------------------------------------
class Tokens:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        jwk = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "EdDSA"}]})
        self.port = free_port()
        jwks = self.jwks.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(jwks)))
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    def header(self, user_id: int) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "role": "user",
            "typ": "access",
            "iss": "flightbook-auth",
            "aud": "flightbook",
            "iat": now,
            "exp": now + 3600,
        }
        token = jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": KID})
        return {"Authorization": f"Bearer {token}"}

    def close(self) -> None:
        self.server.shutdown()


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

        client = redis.Redis.from_url(self.env.get("REDIS_URL", "redis://localhost:6379/0"))
        for key in client.scan_iter(match=f"{self.prefix}*", count=1000):
            client.unlink(key)
        client.close()
        self.manage("dropdb")


async def add_flights(database_url: str, first_id: int, count: int, rows: int) -> list[int]:
    """Flights of `rows` x 10 economy seats, stored as the flight.created handler does."""
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from seat_service.service import upsert_flight

    engine = create_async_engine(database_url)
    departure = datetime.now(UTC) + timedelta(days=5)
    ids = list(range(first_id, first_id + count))
    async with AsyncSession(engine) as session, session.begin():
        for flight_id in ids:
            await upsert_flight(
                session=session,
                document={
                    "flightId": flight_id,
                    "flightNumber": f"BN{flight_id}",
                    "departureTime": departure.isoformat(),
                    "arrivalTime": (departure + timedelta(hours=2)).isoformat(),
                    "status": "scheduled",
                    "aircraft": {
                        "code": "B77W",
                        "name": "Bench 777",
                        "cabins": [
                            {
                                "cabin": "economy",
                                "firstRow": 1,
                                "lastRow": rows,
                                "letters": "ABCDEFGHJK",
                            },
                        ],
                    },
                },
            )
    await engine.dispose()
    return ids


# Runs ----------------------------------------------------------------------------------------
async def throughput(
    client: httpx.AsyncClient, tokens: Tokens, flights: list[int], holds: int, concurrency: int
) -> dict[str, Any]:
    seats = [(f, f"{row}{c}") for f in flights for row in range(1, 61) for c in "ABCDEFGHJK"]
    jobs = [(seat, tokens.header(100_000 + i)) for i, seat in enumerate(seats[:holds])]
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    latencies: list[float] = []
    outcomes: Counter[int] = Counter()

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
            except httpx.TransportError:
                outcomes[599] += 1  # the connection failed: counted, not fatal
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "outcomes": outcomes, "elapsed": elapsed}


async def seat_maps(
    client: httpx.AsyncClient, tokens: Tokens, flight_id: int, n: int
) -> list[float]:
    headers = tokens.header(99)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = await client.get(f"/api/seats/{flight_id}", headers=headers)
        out.append(time.perf_counter() - t0)
        r.raise_for_status()
    return out


async def contention(
    client: httpx.AsyncClient,
    tokens: Tokens,
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


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def hold_row(label: str, run: dict[str, Any]) -> str:
    lat = run["latencies"]
    ok = run["outcomes"].get(201, 0)
    return (
        f"| {label} | {len(lat)} | {ok / run['elapsed']:.0f} | {ms(percentile(lat, 50))} |"
        f" {ms(percentile(lat, 90))} | {ms(percentile(lat, 99))} | {ms(max(lat))} | {ok} |"
        f" {len(lat) - ok} |"
    )


def report(
    args: argparse.Namespace,
    serial: dict[str, Any],
    tp: dict[str, Any],
    maps: list[float],
    ct: dict[str, Any],
) -> str:
    totals = ct["totals"]
    errors = sum(v for k, v in totals.items() if k.startswith("errors"))
    lines = [
        "# Seat hold benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench-seats` (`bench/bench_seats.py`)"
        f" on {os.cpu_count()} CPU cores shared with the load generator, Postgres and Redis;"
        f" Python {platform.python_version()}, the seat service as one uvicorn worker.",
        f"Load average while it ran: {args.load_before:.1f} at the start,"
        f" {os.getloadavg()[0]:.1f} at the end (other work shares the machine): read the numbers"
        " as orders of magnitude.",
        "",
        "## Holds of distinct seats: latency and throughput",
        "",
        "Each hold is one seat for one traveller (a distinct seat of 600-seat flights):"
        " the service verifies the EdDSA token, reads the flight from Postgres, runs the hold"
        " script in Redis and commits the hold's history row, in one transaction.",
        "",
        "| clients | holds | holds/s | p50 ms | p90 ms | p99 ms | max ms | 201 | other |",
        "|---|---|---|---|---|---|---|---|---|",
        hold_row("1 (one after another)", serial),
        hold_row(f"{args.concurrency} concurrent", tp),
        "",
        "With one client the latency is the service time; with many, holds/s is the ceiling of"
        " one worker on this machine and the latency is mostly queueing (clients / throughput).",
        "",
        "## Seat map",
        "",
        f"GET /api/seats/{{id}} of a 600-seat flight with holds on it, {len(maps)} calls one"
        " after another: the flight and its sold seats from Postgres, and one Redis round trip"
        " (a read-only script over the 600 seat keys that returns only the held ones).",
        "",
        "| p50 ms | p99 ms |",
        "|---|---|",
        f"| {ms(percentile(maps, 50))} | {ms(percentile(maps, 99))} |",
        "",
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
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    tokens = Tokens()
    service = SeatService(tokens.url)
    try:
        service.start()
        flights = await add_flights(service.database_url, 1, args.flights, rows=60)
        (contended,) = await add_flights(service.database_url, 9000, 1, rows=max(args.rounds, 1))
        (warm,) = await add_flights(service.database_url, 9001, 1, rows=60)
        (serial_flight,) = await add_flights(service.database_url, 9002, 1, rows=60)
        limits = httpx.Limits(max_connections=args.concurrency + args.contenders)
        async with httpx.AsyncClient(base_url=service.url, timeout=30, limits=limits) as client:
            print("warming up ...", flush=True)
            await throughput(client, tokens, [warm], 100, args.concurrency)
            print(f"latency: {args.serial} holds one after another ...", flush=True)
            serial = await throughput(client, tokens, [serial_flight], args.serial, 1)
            print(f"throughput: {args.holds} holds ...", flush=True)
            tp = await throughput(client, tokens, flights, args.holds, args.concurrency)
            maps = await seat_maps(client, tokens, flights[0], 100)
            print(f"contention: {args.rounds} rounds x {args.contenders} ...", flush=True)
            ct = await contention(
                client,
                tokens,
                contended,
                args.rounds,
                args.contenders,
                service.prefix,
                service.env.get("REDIS_URL", "redis://localhost:6379/0"),
            )
        text = report(args, serial, tp, maps, ct)
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
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]
    if args.holds > args.flights * 600 or args.serial > 600:
        parser.error("more holds than seats: raise --flights")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
