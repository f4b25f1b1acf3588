"""Booking benchmark: the whole journey through the gateway, and a pay race.

    python bench/bench_booking.py                      # or: make bench-booking
    python bench/bench_booking.py --url http://localhost:8080   # a running system (make run;
        # start it with HOLD_RATE_LIMIT=0: a benchmark traveller holds far faster than a person)
    python bench/bench_booking.py --baseline e413dcb   # the same run on an older commit first

Without `--url` it does what `make run` does on a scratch database and Redis prefix (migrate,
seed the demo data, every service and the gateway as processes), waits until the services have
consumed the seed's events, runs, and tears it all down.

A journey is the traveller's whole path, each step one call through the gateway: search DEL-BOM
(direct flights of the coming days), the seat map of one of the flights found, a hold of a free
economy seat on it, the booking, the payment (success card) and the ticket. Latency:
`--sequential` journeys by one traveller, back to back. Throughput: `--concurrency` travellers
(each signed up once) run journeys until `--journeys` are done; reported: journeys per second,
p50/p90/p99 per step, and the CPU every process spent per journey (services, gateway, Postgres
and Redis), including the work the journey's events cause (tickets, notifications, search
availability), measured once that work is done.
Race: `--race` concurrent pays of one booking, without and with a shared Idempotency-Key;
reported: the answers, and the charges the mock gateway recorded (must be exactly one).
"""

import argparse
import asyncio
import os
import platform
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    CARD,
    PASSWORD,
    ROOT,
    OwnStack,
    Worktree,
    bearer,
    commit_of,
    cpu_seconds,
    cpu_used,
    percentile,
)

STEPS = ("search", "seat map", "hold", "book", "pay", "ticket", "journey")
REPORT = ROOT / "bench" / "reports" / "booking.md"


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    failures: Counter[str] = field(default_factory=Counter)
    journeys: int = 0
    elapsed: float = 0.0


# Setup through the gateway -------------------------------------------------------------------


async def sign_up(client: httpx.AsyncClient, n: int) -> list[dict[str, str]]:
    async def one(i: int) -> dict[str, str]:
        email = f"bench-{uuid.uuid4().hex[:10]}-{i}@example.com"
        r = await client.post(
            "/api/auth/signup", json={"name": f"Bench {i}", "email": email, "password": PASSWORD}
        )
        r.raise_for_status()
        return bearer(r.json()["token"])

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def search_dates(days: int = 20) -> list[str]:
    first = datetime.now(UTC).date() + timedelta(days=2)
    return [(first + timedelta(days=d)).isoformat() for d in range(days)]


