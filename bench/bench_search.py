"""Search benchmark: uncached and cached GET /api/flights/search on growing networks, and the
seat-availability events the service consumes.

    python bench/bench_search.py                     # demo network + 1000/3000/6000 flights a day
    python bench/bench_search.py --sizes 3000 --requests 200 --cached-requests 1000
    python bench/bench_search.py --baseline /tmp/before   # before/after in one report
    python bench/bench_search.py --sizes 3000 --profile /tmp/prof --no-report   # py-spy

It needs only Postgres and Redis (DATABASE_URL / REDIS_URL, as `make run`): it creates a scratch
database (`fb_bench_search`, dropped at the end) and a Redis key prefix of its own, migrates the
flights schema, serves a throwaway JWKS itself (no auth service needed), and starts the flight
search service as a real uvicorn process on a free local port. For each network it loads the
flights, then measures from a client process over HTTP (keep-alive, `--concurrency` requests in
flight):

- uncached: every request carries `Cache-Control: no-cache`, so each one runs the full search
  (the candidate query, the in-memory join, sorting, JSON) and stores its answer;
- cached: the same queries warmed once, then served from Redis (`X-Cache: HIT` checked);
- seat events: `seats.availability_changed` (and `seats.sold_out`) put on the seat stream one
  by one, as the seat service's relay would, until the service's consumer has handled all.

The report (bench/reports/search.md) gives p50/p95/p99 latency, requests per second and the
service's CPU per request (per event) for each. `--baseline PATH` also runs the code checked
out at PATH (e.g. `git archive HEAD | tar -x -C PATH`) as a second process, side by side, the
two taking turns network by network, and the report compares them. `--profile DIR` records
py-spy profiles of the service during one network's uncached, cached and events phases. Client
and server share the machine's cores, as on a 2-core laptop: numbers are for comparison, not
capacity.
"""

import argparse
import asyncio
import contextlib
import functools
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import JwksServer, Worktree, cpu_seconds, free_port, percentile  # noqa: E402

from flight_search_service.aircraft import AIRCRAFT  # noqa: E402
from flight_search_service.airports import AirportDirectory, load_reference_data  # noqa: E402
from flight_search_service.schedule import (  # noqa: E402
    ScheduledFlight,
    demo_schedule,
    large_network,
    seed_flights_date,
    today_in_india,
)
from flight_search_service.service import insert_flights  # noqa: E402
from shared.contracts import EventPayload  # noqa: E402
from shared.contracts.seats import AvailabilityChanged, SoldOut  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.events import Event  # noqa: E402

REPORT = ROOT / "bench" / "reports" / "search.md"
BASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/flightbook")
REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
DB_URL = make_url(BASE_URL).set(database="fb_bench_search").render_as_string(hide_password=False)
RUN = uuid.uuid4().hex[:8]  # every Redis key of this run starts with fbbench:search:<RUN>:


# The system under test ---------------------------------------------------------------------


def manage(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "shared.manage", *args],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DATABASE_URL": DB_URL, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
    )


@dataclass
class Target:
    """One flight search process under test: this tree's code, or a baseline's. Each has its
    own Redis prefix (cache and event streams); they share the database."""

    code: str
    root: Path
    prefix: str
    port: int = field(default_factory=lambda: free_port())
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        """CPU seconds the process has used so far (scheduler counters)."""
        assert self.proc is not None
        return cpu_seconds({"search": self.proc.pid}).get("search", float("nan"))

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise SystemExit(f"the service ({self.code}) exited ({self.proc.returncode})")


