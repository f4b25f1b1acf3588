"""What every benchmark needs: a whole stack on a scratch database, CPU readings, percentiles.

`JwksServer` is a throwaway signing key whose JWKS it serves over HTTP, for a service run on its
own (without the auth service); it mints the access tokens that service accepts.

`OwnStack` does what `make run` does (migrate, seed, every service and the gateway as
processes) on a scratch database and Redis prefix, with each process logging to its own file,
and removes it all afterwards. Given `root`, it runs another checkout of the code (a git
worktree of an older commit), so a benchmark can measure before and after in one run.
"""

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The bench scripts take these from here too (`from common import bearer, free_port`).
from tests.helpers import SUCCESS_CARD, access_claims, bearer  # noqa: E402
from tests.helpers import free_port as free_port  # noqa: E402

PASSWORD = "bench-password-1"  # noqa: S105 (throwaway bench accounts)
CARD = SUCCESS_CARD  # the mock gateway's success card


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def cpu_seconds(pids: dict[str, int], *, precise: bool = False) -> dict[str, float]:
    """CPU time (user + system) each process has used so far, in seconds (Linux /proc).

    By default from `/proc/<pid>/stat`: every thread's time, the exited ones' too, in 10 ms
    ticks (fine for a busy phase). `precise`: the scheduler's nanosecond counters of the live
    threads (`/proc/<pid>/task/*/schedstat`), for an idle process that uses a few ticks a
    minute (a thread that exits in between makes that reading too low).
    """
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, pid in pids.items():
        try:
            if precise:
                total = 0
                for task in Path(f"/proc/{pid}/task").iterdir():
                    with contextlib.suppress(OSError):
                        total += int((task / "schedstat").read_text().split()[0])
                used[name] = total / 1e9
            else:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                used[name] = (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            continue
    return used


class JwksServer:
    """A throwaway EdDSA key, its JWKS served at `url` (a thread), and tokens signed with it."""

    def __init__(self, kid: str | None = None) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.kid = kid or f"bench-{uuid.uuid4().hex[:8]}"
        jwk = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "EdDSA"}]})
        jwks = body.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(jwks)))
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    def token(self, user_id: int = 1, *, ttl: int = 3600) -> str:
        """A user's access token, as the auth service would sign it."""
        claims = access_claims(user_id, ttl=ttl)
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})

    def header(self, user_id: int = 1) -> dict[str, str]:
        return bearer(self.token(user_id))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in after if name in before}


def commit_of(root: Path = ROOT) -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    )
    return out.stdout.strip() or "?"


class Worktree:
    """A checkout of `ref` in a temporary directory (`git worktree`), removed on exit."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.path = Path(tempfile.mkdtemp(prefix="fb-baseline-")) / "tree"

    def __enter__(self) -> Path:
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(self.path), self.ref],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        return self.path

    def __exit__(self, *exc: object) -> None:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(self.path)], cwd=ROOT, check=False
        )


class OwnStack:
    """migrate + seed + every process, on a scratch database (like `make run`)."""

    def __init__(self, *, root: Path = ROOT, env: dict[str, str] | None = None) -> None:
        from sqlalchemy.engine import make_url

        run = uuid.uuid4().hex[:8]
        base = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/fb")
        self.root = root
        self.database_url = (
            make_url(base).set(database=f"fb_bench_{run}").render_as_string(hide_password=False)
        )
        self.tmp = Path(tempfile.mkdtemp(prefix=f"fb-bench-{run}-"))
        self.env = {
            **os.environ,
            "PYTHONPATH": str(root),
            "ENVIRONMENT": "development",
            "DATABASE_URL": self.database_url,
            "REDIS_PREFIX": f"fbbench:{run}:",
            "AUTH_SIGNING_KEY_FILE": str(self.tmp / "signing_key.pem"),
            "RATE_LIMIT_PER_USER": "1000000000",
            "RATE_LIMIT_PER_ADDRESS": "1000000000",
            # A benchmark signs up its travellers (1,000 in bench_gateway) from one address, and
            # each traveller holds a seat per journey, back to back, far above a person's pace.
            "SIGNUP_MAX_PER_ADDRESS": "1000000000",
            "HOLD_RATE_LIMIT": "1000000000",
            **(env or {}),
        }
        self.stack: Any = None

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "shared.manage", *args],
            cwd=self.root,
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

    @property
    def urls(self) -> dict[str, str]:
        """Process name -> base URL (the services and the gateway)."""
        return {**self.stack.service_urls, "gateway": self.stack.gateway.url}

    def start(self) -> str:
        from tests.e2e.stack import Stack

        print(f"migrating and seeding a scratch database ({self.root}) ...", flush=True)
        self.manage("check", "--wait", "20")
        self.manage("migrate")
        self.manage("seed")
        print("starting the services and the gateway ...", flush=True)
        self.stack = Stack(log_dir=self.tmp, base_env=self.env, root=self.root)
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
        with contextlib.suppress(subprocess.CalledProcessError):
            self.manage("dropdb")

    def __enter__(self) -> "OwnStack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# wrk: the load generator (C, so the load costs little of the two cores) ---------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(
    url: str, *, connections: int, seconds: float, headers: dict[str, str] | None = None
) -> dict[str, float]:
    """Run wrk against `url`: requests/s, p50/p90/p99 ms, requests, non-2xx and socket errors."""
    threads = max(1, min(2, connections))
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "non2xx": 0.0,
        "errors": 0.0,
    }
    for q in (50, 90, 99):
        result[f"p{q}"] = _ms(re.search(rf"\s{q}%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        result["non2xx"] = float(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        result["errors"] = float(sum(int(g) for g in m.groups()))
    return result


def wait_idle(seconds: float = 2.0) -> None:
    """Let the machine settle between phases (background work from the last one ends)."""
    time.sleep(seconds)
