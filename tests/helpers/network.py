"""Free local ports, for servers a test (or a benchmark) starts itself."""

import socket


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