def start_server(target: Target, jwks_url: str) -> None:
    """The service from the code under `target.root` (this tree, or a checkout)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(target.root),
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": target.prefix,
        "JWKS_URL": jwks_url,
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "development",
    }
    uvicorn = [sys.executable, "-m", "uvicorn", "flight_search_service.main:app"]
    target.proc = subprocess.Popen(
        [*uvicorn, "--host", "127.0.0.1", "--port", str(target.port), "--no-access-log"],
        cwd=target.root,
        env=env,
    )


def stop_server(target: Target) -> None:
    if target.proc is None:
        return
    target.proc.terminate()
    try:
        target.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        target.proc.kill()


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit("the flight search service exited at start-up")
            try:
                if (await client.get(f"{url}/ready", timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the flight search service did not become ready")


async def load(db: Database, flights: list[ScheduledFlight]) -> float:
    """Replace every flight with `flights`; returns the seconds it took."""
    started = time.perf_counter()
    async with db.sessionmaker() as session:
        await session.execute(
            text(
                "TRUNCATE flights.flights, flights.outbox, flights.processed_events "
                "RESTART IDENTITY CASCADE"
            )
        )
        airports = AirportDirectory(db.sessionmaker)
        await insert_flights(session=session, flights=flights, airports=airports, events=False)
        await session.commit()
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE flights.flights"))
        await conn.execute(text("ANALYZE flights.availability"))
        await conn.commit()
    return time.perf_counter() - started


async def clear_cache(pattern: str) -> None:
    """Delete this run's Redis keys matching `pattern` (a glob)."""
    redis = Redis.from_url(REDIS_URL)
    keys = [k async for k in redis.scan_iter(match=pattern, count=1000)]
    for i in range(0, len(keys), 1000):
        await redis.unlink(*keys[i : i + 1000])
    await redis.aclose()


# Workload ----------------------------------------------------------------------------------


@dataclass
class Network:
    name: str
    flights: list[ScheduledFlight]
    days: list[date]  # search dates

    @property
    def per_day(self) -> float:
        counts = Counter(f.departure_utc.date() for f in self.flights)
        return statistics.median(counts.values())

    @property
    def routes(self) -> int:
        return len({(f.origin, f.destination) for f in self.flights})


def queries(network: Network, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """Origin and destination drawn as a traveller's would be: busy airports more often."""
    origins = [f.origin for f in network.flights]
    destinations = [f.destination for f in network.flights]
    out = []
    while len(out) < n:
        src, dst = rng.choice(origins), rng.choice(destinations)
        if src != dst:
            out.append(
                {"source": src, "destination": dst, "date": rng.choice(network.days).isoformat()}
            )
    return out


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    totals: list[int] = field(default_factory=list)
    shown: set[int] = field(default_factory=set)  # flight ids in the answers (when parsed)
    elapsed: float = 0.0
    server_cpu: float = 0.0  # seconds of the server's CPU during the phase

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request (ms): independent of what else runs on the machine."""
        return self.server_cpu * 1000 / max(1, len(self.latencies))

    def row(self) -> dict[str, float]:
        ms = [x * 1000 for x in self.latencies]
        return {
            "p50": percentile(ms, 50),
            "p95": percentile(ms, 95),
            "p99": percentile(ms, 99),
            "rps": len(ms) / self.elapsed if self.elapsed else float("nan"),
        }


async def run_phase(
    client: httpx.AsyncClient,
    work: list[dict[str, Any]],
    *,
    target: Target,
    headers: dict[str, str],
    concurrency: int,
    parse: bool,
    path: str = "/api/flights/search",
) -> Phase:
    phase = Phase()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for params in work:
        queue.put_nowait(params)

    async def worker() -> None:
        while not queue.empty():
            params = queue.get_nowait()
            started = time.perf_counter()
            try:
                r = await client.get(path, params=params, headers=headers)
            except httpx.HTTPError as exc:
                phase.statuses[f"error {type(exc).__name__}"] += 1
                target.check_alive()
                continue
            phase.latencies.append(time.perf_counter() - started)
            phase.statuses[f"{r.status_code} {r.headers.get('x-cache', '-')}"] += 1
            if parse and r.status_code == 200:
                body = r.json()
                phase.totals.append(body["total"])
                phase.shown.update(
                    s["flightId"] for it in body["itineraries"] for s in it["segments"]
                )

    cpu = target.cpu()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.elapsed = time.perf_counter() - started
    phase.server_cpu = target.cpu() - cpu
    return phase


# Seat-availability events (what the seat service sends as holds and sales go by) ----------


@dataclass
class EventsPhase:
    events: int = 0
    sold_out: int = 0
    elapsed: float = 0.0
    server_cpu: float = 0.0
    entries_before: int = 0  # cached answers before the events, and after
    entries_after: int = 0

    @property
    def cpu_ms(self) -> float:
        return self.server_cpu * 1000 / max(1, self.events)


async def seat_events(db: Database, shown: set[int], n: int, rng: random.Random) -> list[Event]:
    """`n` seats.availability_changed events (and seats.sold_out where one empties a flight)
    for flights the cached answers show: seats go down one to three at a time, and about one
    in thirty takes the economy cabin to zero."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id, flight_number, aircraft_code FROM flights.flights WHERE id = ANY(:i)"),
            {"i": sorted(shown)},
        )
        flights = {r.id: (r.flight_number, AIRCRAFT[r.aircraft_code]) for r in rows}
    ids = sorted(flights)
    left: dict[int, dict[str, int]] = {}
    version: Counter[int] = Counter()
    events = []
    while len(events) < n:
        fid = rng.choice(ids)
        number, aircraft = flights[fid]
        cabins = left.setdefault(fid, {c.cabin: aircraft.seats(c.cabin) for c in aircraft.cabins})
        drop = cabins["economy"] if rng.random() < 1 / 30 else rng.randint(1, 3)
        cabins["economy"] = max(0, cabins["economy"] - drop)
        version[fid] += 1
        total = sum(cabins.values())
        changed = AvailabilityChanged(
            flight_id=fid,
            flight_number=number,
            seats_available=total,
            seats_total=aircraft.capacity,
            seats_sold=aircraft.capacity - total,
            by_cabin=dict(cabins),
            availability_version=version[fid],
        )
        events.append(_event(changed))
        if total == 0:
            sold_out = SoldOut(
                flight_id=fid, flight_number=number, availability_version=version[fid]
            )
            events.append(_event(sold_out))
    return events


