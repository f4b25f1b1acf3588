"""Booking benchmark: the journey hold -> book -> pay through the gateway, and a pay race.

    python bench/bench_booking.py                      # starts the whole system itself
    python bench/bench_booking.py --url http://localhost:8080   # a running system (make run)

Without `--url` it does what `make run` does on a scratch database and Redis prefix (migrate,
seed the demo data, every service and the gateway as processes), runs, and tears it all down.

Each journey holds one free economy seat of a seeded DEL-BOM flight, books it and pays it with
the success card. Latency: `--sequential` journeys by one traveller, back to back. Throughput:
`--concurrency` travellers (each signed up once) run journeys until `--journeys` are done.
Reported: journeys per second and p50/p90/p99 per step.
Race: `--race` concurrent pays of one booking, without and with a shared Idempotency-Key;
reported: the answers, and the charges the mock gateway recorded (must be exactly one).
"""

import argparse
import asyncio
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STEPS = ("hold", "book", "pay", "journey")
CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2035, "cvc": "123"}
PASSWORD = "bench-password-1"  # noqa: S105 (throwaway bench accounts)


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    failures: Counter[str] = field(default_factory=Counter)
    journeys: int = 0
    elapsed: float = 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


# The system under test ---------------------------------------------------------------------


class OwnStack:
    """migrate + seed + every process, on a scratch database (like `make run`)."""

    def __init__(self) -> None:
        from sqlalchemy.engine import make_url

        run = uuid.uuid4().hex[:8]
        base = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/fb")
        self.database_url = (
            make_url(base).set(database=f"fb_bench_{run}").render_as_string(hide_password=False)
        )
        self.tmp = Path(tempfile.mkdtemp(prefix=f"fb-bench-{run}-"))
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "ENVIRONMENT": "development",
            "DATABASE_URL": self.database_url,
            "REDIS_PREFIX": f"fbbench:{run}:",
            "AUTH_SIGNING_KEY_FILE": str(self.tmp / "signing_key.pem"),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_USER": "1000000",
            "RATE_LIMIT_PER_ADDRESS": "1000000",
        }
        self.stack: Any = None

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "shared.manage", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    @property
    def pids(self) -> dict[str, int]:
        if self.stack is None:
            return {}
        procs = {**self.stack.services, "gateway": self.stack.gateway}
        return {name: p.popen.pid for name, p in procs.items() if p.popen is not None}

    def start(self) -> str:
        from tests.e2e.stack import Stack

        print("migrating and seeding a scratch database ...", flush=True)
        self.manage("check", "--wait", "20")
        self.manage("migrate")
        self.manage("seed")
        print("starting the services and the gateway ...", flush=True)
        self.stack = Stack(log_dir=self.tmp, base_env=self.env)
        self.stack.start()
        return self.stack.gateway.url

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        import redis

        client = redis.Redis.from_url(self.env.get("REDIS_URL", "redis://localhost:6379/0"))
        for key in client.scan_iter(match=f"{self.env['REDIS_PREFIX']}*", count=1000):
            client.unlink(key)
        client.close()
        self.manage("dropdb")


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) each process has used so far (Linux /proc; else empty)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    used = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[name] = (int(fields[11]) + int(fields[12])) / ticks
    return used


# Setup through the gateway -------------------------------------------------------------------


async def sign_up(client: httpx.AsyncClient, n: int) -> list[dict[str, str]]:
    async def one(i: int) -> dict[str, str]:
        email = f"bench-{uuid.uuid4().hex[:10]}-{i}@example.com"
        r = await client.post(
            "/api/auth/signup", json={"name": f"Bench {i}", "email": email, "password": PASSWORD}
        )
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['token']}"}

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def free_seats(
    client: httpx.AsyncClient, headers: dict[str, str], wanted: int
) -> list[tuple[int, str]]:
    """Distinct free economy (flight, seat) pairs on direct DEL-BOM flights of the coming days,
    taken from the flights in turn (a real load is spread over many flights)."""
    by_flight: list[list[tuple[int, str]]] = []
    found = 0
    day = datetime.now(UTC).date() + timedelta(days=2)
    for offset in range(20):
        r = await client.get(
            "/api/flights/search",
            params={
                "source": "DEL",
                "destination": "BOM",
                "date": (day + timedelta(days=offset)).isoformat(),
                "maxStops": 0,
            },
            headers=headers,
        )
        r.raise_for_status()
        for itinerary in r.json()["itineraries"]:
            flight_id = itinerary["segments"][0]["flightId"]
            seats = await client.get(f"/api/seats/{flight_id}", headers=headers)
            if seats.status_code != 200:
                continue
            free = [
                (flight_id, s["seatNumber"])
                for s in seats.json()["seats"]
                if s["status"] == "available" and s["cabin"] == "economy"
            ]
            by_flight.append(free)
            found += len(free)
            if found >= wanted and len(by_flight) >= 4:
                pairs = [p for group in itertools.zip_longest(*by_flight) for p in group if p]
                return pairs[:wanted]
    raise SystemExit(f"only {found} free seats found; seed the demo data first")


