"""Postgres and Redis for a machine that has neither: `make run` and `make test` need nothing
installed but Python.

`ensure()` settles DATABASE_URL and REDIS_URL. One set in the environment (or in `.env`, to
anything but the default) is kept as it is, reachable or not: unreachable, it stays the error
`check` reports. Otherwise the default is kept when something listens there, and an embedded
server is used when nothing does (EMBEDDED_STORES=always: even when something does; never:
never): Postgres in var/pg, Redis in var/redis (`shared.embedded`), on free loopback ports. The
URLs chosen go to var/local.env, which the run's later commands read (`apply_local_env`). A
server already running there is reused; `stop()` stops those one `ensure()` started, unless
another live process still uses them, and `stop_all()` (`make stop-stores`) every one.

Each process that uses embedded stores holds a lease, var/stores.leases/<pid> (written under the
lock `ensure()` takes, naming the URL variables it uses): a `make test` does not stop the stores a
`make run` has reused since, nor the other way round. The URLs carry the stores' generated
passwords: var/local.env is mode 0600.
"""

import fcntl
import os
import socket
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import psutil
from dotenv import dotenv_values
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.embedded import EmbeddedPostgres, EmbeddedRedis, listening
from shared.migrations import DEFAULT_URL

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DEFAULTS = {"DATABASE_URL": DEFAULT_URL, "REDIS_URL": "redis://localhost:6379/0"}
DEFAULT_PORTS = {"DATABASE_URL": 5432, "REDIS_URL": 6379}

Server = EmbeddedPostgres | EmbeddedRedis