def _event(contract: EventPayload) -> Event:
    """The event as the seat service's relay puts it on the stream."""
    return Event(
        id=uuid.uuid4(),
        type=contract.type,
        source="seat",
        occurred_at=datetime.now(UTC),
        payload=contract.payload(),
        version=contract.version,
    )


async def count_entries(redis: Any, target: Target) -> int:
    pattern = f"{target.prefix}{{search}}:v1:*"
    return len([k async for k in redis.scan_iter(match=pattern, count=1000)])


async def run_events(
    redis: Any, events: list[Event], *, target: Target, rate: float
) -> EventsPhase:
    """Send the events one by one at `rate` a second, as a relay would, and wait until the
    service's consumer group has handled and acknowledged every one."""
    stream = f"{target.prefix}{{events}}:seats"
    phase = EventsPhase(events=len(events), entries_before=await count_entries(redis, target))
    phase.sold_out = sum(e.type == "seats.sold_out" for e in events)
    cpu, started = target.cpu(), time.perf_counter()
    last = ""
    for i, event in enumerate(events):
        last = await redis.xadd(stream, event.to_fields())
        await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
    for _ in range(6000):
        groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
        group = groups.get("flight-search")
        if group and group["last-delivered-id"] == last and group["pending"] == 0:
            break
        await asyncio.sleep(0.01)
    else:
        raise SystemExit("the service did not handle the seat events")
    phase.elapsed = time.perf_counter() - started
    phase.server_cpu = target.cpu() - cpu
    phase.entries_after = await count_entries(redis, target)
    return phase


# Profiles (py-spy) ---------------------------------------------------------------------------


@contextlib.contextmanager
def profiled(name: str, pid: int | None, directory: str | None) -> Iterator[None]:
    """py-spy samples the service while the block runs (raw collapsed stacks in `directory`)."""
    if not (pid and directory):
        yield
        return
    out = Path(directory) / f"{name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    cmd = [str(spy), "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        print(f"  profile: {out}", flush=True)


