"""Gateway benchmark: direct vs through the gateway, overload, and the idle stack.

    python bench/bench_gateway.py                      # or: make bench-gateway
    python bench/bench_gateway.py --baseline e413dcb   # also the same run on an older commit

It starts the whole stack the way `make run` does (scratch database and Redis prefix, every
service and the gateway as a process logging to its own file, rate limits out of the way) and
measures, with wrk:

- each target (the JWKS, a trivial route; a cached DEL-BOM search with `limit=1`; the same
  search with every itinerary) directly on its service and through the gateway, at 1, 10 and
  50 connections: requests/s, p50/p90/p99, and the CPU each process spent per request;
- 1,000 travellers asking for the same seat at the same moment, through the gateway: the
  answers (one 201; 409s; 503s with Retry-After), anything else, and the latency;
- the stack at rest: CPU of all ten processes over 30 s.

With `--baseline REF` it first does all of that on a git worktree of REF (the code before a
change), so the report shows before and after from one run on one machine.
"""

import argparse
import asyncio
import os
import platform
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    PASSWORD,
    ROOT,
    OwnStack,
    Worktree,
    bearer,
    commit_of,
    cpu_seconds,
    cpu_used,
    percentile,
    wait_idle,
    wrk,
)

REPORT = ROOT / "bench" / "reports" / "gateway.md"
CONNECTIONS = (1, 10, 50)


@dataclass
class Target:
    name: str
    service: str
    path: str
    auth: bool


@dataclass
class Run:
    """Everything measured on one stack."""

    label: str
    commit: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    contention: dict[str, Any] = field(default_factory=dict)
    idle: dict[str, float] = field(default_factory=dict)
    idle_seconds: float = 0.0


# Setup through the gateway ------------------------------------------------------------------


async def sign_up(session: aiohttp.ClientSession, gateway: str, n: int) -> list[str]:
    """`n` new accounts (8 at a time: each is an argon2 hash); their access tokens."""
    tokens: list[str] = []
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        email = f"bench-{uuid.uuid4().hex[:12]}-{i}@example.com"
        body = {"name": f"Bench {i}", "email": email, "password": PASSWORD}
        async with gate, session.post(f"{gateway}/api/auth/signup", json=body) as r:
            r.raise_for_status()
            tokens.append((await r.json())["token"])

    await asyncio.gather(*(one(i) for i in range(n)))
    return tokens


async def search_path(session: aiohttp.ClientSession, gateway: str, token: str) -> str:
    """A DEL-BOM search with several itineraries, answered once so the next ones are cached."""
    day = datetime.now(UTC).date() + timedelta(days=3)
    path = f"/api/flights/search?source=DEL&destination=BOM&date={day.isoformat()}"
    async with session.get(gateway + path, headers=bearer(token)) as r:
        r.raise_for_status()
        assert (await r.json())["count"] > 1, "the demo schedule has no DEL-BOM itineraries"
    async with session.get(gateway + path + "&limit=1", headers=bearer(token)) as r:
        r.raise_for_status()
    return path


async def free_seat(session: aiohttp.ClientSession, gateway: str, token: str) -> tuple[int, str]:
    day = datetime.now(UTC).date() + timedelta(days=5)
    path = f"/api/flights/search?source=BOM&destination=DEL&date={day.isoformat()}&maxStops=0"
    async with session.get(gateway + path, headers=bearer(token)) as r:
        flight_id = (await r.json())["itineraries"][0]["segments"][0]["flightId"]
    async with session.get(f"{gateway}/api/seats/{flight_id}", headers=bearer(token)) as r:
        seats = (await r.json())["seats"]
    return flight_id, next(s["seatNumber"] for s in seats if s["status"] == "available")


# Measurements -------------------------------------------------------------------------------


def throughput(stack: OwnStack, targets: list[Target], token: str, seconds: float) -> list[dict]:
    rows = []
    urls = stack.urls
    for target in targets:
        headers = bearer(token) if target.auth else {}
        for connections in CONNECTIONS:
            row: dict[str, Any] = {"target": target.name, "connections": connections}
            for where, base in (("direct", urls[target.service]), ("gateway", urls["gateway"])):
                wait_idle(1.0)
                before = cpu_seconds(stack.pids)
                result = wrk(
                    base + target.path, connections=connections, seconds=seconds, headers=headers
                )
                used = cpu_used(before, cpu_seconds(stack.pids))
                requests = max(1.0, result["requests"])
                result["cpu_service_ms"] = used.get(target.service, 0) / requests * 1000
                result["cpu_gateway_ms"] = used.get("gateway", 0) / requests * 1000
                row[where] = result
                print(
                    f"  {target.name:<14} c={connections:<3} {where:<8}"
                    f" {result['rps']:8.0f} req/s  p50 {result['p50']:6.1f} ms"
                    f"  p99 {result['p99']:7.1f} ms",
                    flush=True,
                )
            rows.append(row)
    return rows


