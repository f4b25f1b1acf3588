"""The HTTP server's own limits on request headers: how long they may take and how big they
may be. Run every process with it: `uvicorn <package>.main:app --http shared.serve:HttpProtocol`.

uvicorn has no header-read timeout: a client that sends one header byte every few seconds (or
opens a connection and sends nothing) holds its connection for as long as it likes, and with
httptools there is no bound on the size of the headers either. `HttpProtocol` is uvicorn's
httptools protocol plus both limits, enforced before the app sees the request:

- the headers of a request must be complete within `HEADER_READ_TIMEOUT_SECONDS` of its first
  byte (of the connection opening, for its first request), else `408` and the connection is
  closed; a new connection that sends nothing in that time is closed silently;
- they may be at most `MAX_HEADER_BYTES` (request line included), else `431`, closed.

The idle time between two requests stays uvicorn's `--timeout-keep-alive`. Request *bodies*
are bounded by the app (`shared.limits`).
"""

import asyncio
import json
from functools import cache
from typing import Any

from prometheus_client import Counter
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from shared.app import new_request_id, response_headers
from shared.errors import PROBLEM_JSON, problem_body
from shared.settings import BaseServiceSettings

CUT = Counter(
    "http_connections_cut_total",
    "Connections closed by the server for slow or oversized request headers",
    ["reason"],
)


@cache
def _limits() -> tuple[float, int]:
    settings = BaseServiceSettings()
    return settings.header_read_timeout_seconds, settings.max_header_bytes


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header-read deadline and a header-size limit."""

    # None: from the settings (subclasses may fix them, e.g. in tests).
    header_timeout: float | None = None
    max_header_bytes: int | None = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        timeout, max_bytes = _limits()
        self._header_timeout: float = self.header_timeout or timeout
        self._max_header_bytes: int = self.max_header_bytes or max_bytes
        self._header_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = False  # a request has begun and its headers are incomplete
        self._header_bytes = 0
        self._completed_in_feed = False
        self._refused = False

    # -- connection --------------------------------------------------------------------------

    # uvicorn narrows asyncio.Protocol's BaseTransport to Transport (and ignores this itself).
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # the first request's headers are due from now on

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the answer is out and the connection closing: read nothing more
        self._completed_in_feed = False
        super().data_received(data)
        if not self._awaiting_headers or self._refused or self.transport.is_closing():
            return  # (closing: uvicorn answered a malformed request itself)
        # Still inside a request's headers: the chunk was all header bytes, unless an earlier
        # (pipelined) request ended in it; such a chunk is not counted (at most one more).
        if not self._completed_in_feed:
            self._header_bytes += len(data)
        if self._header_bytes > self._max_header_bytes:
            CUT.labels("header_too_large").inc()
            self._refuse(
                431,
                "HEADERS_TOO_LARGE",
                "Request headers too large",
                f"The request headers are larger than {self._max_header_bytes} bytes",
            )

    # -- parser callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._header_bytes = 0
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._completed_in_feed = True
        super().on_message_complete()

    # -- the deadline ------------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self._header_timeout, self._headers_overdue)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self._refused:
            return
        if self._awaiting_headers:
            CUT.labels("header_timeout").inc()
            self._refuse(
                408,
                "REQUEST_TIMEOUT",
                "Request not received in time",
                f"The request headers were not received within {self._header_timeout:g} s",
            )
        elif self.cycle is None:
            CUT.labels("idle_new_connection").inc()
            self._refused = True
            self.transport.close()  # opened and never used: nothing to answer

    def _refuse(self, status: int, code: str, title: str, detail: str) -> None:
        """Answer `status` (problem+json) and close; read nothing more from this client."""
        self._refused = True
        self._awaiting_headers = False
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier request's answer is still going out: close once it is complete.
            self.cycle.keep_alive = False
            return
        self.transport.write(self._problem(status, code, title, detail))
        self.transport.close()

    def _problem(self, status: int, code: str, title: str, detail: str) -> bytes:
        request_id = new_request_id()
        body = json.dumps(
            problem_body(
                status=status,
                code=code,
                title=title,
                detail=detail,
                instance="",
                request_id=request_id,
            ),
            separators=(",", ":"),
        ).encode()
        # The request id and the kit's defaults (nosniff, no-store), as on every answer.
        headers = response_headers(
            [
                *self.server_state.default_headers,
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
            request_id,
        )
        lines = [STATUS_LINE[status], *(name + b": " + value + b"\r\n" for name, value in headers)]
        return b"".join([*lines, b"\r\n", body])
