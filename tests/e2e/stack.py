"""The whole system as real processes: every service and the gateway under uvicorn.

Each process gets a free port on 127.0.0.1, the test run's environment (database, Redis prefix,
signing key) plus every service URL, and its own log file. `Stack.start()` launches them all
at once and waits for each `/health`; a process that dies or stays unhealthy fails the run
with the tail of its log. Extra gateways (other limits, a service pointing at a closed port)
and stopping/starting one service are there for the tests that need them; so are a service's
own settings (`service_env`: a database of its own) and a second process of chosen services
(`replicas`), which the gateway sends requests to in turn.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from shared.services import GATEWAY, SERVICES, ServiceInfo
from tests.helpers import free_port, free_ports

ROOT = Path(__file__).resolve().parents[2]
# How long the processes may take to answer `/health`. Ten Pythons importing their service at
# once take ~10 s on two idle cores; the margin is for a busy, shared machine.
HEALTH_TIMEOUT = float(os.environ.get("FB_E2E_HEALTH_TIMEOUT", "60"))


# How a log line of the kit's (`shared.logging`) or a traceback starts when it reports an error.
_ERROR_LINES = ("ERROR", "CRITICAL", "Traceback")


class StackError(RuntimeError):
    pass


def closed_port_url() -> str:
    """A URL where nothing listens: connections to it are refused."""
    return f"http://127.0.0.1:{free_port()}"


_libc = None
if sys.platform == "linux":
    with contextlib.suppress(OSError):
        _libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: the child gets SIGTERM if the test run dies without tearing down.

    (Loaded up front: a forked child of a threaded parent must not import anything.)
    """
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Process:
    name: str
    package: str
    port: int
    log_path: Path
    env: dict[str, str]
    root: Path = ROOT  # the source tree it runs from (benchmarks run an older one beside)
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def http_protocol(self) -> list[str]:
        """As the Procfile runs it: the header limits of `shared.serve` (a tree older than it,
        measured by a benchmark, runs uvicorn's own)."""
        if (self.root / "shared" / "serve.py").exists():
            return ["--http", "shared.serve:HttpProtocol"]
        return []

    def start(self) -> None:
        if self.running:
            return
        self._log = self.log_path.open("ab")
        self._log.write(f"--- starting {self.name} on port {self.port}\n".encode())
        self._log.flush()
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                f"{self.package}.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "3",
                *self.http_protocol,
            ],
            cwd=self.root,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # The death signal follows the *thread* that forks: only from the main thread.
            preexec_fn=(
                _die_with_parent if threading.current_thread() is threading.main_thread() else None
            ),
        )

    def signal_stop(self) -> None:
        if self.running:
            assert self.popen is not None
            self.popen.terminate()

    def wait_stopped(self, timeout: float = 10.0) -> None:
        if self.popen is not None:
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        self.signal_stop()
        self.wait_stopped()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def wait_healthy(processes: list[Process], timeout: float = HEALTH_TIMEOUT) -> None:
    """Poll every process's `/health` until all answer 200; fail on the first that cannot."""
    pending = list(processes)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while pending:
            for proc in list(pending):
                if not proc.running:
                    code = proc.popen.returncode if proc.popen else None
                    raise StackError(
                        f"{proc.name} exited (code {code}) before it was healthy; "
                        f"last lines of {proc.log_path}:\n{proc.log_tail()}"
                    )
                try:
                    if client.get(f"{proc.url}/health").status_code == 200:
                        pending.remove(proc)
                except httpx.HTTPError:
                    pass
            if not pending:
                return
            if time.monotonic() > deadline:
                proc = pending[0]
                raise StackError(
                    f"{proc.name} was not healthy within {timeout:.0f} s; "
                    f"last lines of {proc.log_path}:\n{proc.log_tail()}"
                )
            time.sleep(0.1)