async def contention(gateway: str, tokens: list[str], seat: tuple[int, str]) -> dict[str, Any]:
    """Every token asks for the same seat at the same moment, each on its own connection."""
    flight_id, seat_number = seat
    body = {"flightId": flight_id, "seatNumber": seat_number}
    answers: Counter[str] = Counter()
    latencies: list[float] = []
    start = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(token: str) -> None:
            await start.wait()
            t0 = time.perf_counter()
            try:
                async with session.post(
                    f"{gateway}/api/seats/lock", json=body, headers=bearer(token)
                ) as r:
                    await r.read()
                    retry = r.status == 503 and "Retry-After" in r.headers
                    answers[f"{r.status}{' with Retry-After' if retry else ''}"] += 1
            except (aiohttp.ClientError, OSError) as exc:
                answers[f"error {type(exc).__name__}"] += 1
            latencies.append(time.perf_counter() - t0)

        tasks = [asyncio.ensure_future(one(t)) for t in tokens]
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return {"answers": answers, "latencies": latencies, "elapsed": elapsed}


def idle_cpu(stack: OwnStack, seconds: float) -> dict[str, float]:
    """Percent of one core each process used over `seconds` with nothing asked of it."""
    wait_idle(5.0)
    before = cpu_seconds(stack.pids, precise=True)
    time.sleep(seconds)
    used = cpu_used(before, cpu_seconds(stack.pids, precise=True))
    return {name: value / seconds * 100 for name, value in used.items()}