async def settled(env: dict[str, str]) -> None:
    """Wait until every consumer group has read and acknowledged every event (the seed's
    thousands of flight.created events keep the seat service busy for a while)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(env.get("REDIS_URL", "redis://localhost:6379/0"))
    prefix = env["REDIS_PREFIX"]
    try:
        for _ in range(3000):
            behind = 0
            async for key in client.scan_iter(match=f"{prefix}{{events}}:*", count=100):
                if key.decode().endswith(":dead"):
                    continue
                for group in await client.xinfo_groups(key):
                    behind += int(group.get("lag") or 0) + int(group.get("pending") or 0)
            if behind == 0:
                return
            await asyncio.sleep(0.2)
    finally:
        await client.aclose()


# The journey -------------------------------------------------------------------------------


class Journey:
    """One traveller's whole path; every step's latency recorded, failures counted."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str], results: Results):
        self.client = client
        self.headers = headers
        self.results = results

    async def step(self, name: str, method: str, path: str, **kw: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        r = await self.client.request(method, path, headers=self.headers, **kw)
        self.results.latencies[name].append(time.perf_counter() - t0)
        if r.status_code not in (200, 201):
            code = r.json().get("code", "") if r.content else ""
            raise RuntimeError(f"{name} {r.status_code} {code}".strip())
        return r.json()

    async def run(self, rng: random.Random) -> None:
        started = time.perf_counter()
        try:
            params = {"source": "DEL", "destination": "BOM", "maxStops": 0}
            found = await self.step(
                "search",
                "GET",
                "/api/flights/search",
                params={**params, "date": rng.choice(search_dates())},
            )
            flight = rng.choice(found["itineraries"])["segments"][0]["flightId"]
            seat_map = await self.step("seat map", "GET", f"/api/seats/{flight}")
            free = [
                s["seatNumber"]
                for s in seat_map["seats"]
                if s["status"] == "available" and s["cabin"] == "economy"
            ]
            hold = await self.step(
                "hold",
                "POST",
                "/api/seats/lock",
                json={"flightId": flight, "seatNumber": rng.choice(free)},
            )
            booking = await self.step(
                "book", "POST", "/api/bookings", json={"holdIds": [hold["holdId"]]}
            )
            await self.step(
                "pay",
                "POST",
                "/api/payments/pay",
                json={"bookingId": booking["id"], "amount": booking["amountDue"], "card": CARD},
            )
            await self.step(
                "ticket", "POST", "/api/tickets/generate", json={"bookingId": booking["id"]}
            )
        except RuntimeError as exc:
            self.results.failures[str(exc)] += 1
            return
        except (httpx.HTTPError, ValueError, IndexError, KeyError) as exc:
            self.results.failures[f"client {type(exc).__name__}"] += 1
            return
        self.results.latencies["journey"].append(time.perf_counter() - started)
        self.results.journeys += 1


async def run_journeys(
    client: httpx.AsyncClient, users: list[dict[str, str]], journeys: int, seed: int
) -> Results:
    results = Results()
    left = [journeys]

    async def traveller(i: int, headers: dict[str, str]) -> None:
        rng = random.Random(seed * 1000 + i)
        while left[0] > 0:
            left[0] -= 1
            await Journey(client, headers, results).run(rng)

    started = time.perf_counter()
    await asyncio.gather(*(traveller(i, h) for i, h in enumerate(users)))
    results.elapsed = time.perf_counter() - started
    return results


async def free_seat(
    client: httpx.AsyncClient, headers: dict[str, str], day: str
) -> tuple[int, str]:
    r = await client.get(
        "/api/flights/search",
        params={"source": "BOM", "destination": "DEL", "date": day, "maxStops": 0},
        headers=headers,
    )
    flight = r.json()["itineraries"][0]["segments"][0]["flightId"]
    seats = (await client.get(f"/api/seats/{flight}", headers=headers)).json()["seats"]
    return flight, random.choice([s["seatNumber"] for s in seats if s["status"] == "available"])


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


# CPU of the stores ----------------------------------------------------------------------------


def store_pids() -> dict[str, int]:
    """Postgres (every backend and helper process) and Redis, by pid, as `name:pid`."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith(("postgres", "postmaster")):
            found[f"postgres:{proc.name}"] = int(proc.name)
        elif comm.startswith("redis-server"):
            found[f"redis:{proc.name}"] = int(proc.name)
    return found


def by_process(used: dict[str, float]) -> dict[str, float]:
    """Fold `postgres:<pid>` / `redis:<pid>` readings into one figure each."""
    out: Counter[str] = Counter()
    for name, seconds in used.items():
        out[name.split(":", 1)[0]] += seconds
    return dict(out)


# Report ------------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    commit: str
    alone: Results
    results: Results
    cpu: dict[str, float]
    races: list[dict[str, Any]]


def step_table(results: Results) -> list[str]:
    ms = 1000
    lines = ["| step | n | p50 ms | p90 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    for name in STEPS:
        values = results.latencies[name]
        if not values:
            continue
        lines.append(
            f"| {name} | {len(values)} | {percentile(values, 50) * ms:.0f} | "
            f"{percentile(values, 90) * ms:.0f} | {percentile(values, 99) * ms:.0f} | "
            f"{max(values) * ms:.0f} |"
        )
    return lines


def cpu_line(run: Run) -> str:
    if not run.cpu or not run.results.journeys:
        return ""
    n = run.results.journeys
    stores = {k: v for k, v in run.cpu.items() if k in ("postgres", "redis")}
    apps = {k: v for k, v in run.cpu.items() if k not in stores}
    parts = ", ".join(
        f"{k} {v / n * 1000:.1f}" for k, v in sorted(apps.items(), key=lambda kv: -kv[1])
    )
    store = ", ".join(f"{k} {v / n * 1000:.1f}" for k, v in sorted(stores.items()))
    return (
        f"CPU per journey, by process (ms): {parts}; **services and gateway together "
        f"{sum(apps.values()) / n * 1000:.1f} ms**; the stores: {store} "
        f"(all together {sum(run.cpu.values()) / n * 1000:.1f} ms)."
    )


def run_section(run: Run, args: argparse.Namespace) -> list[str]:
    r = run.results
    lines = [
        f"## {run.label} (commit {run.commit})",
        "",
        "### One traveller at a time (latency)",
        "",
        f"{run.alone.journeys} journeys back to back, "
        f"{run.alone.journeys / run.alone.elapsed:.1f} per second.",
        "",
        *step_table(run.alone),
        "",
        f"### {args.concurrency} travellers at once (throughput)",
        "",
        f"- completed: **{r.journeys}** of {args.journeys}, failed: {sum(r.failures.values())}"
        + (f" ({dict(r.failures)})" if r.failures else ""),
        f"- wall time: {r.elapsed:.1f} s, **{r.journeys / r.elapsed:.1f} journeys per second**",
        "",
        *step_table(r),
        "",
        cpu_line(run),
        "",
        f"### Race: {args.race} concurrent pays of one booking",
        "",
        "| Idempotency-Key | answers | 201s' payment ids | payments recorded | booking | time |",
        "|---|---|---|---|---|---|",
    ]
    for race_run in run.races:
        answers = ", ".join(f"{n}x {k}" for k, n in sorted(race_run["outcomes"].items()))
        payments = ", ".join(f"{n} {k}" for k, n in sorted(race_run["payments"].items()))
        lines.append(
            f"| {'one shared key' if race_run['key'] else 'none'} | {answers} | "
            f"{race_run['distinct_payment_ids']} | {payments} | {race_run['booking']} | "
            f"{race_run['elapsed'] * 1000:.0f} ms |"
        )
    lines += [""]
    return lines


# What the profiles (py-spy, this benchmark, 2026-11-30) show the journey's CPU is left for.
PROFILE_NOTES = (
    "What is left, by the profiles: issuing a ticket is ORM work (the ticket, its coupons and "
    "invoice inserted and read back, the gapless invoice counter); the notification service "
    "runs two transactions per event (queue, then deliver) and relays a `notification.sent` "
    "event per delivery; creating a booking is four inserts (the related rows need generated "
    "ids); the saga's steps are transactions of their own on purpose; the rest is the fixed "
    "cost of an HTTP hop and a token check in each process."
)


def goal_lines(run: Run) -> list[str]:
    """Issue #9's journey goals against the run: met, or by how much it falls short."""
    r = run.results
    if not r.journeys or not run.cpu:
        return []
    apps = sum(v for k, v in run.cpu.items() if k not in ("postgres", "redis"))
    cpu = apps / r.journeys * 1000
    everything = sum(run.cpu.values()) / r.journeys * 1000
    rate = r.journeys / r.elapsed
    return [
        "| goal | measured | verdict |",
        "|---|---|---|",
        f"| one journey ≤ 60 ms of CPU over the services and the gateway | {cpu:.1f} ms "
        f"({everything:.1f} ms with Postgres and Redis) "
        f"| {'met' if cpu <= 60 else f'over by {cpu - 60:.1f} ms'} |",
        f"| ≥ 25 journeys/s with 8 travellers on 2 cores | {rate:.1f} "
        f"| {'met' if rate >= 25 else f'short by {25 - rate:.1f}'} |",
    ]


def report(runs: list[Run], args: argparse.Namespace, url: str | None, load: float) -> str:
    lines = [
        "# Booking benchmark",
        "",
        f"`make bench-booking` ({url or 'own stack'}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}; "
        f"load average {load:.1f} when it started.",
        "Every service and the gateway are separate uvicorn processes (one worker each, access "
        "log on, to a file per process) on the same machine as the load generator, Postgres and "
        "Redis. A journey: search DEL-BOM, seat map, hold one economy seat, book "
        "(`{holdIds}`, the account holder as passenger), pay (success card), ticket; each step "
        "one call through the gateway. CPU per journey counts every process, and the work the "
        "journey's events cause (ticket issue, notifications, search availability), read once "
        "that work is done.",
        "",
    ]
    for run in runs:
        lines += run_section(run, args)
    if goals := goal_lines(runs[-1]):
        lines += [f"## The goals of issue #9, against {runs[-1].label.lower()}", "", *goals, ""]
        lines += [PROFILE_NOTES, ""]
    return "\n".join(lines)


async def measure(
    args: argparse.Namespace, url: str, pids: dict[str, int], env: dict[str, str]
) -> Run:
    limits = httpx.Limits(max_connections=args.concurrency + args.race + 10)
    async with httpx.AsyncClient(
        base_url=url, timeout=30.0, limits=limits, trust_env=False
    ) as client:
        users = await sign_up(client, args.concurrency)
        # Warm-up: a few journeys per traveller (JWKS, pools, caches), not measured.
        await run_journeys(client, users, len(users) * 3, seed=1)
        if env:
            await settled(env)
        print(f"running {args.sequential} journeys one at a time ...", flush=True)
        alone = await run_journeys(client, users[:1], args.sequential, seed=2)
        print(f"running {args.journeys} journeys, {args.concurrency} at a time ...", flush=True)
        watched = {**pids, **store_pids()}
        cpu_before = cpu_seconds(watched)
        results = await run_journeys(client, users, args.journeys, seed=3)
        if env:
            await settled(env)  # the journeys' events handled too
        cpu = by_process(cpu_used(cpu_before, cpu_seconds(watched)))
        day = search_dates()[-1]
        races = [
            await race(
                client, users[0], await free_seat(client, users[0], day), args.race, key=False
            ),
            await race(
                client, users[0], await free_seat(client, users[0], day), args.race, key=True
            ),
        ]
    return Run("", "", alone, results, cpu, races)


def measure_stack(label: str, root: Path, args: argparse.Namespace) -> Run:
    with OwnStack(root=root) as own:
        print("waiting for the services to consume the seed's events ...", flush=True)
        asyncio.run(settled(own.env))
        run = asyncio.run(measure(args, own.urls["gateway"], own.pids, own.env))
    run.label, run.commit = label, commit_of(root)
    return run


def main(args: argparse.Namespace) -> int:
    load = os.getloadavg()[0]
    runs = []
    if args.url:
        run = asyncio.run(measure(args, args.url, {}, {}))
        run.label, run.commit = f"Running system at {args.url}", commit_of()
        runs.append(run)
    else:
        if args.baseline:
            with Worktree(args.baseline) as tree:
                runs.append(measure_stack(f"Before: {args.baseline}", tree, args))
        runs.append(
            measure_stack("After: this checkout" if args.baseline else "This checkout", ROOT, args)
        )
    text = report(runs, args, args.url, load)
    print(text)
    if args.report:
        Path(args.report).write_text(text)
        print(f"written to {args.report}")
    last = runs[-1]
    return (
        0
        if last.results.journeys == args.journeys and last.alone.journeys == args.sequential
        else 1
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the gateway of a running system (default: start one)")
    parser.add_argument("--baseline", help="also measure this git ref first (before/after)")
    parser.add_argument("--journeys", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sequential", type=int, default=30)
    parser.add_argument("--race", type=int, default=20)
    parser.add_argument("--report", default=str(REPORT))
    raise SystemExit(main(parser.parse_args()))
