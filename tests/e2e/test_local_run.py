"""`make run` heals itself: supervisord over the Procfile, configured and started as
`python -m shared.manage run` does it (`shared.localrun`), brings back a service killed with
SIGKILL within seconds and never touches the others; stopping supervisord (Ctrl-C) stops every
process it started.

The stack gets free ports (the Procfile's port variables), a database and Redis prefix of its
own, and the run's keys and admin password (the test environment).
"""

import configparser
import os
import re
import signal
import subprocess
import time
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy.engine import make_url
from supervisor.xmlrpc import SupervisorTransport

from shared import localrun
from shared.services import GATEWAY, SERVICES
from tests.conftest import BASE_DATABASE_URL, REDIS_PREFIX, ROOT, RUN_ID, TMP, run_manage
from tests.e2e.stack import HEALTH_TIMEOUT, _die_with_parent, base_environment
from tests.helpers import free_ports

pytestmark = pytest.mark.e2e

# The acceptance: a killed service answers again within this many seconds.
BACK_WITHIN = 10.0


def procfile_ports() -> dict[str, tuple[str, str]]:
    """Procfile process -> (its port variable, its package)."""
    found = {}
    for name, command in localrun.procfile().items():
        port = re.search(r"--port \$\{(\w+):-\d+\}", command)
        package = re.search(r"\b(\w+)\.main:app\b", command)
        assert port and package, command
        found[name] = (port[1], package[1])
    return found


def stack_environment(ports: dict[str, int], own: dict[str, str]) -> dict[str, str]:
    """The test run's environment, with this stack's ports, URLs, database and prefix."""
    by_package = {info.package: info for info in (*SERVICES, GATEWAY)}
    env = base_environment(LOG_LEVEL="INFO", SERVICE_HOST="127.0.0.1", GATEWAY_HOST="127.0.0.1")
    for name, (variable, package) in procfile_ports().items():
        env[variable] = str(ports[name])
        env[by_package[package].url_env] = f"http://127.0.0.1:{ports[name]}"
    env["JWKS_URL"] = f"{env['AUTH_SERVICE_URL']}/.well-known/jwks.json"
    return localrun.process_env({**env, **own})


@dataclass
class Supervised:
    """supervisord running the Procfile, and how to reach it."""

    process: subprocess.Popen[bytes]
    config: Path
    output: Path
    ports: dict[str, int]

    def rpc(self) -> Any:
        parser = configparser.RawConfigParser()
        parser.read(self.config)
        section = parser["supervisorctl"]
        transport = SupervisorTransport(
            section["username"], section["password"], section["serverurl"]
        )
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def processes(self) -> dict[str, dict[str, Any]]:
        """Name -> supervisord's process info (pid, statename), the listener included."""
        return {p["name"]: p for p in self.rpc().supervisor.getAllProcessInfo()}

    def healthy(self, name: str) -> bool:
        try:
            url = f"http://127.0.0.1:{self.ports[name]}/health"
            return httpx.get(url, timeout=1.0, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False


def wait_for(check: Any, within: float, what: str) -> float:
    """Poll `check()` until true; the seconds it took (fails after `within`)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, f"{what}: not within {within:g} s"
        time.sleep(0.1)
    return time.monotonic() - start


def alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def stop_everything(process: subprocess.Popen[bytes]) -> None:
    """After a failure: supervisord and whatever it still runs, gone."""
    if process.poll() is not None:
        return
    children = psutil.Process(process.pid).children(recursive=True)
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        for child in [*children, psutil.Process(process.pid)]:
            child.kill()
        process.wait(timeout=5)


@pytest.fixture
def supervised() -> Iterator[Supervised]:
    """The Procfile under supervisord, every process healthy and RUNNING; its own database."""
    database = make_url(BASE_DATABASE_URL).set(database=f"fb_test_{RUN_ID}_supervised")
    own = {
        "DATABASE_URL": database.render_as_string(hide_password=False),
        "REDIS_PREFIX": f"{REDIS_PREFIX}supervised:",
    }
    run_manage("check", "--wait", "20", env=own)
    run_manage("migrate", env=own)
    names = list(localrun.procfile())
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    run_dir = TMP / "supervised"
    config = localrun.write_config(run_dir)
    output = run_dir / "supervisord.out"
    # Appending: the listener's lines reach the same file through supervisord's /dev/stdout.
    with output.open("ab") as log:
        process = subprocess.Popen(
            localrun.supervisord_argv(config),
            cwd=ROOT,
            env=stack_environment(ports, own),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    stack = Supervised(process, config, output, ports)
    try:
        wait_for(lambda: all(stack.healthy(n) for n in names), HEALTH_TIMEOUT, "healthy")
        running = lambda: all(p["statename"] == "RUNNING" for p in stack.processes().values())  # noqa: E731
        wait_for(running, 30, "all RUNNING")
        yield stack
    finally:
        stop_everything(process)
        run_manage("dropdb", env=own)


def test_a_killed_service_is_back_within_seconds_and_the_others_never_stop(
    supervised: Supervised,
) -> None:
    before = supervised.processes()
    killed = before["booking"]["pid"]
    os.kill(killed, signal.SIGKILL)
    took = wait_for(lambda: not alive(killed), 5, "booking died")
    took += wait_for(lambda: supervised.healthy("booking"), BACK_WITHIN, "booking back")
    assert took < BACK_WITHIN

    after = supervised.processes()
    assert after["booking"]["pid"] not in (0, killed)
    unchanged = {n: p["pid"] for n, p in before.items() if n != "booking"}
    assert {n: after[n]["pid"] for n in unchanged} == unchanged
    assert all(after[n]["statename"] == "RUNNING" for n in unchanged)
    assert all(supervised.healthy(n) for n in supervised.ports)
    said = lambda: f"booking (pid {killed}) exited unexpectedly" in supervised.output.read_text()  # noqa: E731
    wait_for(said, 5, "the restart line")

    # Ctrl-C: supervisord stops every process it started, then itself.
    pids = [p["pid"] for p in supervised.processes().values()]
    supervised.process.send_signal(signal.SIGINT)
    assert supervised.process.wait(timeout=localrun.STOPWAITSECS + 20) == 0
    assert [pid for pid in pids if alive(pid)] == []
