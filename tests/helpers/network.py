"""Free local ports, and real servers a test (or a benchmark) starts itself."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_ports(n: int) -> list[int]:
    """`n` distinct ports nothing listens on (all held open together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    return free_ports(1)[0]


@contextmanager
def uvicorn_in_thread(app: Any, **config: Any) -> Iterator[tuple[str, int]]:
    """`app` served by uvicorn on a real socket of 127.0.0.1, in a thread: its (host, port)
    while the block runs. `config` goes to `uvicorn.Config` (e.g. `http=` a protocol class)."""
    import uvicorn  # only the tests that serve need it

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    settings = {"lifespan": "off", "log_config": None, "timeout_graceful_shutdown": 1} | config
    server = uvicorn.Server(uvicorn.Config(app, **settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