@dataclass
class Result:
    code: str  # which code ran: "this tree" or the baseline's label
    network: Network
    load_seconds: float
    uncached: Phase  # latency: one request at a time
    uncached_load: Phase  # throughput: `concurrency` in flight
    cached: Phase
    cached_load: Phase
    events: EventsPhase


async def bench_network(
    client: httpx.AsyncClient,
    network: Network,
    *,
    target: Target,
    headers: dict[str, str],
    args: argparse.Namespace,
    db: Database,
    redis: Any,
) -> Result:
    load_seconds = await load(db, network.flights)
    await clear_cache(f"{target.prefix}{{search}}:*")
    rng = random.Random(42)
    work = queries(network, args.requests, rng)
    fresh = {**headers, "Cache-Control": "no-cache"}
    run = functools.partial(run_phase, client, target=target)
    spied = network.name == f"generated {args.profile_size}/day" and target.code == "this tree"
    pid = target.proc.pid if spied and target.proc else None
    tag = network.name.split()[-1].replace("/", "-per-")
    await run(work[:20], headers=fresh, concurrency=1, parse=False)  # warm-up
    with profiled(f"{tag}-uncached", pid, args.profile):
        uncached = await run(work, headers=fresh, concurrency=1, parse=True)
    shuffled = rng.sample(work, len(work))
    uncached_load = await run(shuffled, headers=fresh, concurrency=args.concurrency, parse=False)
    hot = work[: args.distinct_cached]
    warm = await run(hot, headers=headers, concurrency=args.concurrency, parse=True)
    with profiled(f"{tag}-cached", pid, args.profile):
        cached = await run(
            [rng.choice(hot) for _ in range(args.cached_requests // 2)],
            headers=headers,
            concurrency=1,
            parse=False,
        )
    cached_load = await run(
        [rng.choice(hot) for _ in range(args.cached_requests)],
        headers=headers,
        concurrency=args.concurrency,
        parse=False,
    )
    events = await seat_events(db, warm.shown, args.events, rng)
    with profiled(f"{tag}-events", pid, args.profile):
        seats = await run_events(redis, events, target=target, rate=args.event_rate)
    return Result(
        target.code, network, load_seconds, uncached, uncached_load, cached, cached_load, seats
    )


def networks(sizes: list[int]) -> list[Network]:
    today = today_in_india()
    demo_days = [seed_flights_date(today), *(today + timedelta(days=d) for d in (2, 3, 5, 8))]
    out = [Network("demo (seed)", demo_schedule(today=today, days=30), demo_days)]
    start = today + timedelta(days=2)
    for size in sizes:
        flights = large_network(start=start, days=3, flights_per_day=size)
        out.append(Network(f"generated {size}/day", flights, [start + timedelta(days=1)]))
    return out


# Report ------------------------------------------------------------------------------------


def fmt(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}"


def report(
    results: list[Result],
    args: argparse.Namespace,
    wall: float,
    load: str,
    health: dict[str, Phase],
) -> str:
    compare = len(health) > 1
    ordered = sorted(results, key=lambda r: (r.network.name, r.code != args.baseline_label))
    lines = [
        "# Search benchmark",
        "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `make bench-search` "
        f"(`bench/bench_search.py`) in {wall:.0f} s on {os.cpu_count()} cores "
        f"({platform.machine()}, Python {platform.python_version()}), PostgreSQL and Redis "
        f"local, one uvicorn worker (uvloop, httptools); the load generator shares the cores. "
        f"Load average before / after: {load}.",
        "",
        f"Per network: {args.requests} random queries (origins and destinations drawn in "
        "proportion to their flights, so busy airports are searched more, as in real traffic; "
        "economy, 1 passenger, direct and one-stop, the default `limit` of 100).",
        "",
        "- **uncached**: `Cache-Control: no-cache` on every request, so each one runs the full "
        "search and stores its answer. Latency: one request at a time; throughput: the same "
        f"queries with {args.concurrency} in flight.",
        f"- **cached**: {args.distinct_cached} of the queries warmed, then answered from Redis "
        f"(`X-Cache: HIT`). Latency: {args.cached_requests // 2} requests one at a time; "
        f"throughput: {args.cached_requests} with {args.concurrency} in flight.",
        "- **server CPU**: the service process's CPU time over a phase (scheduler counters, "
        "all threads), divided by its requests or events.",
    ]
    if compare:
        lines += _comparison(results, args)
    lines += _main_table(ordered, compare)
    lines += _events_table(ordered, args, compare)
    lines += ["", "Answers (status and X-Cache) and load times:", ""]
    for r in ordered:
        seen: Counter[str] = Counter()
        for phase in (r.uncached, r.uncached_load, r.cached, r.cached_load):
            seen.update(phase.statuses)
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(seen.items()))
        lines.append(
            f"- {_name(r, compare)}: {answers}; {len(r.network.flights)} flights loaded in "
            f"{r.load_seconds:.1f} s"
        )
    mine = [r for r in results if r.code == "this tree"]
    return "\n".join(lines + _reading(mine, health["this tree"]))


def _name(r: Result, compare: bool) -> str:
    return f"{r.network.name}, {r.code}" if compare else r.network.name


def _comparison(results: list[Result], args: argparse.Namespace) -> list[str]:
    """Before -> after per network, when a baseline was measured in the same run."""
    before = {r.network.name: r for r in results if r.code == args.baseline_label}
    lines = [
        "",
        f"Before ({args.baseline_label}) → after (this tree): both processes ran side by side "
        "and took turns network by network, in alternating order.",
        "",
        "| network | uncached p50 ms | uncached CPU ms/req | cached CPU ms/req | "
        "CPU ms/seat event |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        b = before.get(r.network.name)
        if r.code != "this tree" or b is None:
            continue
        lines.append(
            f"| {r.network.name} | {fmt(b.uncached.row()['p50'])} → "
            f"{fmt(r.uncached.row()['p50'])} | {fmt(b.uncached.cpu_ms, 2)} → "
            f"{fmt(r.uncached.cpu_ms, 2)} | {fmt(b.cached.cpu_ms, 2)} → "
            f"{fmt(r.cached.cpu_ms, 2)} | {fmt(b.events.cpu_ms, 2)} → {fmt(r.events.cpu_ms, 2)} |"
        )
    return lines


def _main_table(results: list[Result], compare: bool) -> list[str]:
    lines = [
        "",
        "| network | flights/day | routes | itineraries per query (mean / max) | uncached "
        "p50 / p95 / p99 ms | uncached req/s | uncached server CPU ms/req | cached p50 / p95 / "
        "p99 ms | cached req/s | cached server CPU ms/req | cached vs uncached: p50 | req/s | "
        "CPU/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        u, c = r.uncached.row(), r.cached.row()
        u_rps, c_rps = r.uncached_load.row()["rps"], r.cached_load.row()["rps"]
        totals = r.uncached.totals or [0]
        lines.append(
            f"| {_name(r, compare)} | {r.network.per_day:.0f} | {r.network.routes} | "
            f"{statistics.mean(totals):.0f} / {max(totals)} | "
            f"{fmt(u['p50'])} / {fmt(u['p95'])} / {fmt(u['p99'])} | {fmt(u_rps, 0)} | "
            f"{fmt(r.uncached.cpu_ms, 2)} | "
            f"{fmt(c['p50'])} / {fmt(c['p95'])} / {fmt(c['p99'])} | {fmt(c_rps, 0)} | "
            f"{fmt(r.cached.cpu_ms, 2)} | "
            f"{u['p50'] / c['p50']:.1f}x faster | {c_rps / u_rps:.1f}x | "
            f"{r.uncached.cpu_ms / r.cached.cpu_ms:.1f}x less |"
        )
    return lines


def _events_table(results: list[Result], args: argparse.Namespace, compare: bool) -> list[str]:
    lines = [
        "",
        f"Seat-availability events: {args.events} per network (`seats.availability_changed`, "
        f"and a `seats.sold_out` where one empties a flight) at {args.event_rate:.0f} a "
        "second, for flights the cached answers show, as the seat service sends them while "
        "seats sell (1-3 at a time; about one in thirty empties the economy cabin). The "
        "service's consumer updates the read-model and drops the cached answers that needed "
        "more seats than are left.",
        "",
        "| network | events (sold out) | server CPU ms/event | cached answers before → after |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        e = r.events
        lines.append(
            f"| {_name(r, compare)} | {e.events} ({e.sold_out}) | {fmt(e.cpu_ms, 2)} | "
            f"{e.entries_before} → {e.entries_after} |"
        )
    return lines


def _reading(results: list[Result], health: Phase) -> list[str]:
    first = results[1] if len(results) > 2 else results[0]
    top = results[-1]
    growth = statistics.mean(top.uncached.totals or [0]) / max(
        1.0, statistics.mean(first.uncached.totals or [1])
    )
    return [
        "",
        "## Reading it",
        "",
        "- An uncached search is one SQL statement in autocommit (a CTE of the first legs from "
        "the origin on its local date, and the second legs into the destination from the "
        "airports those reach within the connection window, both on (airport, departure) "
        "indexes), an in-memory join by hub with binary search on departure times, a sort, "
        "and the JSON written directly as bytes, which are stored in the cache as they are. "
        "Its cost follows the candidate legs and itineraries of the query, not the size of "
        f"the network: from {first.network.per_day:.0f} to {top.network.per_day:.0f} flights "
        f"a day the uncached p50 went from {fmt(first.uncached.row()['p50'])} ms to "
        f"{fmt(top.uncached.row()['p50'])} ms while the itineraries per query grew "
        f"{growth:.0f}x.",
        "- A cached search is a Redis GET after the token check, whatever the network size; "
        "the stored bytes are sent without decoding. An entry lives until the first departure "
        "in it (at most SEARCH_CACHE_TTL_SECONDS) and is dropped, per flight, when a flight in "
        "it is cancelled, sells out or no longer has the seats the query needed.",
        f"- For scale: `GET /health` (no token, no parameters) took {fmt(health.row()['p50'])} "
        f"ms p50 and {fmt(health.cpu_ms, 2)} ms of server CPU per request in the same setup. "
        "What a cached search adds to that is the token check (cached), the validation of its "
        "query parameters, one Redis GET and sending the stored answer (tens of KB for 100 "
        "itineraries): a fixed cost whatever the network.",
        "- A seat event costs the consumer's own work (reading the stream, recording the event "
        "as processed, committing, acknowledging) plus one UPDATE of the read-model; Redis is "
        "touched only when a cabin drops below what a cached answer may have needed (9 seats, "
        "or the whole cabin).",
        "- Client and server share the cores (and, when this was run, the machine may have "
        "been shared with other work: see the load average), so latencies and requests per "
        "second are conservative. Server CPU per request is much less sensitive to it, but "
        "not immune: on a busy machine it reads up to about 1.5x higher.",
        "",
    ]


async def measure(
    targets: list[Target], *, args: argparse.Namespace, keys: JwksServer, db: Database
) -> tuple[dict[str, Phase], list[Result]]:
    """/health, then every network, against each target: the targets run side by side and
    take turns network by network (in alternating order), so a change in the machine's load
    hits them alike."""
    headers = keys.header()
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=64)
    clients = {
        t.code: httpx.AsyncClient(base_url=t.url, limits=limits, timeout=60) for t in targets
    }
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    health: dict[str, Phase] = {}
    results: list[Result] = []
    try:
        for t in targets:
            ping = functools.partial(
                run_phase, clients[t.code], target=t, headers={}, parse=False, path="/health"
            )
            await ping([{}] * 50, concurrency=1)
            health[t.code] = await ping([{}] * 500, concurrency=1)
            print(f"{t.code}: GET /health cpu {health[t.code].cpu_ms:.2f} ms/request", flush=True)
        for i, network in enumerate(networks(args.sizes)):
            print(f"{network.name}: {len(network.flights)} flights ...", flush=True)
            for t in targets if i % 2 == 0 else targets[::-1]:
                result = await bench_network(
                    clients[t.code],
                    network,
                    target=t,
                    headers=headers,
                    args=args,
                    db=db,
                    redis=redis,
                )
                print(f"  {t.code}: {summary(result)}", flush=True)
                results.append(result)
    finally:
        await redis.aclose()
        for client in clients.values():
            await client.aclose()
    return health, results


def summary(r: Result) -> str:
    u, c = r.uncached.row(), r.cached.row()
    u_rps, c_rps = r.uncached_load.row()["rps"], r.cached_load.row()["rps"]
    return (
        f"uncached p50 {u['p50']:.1f} ms p99 {u['p99']:.1f} ms {u_rps:.0f}/s "
        f"cpu {r.uncached.cpu_ms:.2f} ms; cached p50 {c['p50']:.1f} ms "
        f"p99 {c['p99']:.1f} ms {c_rps:.0f}/s cpu {r.cached.cpu_ms:.2f} ms; "
        f"seat events cpu {r.events.cpu_ms:.2f} ms/event"
    )


async def main(args: argparse.Namespace) -> None:
    wall = time.perf_counter()
    load_before = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    manage("check", "--wait", "20")
    manage("migrate", "--service", "flight-search")
    keys = JwksServer()
    jwks_url = keys.url
    db = Database(DB_URL, pool_size=2, max_overflow=0, application_name="bench-search")
    targets = [Target("this tree", ROOT, f"fbbench:search:{RUN}:tree:")]
    if args.baseline:
        base = Target(args.baseline_label, Path(args.baseline), f"fbbench:search:{RUN}:base:")
        targets.insert(0, base)
    try:
        async with db.sessionmaker() as session:
            await load_reference_data(session=session)
            await session.commit()
        for t in targets:
            start_server(t, jwks_url)
        for t in targets:
            assert t.proc is not None
            await wait_ready(t.url, t.proc)
        health, results = await measure(targets, args=args, keys=keys, db=db)
        load_after = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        elapsed = time.perf_counter() - wall
        text_ = report(results, args, elapsed, f"{load_before} → {load_after}", health)
        if not args.no_report:
            REPORT.parent.mkdir(parents=True, exist_ok=True)
            REPORT.write_text(text_)
            print(f"report: {REPORT.relative_to(ROOT)}")
        else:
            print(text_)
    finally:
        for t in targets:
            stop_server(t)
        keys.close()
        await db.dispose()
        await clear_cache(f"fbbench:search:{RUN}:*")
        manage("dropdb")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[1000, 3000, 6000],
        help="generated networks, flights a day (comma-separated)",
    )
    p.add_argument("--requests", type=int, default=200, help="uncached queries per network")
    p.add_argument("--cached-requests", type=int, default=1000, help="cached requests")
    p.add_argument("--distinct-cached", type=int, default=100, help="distinct warmed queries")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--events", type=int, default=400, help="seat events per network")
    p.add_argument("--event-rate", type=float, default=200.0, help="seat events a second")
    p.add_argument("--profile", metavar="DIR", help="py-spy profiles of one network into DIR")
    p.add_argument("--profile-size", type=int, default=3000, help="the network to profile")
    p.add_argument(
        "--baseline",
        metavar="PATH_OR_REF",
        help="also measure the code checked out at PATH (or a git ref, checked out beside) "
        "first, for a before/after in one report",
    )
    p.add_argument("--baseline-label", default="baseline", help="its name in the report")
    p.add_argument("--no-report", action="store_true", help="print instead of writing")
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.baseline and not Path(arguments.baseline).is_dir():
        # A git ref (as `make bench BASELINE=<ref>` passes): check it out beside.
        with Worktree(arguments.baseline) as tree:
            arguments.baseline_label = arguments.baseline
            arguments.baseline = str(tree)
            asyncio.run(main(arguments))
    else:
        asyncio.run(main(arguments))