class LocalStoresSettings(BaseSettings):
    """When the local run and the tests use embedded stores (read by `ensure`, not by services)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # auto: where nothing listens at the default URL; always: even where something does (CI
    # proves the bare-laptop path with it); never: the default URL, reachable or not.
    embedded_stores: Literal["auto", "always", "never"] = "auto"


@dataclass
class Stores:
    """What `ensure()` settled: every URL, and which embedded servers it started itself."""

    urls: dict[str, str]
    embedded: dict[str, str] = field(default_factory=dict)
    started: list[Server] = field(default_factory=list)
    line: str = ""  # the one line that says so, when any is embedded


def servers(var: Path = VAR) -> dict[str, Server]:
    """The embedded server for each URL variable."""
    return {"DATABASE_URL": EmbeddedPostgres(var / "pg"), "REDIS_URL": EmbeddedRedis(var / "redis")}


def host_port(variable: str, url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or DEFAULT_PORTS[variable]


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def read_local_env(var: Path = VAR) -> dict[str, str]:
    path = var / "local.env"
    if not path.exists():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def apply_local_env(environ: MutableMapping[str, str] = os.environ, var: Path = VAR) -> None:
    """The URLs of the embedded stores in use, where the environment sets none."""
    for name, value in read_local_env(var).items():
        environ.setdefault(name, value)


def _write_local_env(var: Path, urls: Mapping[str, str]) -> None:
    path = var / "local.env"
    if not urls:
        path.unlink(missing_ok=True)
        return
    lines = ["# Embedded stores in use (shared.localstores); rewritten by every `make check`."]
    text = "\n".join([*lines, *(f"{k}={v}" for k, v in urls.items())]) + "\n"
    _write_private(path, text)


def _write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with a file of mode 0600 (it holds passwords)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _leases(var: Path) -> Path:
    return var / "stores.leases"


def _started_at(pid: int) -> str | None:
    """When process `pid` started (a lease names it with its pid: pids are reused)."""
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return None


def _take_lease(var: Path, variables: list[str]) -> None:
    """This process uses the embedded stores of `variables` (none: it holds no lease)."""
    path = _leases(var) / str(os.getpid())
    if not variables:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(mode=0o700, exist_ok=True)
    _write_private(path, " ".join([_started_at(os.getpid()) or "", *variables]) + "\n")


def _other_users(var: Path) -> set[str]:
    """The URL variables whose embedded stores another live process holds a lease on (the
    leases of dead processes go)."""
    used: set[str] = set()
    folder = _leases(var)
    for lease in folder.iterdir() if folder.is_dir() else []:
        try:
            pid = int(lease.name)
            started, *variables = lease.read_text().split()
        except (OSError, ValueError):
            lease.unlink(missing_ok=True)
            continue
        if pid == os.getpid():
            continue
        if _started_at(pid) != started:  # gone, or its pid now names another process
            lease.unlink(missing_ok=True)
            continue
        used.update(variables)
    return used


@contextmanager
def _locked(var: Path) -> Iterator[None]:
    """One `ensure()` at a time (a `make run` and a `make test` started together)."""
    with (var / ".stores.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _explicit(variable: str, environ: Mapping[str, str], dotenv: Mapping[str, str | None]) -> bool:
    if variable in environ:
        return True
    # A `.env` copied from .env.example sets the defaults: that changes nothing.
    return dotenv.get(variable) not in (None, DEFAULTS[variable])


def _embedded_url(variable: str, server: Server, previous: str | None) -> tuple[str, bool]:
    """(URL, started now): the server running in its directory, else started, on the port it
    had before (var/local.env) when that is free."""
    running = server.running_url()
    if running is not None:
        return running, False
    server.stop()  # one that runs but does not answer
    port = host_port(variable, previous)[1] if previous else None
    if port is None or listening("127.0.0.1", port):
        port = free_port()
    return server.start(port), True


def ensure(
    environ: Mapping[str, str] = os.environ,
    var: Path = VAR,
    *,
    afterwards: str = "",
    say: bool = True,
) -> Stores:
    """Settle both URLs (see the module docstring); when any is embedded, one line says so
    (printed unless `say` is false: pytest shows it in its header)."""
    mode = LocalStoresSettings().embedded_stores
    dotenv = dotenv_values(".env")
    var.mkdir(parents=True, exist_ok=True)
    stores = Stores(urls={})
    with _locked(var):
        previous = read_local_env(var)
        for variable, server in servers(var).items():
            default = DEFAULTS[variable]
            if _explicit(variable, environ, dotenv):
                stores.urls[variable] = environ.get(variable) or dotenv.get(variable) or default
            elif mode == "never" or (mode == "auto" and listening(*host_port(variable, default))):
                stores.urls[variable] = default
            else:
                url, started = _embedded_url(variable, server, previous.get(variable))
                stores.urls[variable] = stores.embedded[variable] = url
                stores.started += [server] if started else []
        _write_local_env(var, stores.embedded)
        _take_lease(var, list(stores.embedded))
    if stores.embedded:
        stores.line = announcement(stores, var, mode, afterwards)
        if say:
            print(stores.line, flush=True)
    return stores


def announcement(stores: Stores, var: Path, mode: str, afterwards: str = "") -> str:
    """The one line that says embedded stores are in use, where, and why."""
    why = (
        "EMBEDDED_STORES=always"
        if mode == "always"
        else "nothing listens at "
        + " or ".join("{}:{}".format(*host_port(v, DEFAULTS[v])) for v in stores.embedded)
    )
    table = servers(var)
    parts = []
    for variable, url in stores.embedded.items():
        server = table[variable]
        state = "started" if server in stores.started else "running"
        host, port = host_port(variable, url)
        parts.append(f"{server.name} on {host}:{port} ({state}, data in {_shown(server)})")
    line = f"{why}: embedded {' and '.join(parts)}"
    return f"{line}; {afterwards}" if afterwards else line


def _shown(server: Server) -> Path:
    try:
        return server.directory.relative_to(ROOT)
    except ValueError:
        return server.directory


def stop(started: list[Server], var: Path | None = None) -> None:
    """Give up this process's lease, and stop the servers one `ensure()` started that no other
    live process holds a lease on (their data stays). `var`: where they are, by default the
    parent of their directories (with none started and no `var`, the lease lapses when this
    process ends)."""
    var = var or (started[0].directory.parent if started else None)
    if var is None or not var.is_dir():
        return
    table = servers(var)
    with _locked(var):
        (_leases(var) / str(os.getpid())).unlink(missing_ok=True)
        used = _other_users(var)
        for server in started:
            if not any(table[v] == server for v in used):
                server.stop()


def stop_all(var: Path = VAR) -> list[str]:
    """Stop every embedded server running under `var`; the names of those stopped."""
    stopped = []
    for server in servers(var).values():
        if server.pid() is not None:
            server.stop()
            stopped.append(server.name)
    return stopped