class Stack:
    """Every service plus the gateway, as processes; see the module docstring."""

    def __init__(
        self,
        *,
        log_dir: Path,
        base_env: Mapping[str, str],
        gateway_env: Mapping[str, str] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
        replicas: Iterable[str] = (),
        root: Path = ROOT,
    ) -> None:
        self.log_dir = log_dir
        self.base_env = dict(base_env)
        # A service's own settings (its own DATABASE_URL, say), for every process of it.
        self.service_env = {name: dict(env) for name, env in (service_env or {}).items()}
        self.root = root
        replicated = [info for info in SERVICES if info.name in set(replicas)]
        ports = iter(free_ports(len(SERVICES) + len(replicated) + 1))
        self.services: dict[str, Process] = {
            info.name: self._process(info, info.name, next(ports), self.own_env(info.name))
            for info in SERVICES
        }
        # A second process of each service named in `replicas`, started with the others; the
        # gateway is given both URLs and sends requests to each in turn (the services' own
        # calls go to the first).
        self.replicas: dict[str, Process] = {
            info.name: self._process(info, f"{info.name}-2", next(ports), self.own_env(info.name))
            for info in replicated
        }
        gateway_env = {**self.balanced_urls, **(gateway_env or {})}
        self.gateway = self._process(GATEWAY, GATEWAY.name, next(ports), gateway_env)
        self.extra: list[Process] = []

    # -- environment ----------------------------------------------------------------------

    @property
    def service_urls(self) -> dict[str, str]:
        """Service name -> base URL."""
        return {name: proc.url for name, proc in self.services.items()}

    def own_env(self, name: str) -> dict[str, str]:
        """Service `name`'s own settings (over the stack's)."""
        return dict(self.service_env.get(name, {}))

    def database_url(self, name: str) -> str:
        """The database service `name` uses."""
        return {**self.base_env, **self.own_env(name)}["DATABASE_URL"]

    @property
    def balanced_urls(self) -> dict[str, str]:
        """A gateway's URL setting of each replicated service: both processes, in turn."""
        return {
            info.url_env: f"{self.services[info.name].url},{self.replicas[info.name].url}"
            for info in SERVICES
            if info.name in self.replicas
        }

    @property
    def everything(self) -> list[Process]:
        """Every process of the stack (the extra ones last)."""
        return [*self.services.values(), *self.replicas.values(), self.gateway, *self.extra]

    @property
    def url_env(self) -> dict[str, str]:
        """`AUTH_SERVICE_URL`, `FLIGHT_SEARCH_URL`, ... and `JWKS_URL` for this stack."""
        env = {info.url_env: self.services[info.name].url for info in SERVICES}
        env["JWKS_URL"] = f"{self.services['auth'].url}/.well-known/jwks.json"
        env[GATEWAY.url_env] = self.gateway.url
        return env

    def _env(self, overrides: Mapping[str, str]) -> dict[str, str]:
        return {
            **self.base_env,
            "PYTHONUNBUFFERED": "1",
            **self.url_env,
            **overrides,
        }

    def _process(
        self, info: ServiceInfo, name: str, port: int, overrides: Mapping[str, str]
    ) -> Process:
        return Process(
            name=name,
            package=info.package,
            port=port,
            log_path=self.log_dir / f"{name}.log",
            # the URLs are filled in when it starts (every port is known by then)
            env=dict(overrides),
            root=self.root,
        )

    # -- lifecycle ------------------------------------------------------------------------

    def _launch(self, proc: Process) -> None:
        proc.env = self._env(proc.env)
        proc.start()

    def start(self) -> None:
        everything = self.everything
        for proc in everything:
            self._launch(proc)
        wait_healthy(everything)

    def start_gateway(self, name: str, **env: str) -> Process:
        """Another gateway over the same services, with `env` overriding (e.g. limits)."""
        proc = self._process(GATEWAY, name, free_port(), {**self.balanced_urls, **env})
        self.extra.append(proc)
        self._launch(proc)
        wait_healthy([proc])
        return proc

    def start_copy(self, name: str, **env: str) -> Process:
        """Another process of service `name` on the same data (a replica; with
        `WEB_CONCURRENCY`, several workers), with `env` overriding."""
        info = next(i for i in SERVICES if i.name == name)
        own = {**self.own_env(name), **env}
        proc = self._process(info, f"{name}-copy-{len(self.extra)}", free_port(), own)
        self.extra.append(proc)
        self._launch(proc)
        wait_healthy([proc])
        return proc

    def copy(self, name: str, **env: str) -> contextlib.AbstractContextManager[Process]:
        """`start_copy`, stopped again at the end of the block (its connections freed)."""
        return self._stopped_after(self.start_copy(name, **env))

    def side_gateway(self, name: str, **env: str) -> contextlib.AbstractContextManager[Process]:
        """`start_gateway`, stopped again at the end of the block."""
        return self._stopped_after(self.start_gateway(name, **env))

    @contextlib.contextmanager
    def _stopped_after(self, proc: Process) -> Iterator[Process]:
        try:
            yield proc
        finally:
            proc.stop()
            self.extra.remove(proc)

    def stop_service(self, name: str) -> None:
        self.services[name].stop()

    def start_service(self, name: str) -> None:
        """Start a stopped service again, on its port, and wait for it."""
        proc = self.services[name]
        proc.start()
        wait_healthy([proc])

    def stop(self) -> None:
        """Terminate everything (all at once), then kill what is left."""
        everything = self.everything
        for proc in everything:
            proc.signal_stop()
        for proc in everything:
            proc.wait_stopped()

    def logs(self) -> dict[str, Path]:
        return {p.name: p.log_path for p in self.everything}

    def errors(self) -> dict[str, list[str]]:
        """Process name -> the lines of its log that report an error (ERROR and above, or a
        traceback); empty when no process logged one."""
        found = {}
        for proc in self.everything:
            text = proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""
            bad = [line for line in text.splitlines() if line.startswith(_ERROR_LINES)]
            if bad:
                found[proc.name] = bad
        return found


def base_environment(**overrides: str) -> dict[str, str]:
    """The test run's environment (set by the root conftest) for child processes."""
    # Small pools: ten processes share one Postgres (max_connections is often 100) with the
    # in-process tests, for the whole run. Two connections kept per process, six more lent in
    # a burst and closed after: idle, the stack holds about 30 connections, not 50.
    pools = {"DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "6"}
    return {**os.environ, **pools, **overrides}