async def setup(gateway: str, travellers: int) -> tuple[list[str], str, tuple[int, str]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        print(f"signing up {travellers} travellers ...", flush=True)
        tokens = await sign_up(session, gateway, travellers)
        path = await search_path(session, gateway, tokens[0])
        seat = await free_seat(session, gateway, tokens[0])
    return tokens, path, seat


def measure(label: str, root: Path, args: argparse.Namespace) -> Run:
    run = Run(label=label, commit=commit_of(root))
    print(f"== {label}: {root} at {run.commit}", flush=True)
    with OwnStack(root=root) as stack:
        gateway = stack.urls["gateway"]
        tokens, search, seat = asyncio.run(setup(gateway, args.travellers))
        targets = [
            Target("jwks", "auth", "/.well-known/jwks.json", auth=False),
            Target("search limit=1", "flight-search", search + "&limit=1", auth=True),
            Target("search, all", "flight-search", search, auth=True),
        ]
        run.rows = throughput(stack, targets, tokens[0], args.seconds)
        print(f"{len(tokens)} travellers ask for one seat at once ...", flush=True)
        wait_idle(2.0)
        run.contention = asyncio.run(contention(gateway, tokens, seat))
        print(f"  {dict(run.contention['answers'])}", flush=True)
        print(f"the stack at rest for {args.idle_seconds:g} s ...", flush=True)
        run.idle = idle_cpu(stack, args.idle_seconds)
        run.idle_seconds = args.idle_seconds
    return run


# Report -------------------------------------------------------------------------------------


def throughput_table(run: Run) -> list[str]:
    lines = [
        "| target | conns | direct req/s | direct p50 / p99 ms | gateway req/s "
        "| gateway p50 / p99 ms | gateway ÷ direct | gateway p99 ÷ p50 "
        "| CPU ms/req: service direct | service via gateway | gateway |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in run.rows:
        d, g = row["direct"], row["gateway"]
        lines.append(
            f"| {row['target']} | {row['connections']} | {d['rps']:,.0f} "
            f"| {d['p50']:.1f} / {d['p99']:.1f} | {g['rps']:,.0f} "
            f"| {g['p50']:.1f} / {g['p99']:.1f} | **{g['rps'] / d['rps']:.2f}** "
            f"| {g['p99'] / g['p50']:.1f} | {d['cpu_service_ms']:.2f} "
            f"| {g['cpu_service_ms']:.2f} | {g['cpu_gateway_ms']:.2f} |"
        )
    errors = sum(r[w]["errors"] + r[w]["non2xx"] for r in run.rows for w in ("direct", "gateway"))
    lines += ["", f"Non-2xx answers and socket errors over all of these runs: {errors:.0f}."]
    return lines


def contention_lines(run: Run) -> list[str]:
    c = run.contention
    answers = ", ".join(f"{n}x {k}" for k, n in sorted(c["answers"].items()))
    lat = c["latencies"]
    return [
        f"- answers: {answers}",
        f"- latency p50 {percentile(lat, 50):.2f} s, p99 {percentile(lat, 99):.2f} s, "
        f"max {max(lat):.2f} s; all answered within {c['elapsed']:.1f} s",
    ]


def idle_line(run: Run) -> str:
    total = sum(run.idle.values())
    busiest = ", ".join(
        f"{name} {pct:.2f}" for name, pct in sorted(run.idle.items(), key=lambda kv: -kv[1])
    )
    return (
        f"**{total:.2f} % of one core** over {run.idle_seconds:g} s for all "
        f"{len(run.idle)} processes ({busiest})"
    )


# What a profile of the gateway (py-spy, 50 connections on the JWKS through the gateway, this
# machine, 2026-11-30) shows its CPU goes to, after the changes of issue #9.
PROFILE_NOTES = (
    "Where the gateway's CPU goes now (py-spy, 50 connections on the JWKS route): aiohttp's "
    "client request and response handling about 29 %, uvicorn's HTTP parsing and writing about "
    "15 %, building the httpx Request and URL objects about 12 %, the access-log line about "
    "9 %, the request-context middleware's metrics and headers about 5 %, the rate-limit lease "
    "bookkeeping about 5 %, FastAPI's and Starlette's outer layers about 4 %. No single item "
    "is large any more; what is left is the price of two HTTP hops in Python per request."
)


def goal_lines(run: Run) -> list[str]:
    """The issue's goals against the run's figures: met, or by how much it falls short."""
    rows = {(r["target"], r["connections"]): r for r in run.rows}
    lines = ["| goal | measured | verdict |", "|---|---|---|"]
    for target in ("jwks", "search limit=1", "search, all"):
        row = rows.get((target, 50))
        if row is None:
            continue
        ratio = row["gateway"]["rps"] / row["direct"]["rps"]
        verdict = "met" if ratio >= 0.7 else f"short by {0.7 - ratio:.2f}"
        lines.append(
            f"| {target}: gateway ≥ 0.7 x direct at 50 connections | {ratio:.2f} | {verdict} |"
        )
        g, d = row["gateway"], row["direct"]
        tail = g["p99"] / g["p50"]
        verdict = "met" if tail <= 3 else f"{tail:.1f}x (direct: {d['p99'] / d['p50']:.1f}x)"
        lines.append(
            f"| {target}: gateway p99 ≤ 3 x p50 at 50 connections | {tail:.1f} | {verdict} |"
        )
    c = run.contention
    answers = c["answers"]
    others = {k: n for k, n in answers.items() if k not in ("201", "409", "503 with Retry-After")}
    p99 = percentile(c["latencies"], 99)
    fine = answers.get("201") == 1 and not others and p99 <= 5
    lines.append(
        f"| 1,000 on one seat: one 201, the rest 409 or 503 + Retry-After, p99 ≤ 5 s "
        f"| {answers.get('201', 0)}x 201, other answers {others or 'none'}, p99 {p99:.2f} s "
        f"| {'met' if fine else 'not met'} |"
    )
    idle = sum(run.idle.values())
    lines.append(
        f"| the stack at rest under 2 % of one core | {idle:.2f} % "
        f"| {'met' if idle < 2 else f'over by {idle - 2:.2f} %'} |"
    )
    return lines


def report(runs: list[Run], args: argparse.Namespace, load: float) -> str:
    lines = [
        "# Gateway benchmark",
        "",
        f"`make bench-gateway`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU "
        f"cores ({platform.machine()}), Python {platform.python_version()}, load average "
        f"{load:.1f} at the start. Every service and the gateway are separate uvicorn processes "
        "(one worker each, access log on, to a file per process) on the same machine as the "
        "load generator (wrk, 2 threads), Postgres and Redis. Rate limits raised out of the "
        f"way. {args.seconds:g} s per measurement.",
        "",
    ]
    for run in runs:
        lines += [
            f"## {run.label} (commit {run.commit})",
            "",
            "### Direct vs through the gateway",
            "",
            *throughput_table(run),
            "",
            f"### {len(run.contention['latencies'])} travellers, one seat, all at once "
            "(through the gateway)",
            "",
            *contention_lines(run),
            "",
            "### Idle",
            "",
            idle_line(run),
            "",
        ]
    lines += [
        f"## The goals of issue #9, against {runs[-1].label.lower()}",
        "",
        *goal_lines(runs[-1]),
        "",
        PROFILE_NOTES,
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="also measure this git ref first (before/after)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run")
    parser.add_argument("--travellers", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--report", default=str(REPORT))
    args = parser.parse_args()
    load = os.getloadavg()[0]
    runs = []
    if args.baseline:
        with Worktree(args.baseline) as tree:
            runs.append(measure(f"Before: {args.baseline}", tree, args))
    runs.append(measure("After: this checkout" if args.baseline else "This checkout", ROOT, args))
    text = report(runs, args, load)
    Path(args.report).write_text(text)
    print(text)
    print(f"written to {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
