"""shared.serve.HttpProtocol: request headers bounded in time and size, on real sockets.

uvicorn (httptools) is run in a thread with the protocol and small limits; the clients are raw
sockets, so "slow" really is bytes trickling over a connection.
"""

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.serve import HttpProtocol
from tests.helpers import uvicorn_in_thread

HEADER_TIMEOUT = 0.6
MAX_HEADER_BYTES = 2048


class SmallLimits(HttpProtocol):
    header_timeout = HEADER_TIMEOUT
    max_header_bytes = MAX_HEADER_BYTES


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body and answers its length."""
    assert scope["type"] == "http"
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = json.dumps({"path": scope["path"], "size": size}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    with uvicorn_in_thread(
        app, http=SmallLimits, log_level="critical", timeout_keep_alive=5
    ) as address:
        yield address


_pending: dict[int, bytes] = {}  # bytes read past a response, per connection


def connect(address: tuple[str, int]) -> socket.socket:
    conn = socket.create_connection(address, timeout=5)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _pending.pop(conn.fileno(), None)
    return conn


def read_until_closed(conn: socket.socket, timeout: float = 5.0) -> bytes:
    conn.settimeout(timeout)
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def read_response(conn: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length body (the connection stays open)."""
    data = _pending.pop(conn.fileno(), b"")
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"closed early: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    status, headers = parse_head(head)
    length = int(headers["content-length"])
    while len(rest) < length:
        rest += conn.recv(65536)
    _pending[conn.fileno()] = rest[length:]
    return status, headers, rest[:length]


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def problem(data: bytes, status: int, code: str) -> dict[str, Any]:
    head, body = data.split(b"\r\n\r\n", 1)
    got, headers = parse_head(head)
    assert got == status, data
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert headers["x-content-type-options"] == "nosniff"
    doc = json.loads(body)
    assert (doc["status"], doc["code"]) == (status, code)
    assert doc["requestId"] == headers["x-request-id"]
    return doc


def test_slow_headers_are_cut_off_with_408(server: tuple[str, int]) -> None:
    conn = connect(server)
    started = time.monotonic()
    conn.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
    with pytest.raises(OSError):  # the server closes on us mid-trickle
        for i in range(50):
            conn.sendall(f"X-Trickle-{i}: 1\r\n".encode())
            time.sleep(0.1)
    data = read_until_closed(conn)
    elapsed = time.monotonic() - started
    problem(data, 408, "REQUEST_TIMEOUT")
    assert HEADER_TIMEOUT * 0.9 <= elapsed < HEADER_TIMEOUT + 1.5, elapsed


def test_a_connection_that_sends_nothing_is_closed(server: tuple[str, int]) -> None:
    conn = connect(server)
    started = time.monotonic()
    assert read_until_closed(conn) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT + 1.5


def test_oversized_headers_are_431_and_closed(server: tuple[str, int]) -> None:
    # Headers that go on past the limit (and would go on), in lines or in one endless line.
    lines = b"".join(b"X-Big-%d: %s\r\n" % (i, b"a" * 100) for i in range(30))
    endless = b"X-Endless: " + b"b" * (MAX_HEADER_BYTES + 100)
    for sent in (lines, endless):
        conn = connect(server)
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + sent)
        problem(read_until_closed(conn), 431, "HEADERS_TOO_LARGE")


def test_normal_requests_keep_alive_pipelined_and_with_big_bodies(
    server: tuple[str, int],
) -> None:
    conn = connect(server)
    for i in range(3):  # one keep-alive connection, a pause longer than the header deadline
        conn.sendall(f"GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, _, body = read_response(conn)
        assert (status, json.loads(body)["path"]) == (200, f"/r{i}")
        time.sleep(HEADER_TIMEOUT * 1.2)
    # Two requests in one packet (pipelined), the first with a body.
    conn.sendall(
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert json.loads(read_response(conn)[2]) == {"path": "/a", "size": 3}
    assert json.loads(read_response(conn)[2]) == {"path": "/b", "size": 0}
    # Headers and a body far larger than the header limit in one write: only headers count.
    big = b"x" * (MAX_HEADER_BYTES * 50)
    conn.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
    assert json.loads(read_response(conn)[2]) == {"path": "/big", "size": len(big)}
    conn.close()


def test_a_slow_body_is_not_a_header_timeout(server: tuple[str, int]) -> None:
    """Once the headers are in, the deadline is the app's (shared.limits) to enforce."""
    conn = connect(server)
    conn.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
    for byte in b"abcd":
        time.sleep(HEADER_TIMEOUT / 2)
        conn.sendall(bytes([byte]))
    status, _, body = read_response(conn)
    assert (status, json.loads(body)["size"]) == (200, 4)
    conn.close()


def test_limits_default_to_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared import serve

    serve._limits.cache_clear()
    monkeypatch.setenv("HEADER_READ_TIMEOUT_SECONDS", "7.5")
    monkeypatch.setenv("MAX_HEADER_BYTES", "12345")
    try:
        assert serve._limits() == (7.5, 12345)
    finally:
        serve._limits.cache_clear()