# The journey -------------------------------------------------------------------------------


async def journey(
    client: httpx.AsyncClient, headers: dict[str, str], seat: tuple[int, str], results: Results
) -> None:
    flight_id, seat_number = seat
    started = time.perf_counter()

    async def step(name: str, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        r = await client.request(method, path, json=body, headers=headers)
        results.latencies[name].append(time.perf_counter() - t0)
        if r.status_code not in (200, 201):
            results.failures[f"{name} {r.status_code} {r.json().get('code', '')}"] += 1
            raise RuntimeError(name)
        return r.json()

    try:
        hold = await step(
            "hold", "POST", "/api/seats/lock", {"flightId": flight_id, "seatNumber": seat_number}
        )
        booking = await step("book", "POST", "/api/bookings", {"holdIds": [hold["holdId"]]})
        await step(
            "pay",
            "POST",
            "/api/payments/pay",
            {"bookingId": booking["id"], "amount": booking["amountDue"], "card": CARD},
        )
    except (RuntimeError, httpx.HTTPError, ValueError) as exc:
        if isinstance(exc, httpx.HTTPError):
            results.failures[f"transport {type(exc).__name__}"] += 1
        return
    results.latencies["journey"].append(time.perf_counter() - started)
    results.journeys += 1


async def run_journeys(
    client: httpx.AsyncClient, users: list[dict[str, str]], seats: list[tuple[int, str]]
) -> Results:
    results = Results()
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for seat in seats:
        queue.put_nowait(seat)

    async def traveller(headers: dict[str, str]) -> None:
        while not queue.empty():
            await journey(client, headers, queue.get_nowait(), results)

    started = time.perf_counter()
    await asyncio.gather(*(traveller(h) for h in users))
    results.elapsed = time.perf_counter() - started
    return results


async def race(
    client: httpx.AsyncClient, headers: dict[str, str], seat: tuple[int, str], n: int, key: bool
) -> dict[str, Any]:
    hold = await client.post(
        "/api/seats/lock", json={"flightId": seat[0], "seatNumber": seat[1]}, headers=headers
    )
    booking = (
        await client.post(
            "/api/bookings", json={"holdIds": [hold.json()["holdId"]]}, headers=headers
        )
    ).json()
    body = {"bookingId": booking["id"], "amount": booking["amountDue"], "card": CARD}
    extra = {"Idempotency-Key": f"race-{uuid.uuid4().hex}"} if key else {}
    t0 = time.perf_counter()
    answers = await asyncio.gather(
        *(
            client.post("/api/payments/pay", json=body, headers={**headers, **extra})
            for _ in range(n)
        ),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - t0
    outcomes: Counter[str] = Counter()
    payment_ids = set()
    for a in answers:
        if isinstance(a, BaseException):
            outcomes[f"error {type(a).__name__}"] += 1
            continue
        code = a.json().get("code", "") if a.status_code >= 400 else ""
        outcomes[f"{a.status_code} {code}".strip()] += 1
        if a.status_code == 201:
            payment_ids.add(a.json()["paymentId"])
    payments = await client.get(
        "/api/payments", params={"bookingId": booking["id"]}, headers=headers
    )
    statuses = Counter(p["status"] for p in payments.json()["items"])
    final = (await client.get(f"/api/bookings/{booking['id']}", headers=headers)).json()["status"]
    return {
        "key": key,
        "outcomes": outcomes,
        "distinct_payment_ids": len(payment_ids),
        "payments": statuses,
        "booking": final,
        "elapsed": elapsed,
    }


# Report ------------------------------------------------------------------------------------


def step_table(results: Results) -> list[str]:
    ms = 1000
    lines = ["| step | n | p50 ms | p90 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    for name in STEPS:
        values = results.latencies[name]
        lines.append(
            f"| {name} | {len(values)} | {percentile(values, 50) * ms:.0f} | "
            f"{percentile(values, 90) * ms:.0f} | {percentile(values, 99) * ms:.0f} | "
            f"{(max(values) if values else float('nan')) * ms:.0f} |"
        )
    return lines


def report(
    args: argparse.Namespace,
    url: str,
    alone: Results,
    results: Results,
    races: list[dict[str, Any]],
    load: float,
    cpu: dict[str, float],
) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    ms = 1000
    lines = [
        "# Booking benchmark",
        "",
        f"`make bench-booking` ({'own stack' if not args.url else url}), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or '?'}, "
        f"{os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}; "
        f"load average {load:.1f} when it started (the machine is shared).",
        "Every service and the gateway are separate uvicorn processes (one worker each) on the "
        "same machine as the load generator; Postgres and Redis local. Each step is one call "
        "through the gateway: hold `POST /api/seats/lock`, book `POST /api/bookings` "
        "(`{holdIds}`, no passengers: the account holder), pay `POST /api/payments/pay` "
        "(success card).",
        "",
        "## One traveller at a time (latency)",
        "",
        f"{alone.journeys} journeys back to back, {alone.journeys / alone.elapsed:.1f} per second.",
        "",
        *step_table(alone),
        "",
        f"## {args.concurrency} travellers at once (throughput)",
        "",
        f"{args.journeys} journeys by {args.concurrency} concurrent travellers (each its own "
        "account), one economy seat each.",
        "",
        f"- completed: **{results.journeys}**, failed: {sum(results.failures.values())}"
        + (f" ({dict(results.failures)})" if results.failures else ""),
        f"- wall time: {results.elapsed:.1f} s, **{results.journeys / results.elapsed:.1f} "
        "journeys per second**",
        "",
        *step_table(results),
    ]
    if cpu and results.journeys:
        busiest = sorted(cpu.items(), key=lambda kv: -kv[1])
        lines += [
            "",
            "CPU used per journey in this run, by process (ms): "
            + ", ".join(
                f"{name} {seconds / results.journeys * ms:.0f}" for name, seconds in busiest
            )
            + f"; total {sum(cpu.values()) / results.journeys * ms:.0f} ms, on "
            f"{os.cpu_count()} cores shared with the load generator, Postgres and Redis.",
        ]
    mean = statistics.fmean(results.latencies["pay"]) * ms if results.latencies["pay"] else 0
    lines += [
        "",
        f"(pay: mean {mean:.0f} ms; it is the saga: booking check, payment row, booking "
        "reservation, card charge, seat sale, confirmation, each committed.)",
        "",
        f"## Race: {args.race} concurrent pays of one booking",
        "",
        "| Idempotency-Key | answers | 201s' payment ids | payments recorded | booking | time |",
        "|---|---|---|---|---|---|",
    ]
    for r in races:
        answers = ", ".join(f"{n}x {k}" for k, n in sorted(r["outcomes"].items()))
        payments = ", ".join(f"{n} {k}" for k, n in sorted(r["payments"].items()))
        lines.append(
            f"| {'one shared key' if r['key'] else 'none'} | {answers} | "
            f"{r['distinct_payment_ids']} | {payments} | {r['booking']} | "
            f"{r['elapsed'] * ms:.0f} ms |"
        )
    lines += [
        "",
        "Exactly one charge each time: one SUCCEEDED payment; the other answers are 409 "
        "(`PAYMENT_IN_PROGRESS`, `BOOKING_ALREADY_PAID`, `IDEMPOTENCY_IN_PROGRESS`) or, with "
        "the key, replays of the one 201; no 5xx.",
        "",
    ]
    return "\n".join(lines)


async def measure(
    args: argparse.Namespace, url: str, pids: dict[str, int]
) -> tuple[Results, Results, list[dict[str, Any]], dict[str, float]]:
    limits = httpx.Limits(max_connections=args.concurrency + args.race + 10)
    async with httpx.AsyncClient(
        base_url=url, timeout=30.0, limits=limits, trust_env=False
    ) as client:
        users = await sign_up(client, args.concurrency)
        pairs = await free_seats(client, users[0], len(users) + args.sequential + args.journeys + 2)
        warm, seats = pairs[: len(users)], pairs[len(users) :]
        # Warm-up: one journey per traveller (JWKS fetch, connection pools), not measured.
        await run_journeys(client, users, warm)
        print(f"running {args.sequential} journeys one at a time ...", flush=True)
        alone = await run_journeys(client, users[:1], seats[: args.sequential])
        print(f"running {args.journeys} journeys, {args.concurrency} at a time ...", flush=True)
        rest = seats[args.sequential :]
        cpu_before = cpu_seconds(pids)
        results = await run_journeys(client, users, rest[: args.journeys])
        cpu_after = cpu_seconds(pids)
        cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_after if k in cpu_before}
        races = [
            await race(client, users[0], rest[-2], args.race, key=False),
            await race(client, users[0], rest[-1], args.race, key=True),
        ]
    return alone, results, races, cpu


def main(args: argparse.Namespace) -> int:
    own = None if args.url else OwnStack()
    try:
        url = args.url or own.start()  # type: ignore[union-attr]
        load = os.getloadavg()[0]
        alone, results, races, cpu = asyncio.run(measure(args, url, own.pids if own else {}))
    finally:
        if own is not None:
            own.stop()
    text = report(args, url, alone, results, races, load, cpu)
    print(text)
    if args.report:
        Path(args.report).write_text(text)
        print(f"written to {args.report}")
    return 0 if results.journeys == args.journeys and alone.journeys == args.sequential else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the gateway of a running system (default: start one)")
    parser.add_argument("--journeys", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--sequential", type=int, default=30)
    parser.add_argument("--race", type=int, default=20)
    parser.add_argument("--report", default=str(ROOT / "bench" / "reports" / "booking.md"))
    raise SystemExit(main(parser.parse_args()))
