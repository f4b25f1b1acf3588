"""`ServiceClient`: how one service calls another.

httpx with a timeout, the caller's request id passed on (and its trace context, when the app
traces), a service token on `/internal/` calls, and retries with exponential backoff and jitter
(tenacity) only where a retry is safe: idempotent methods, or a POST that carries an
`Idempotency-Key`. Upstream trouble becomes a domain error (503 unreachable, 504 timed out,
502 a 5xx answer) so callers never leak a 500.
"""

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import yarl
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from shared.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from shared.logging import request_id_var
from shared.service_identity import ServiceIdentity
from shared.tracing import traced_transport

IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}


# aiohttp's errors as httpx's, most specific first (the first match wins).
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientError, httpx.NetworkError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except aiohttp.ClientError as exc:
        kind = next(to for from_, to in _ERRORS if isinstance(exc, from_))
        raise kind(str(exc) or type(exc).__name__) from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self.response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self.response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface over aiohttp's connection pool.

    httpcore's pool scans every connection for every request (httpx issue #3215): under 50
    concurrent calls that scan was a quarter of the gateway's CPU. aiohttp's pool does not.
    The URL goes out exactly as given (a proxy must not re-quote `%2F`), no header is added
    (callers, and the gateway for its clients, send their own), bodies stream both ways
    undecoded, and aiohttp's errors become httpx's. One pool per host, so one slow service
    cannot take every connection; idle connections are dropped before the services' own
    keep-alive (uvicorn's 5 s), so a reused connection is never one the other side is closing.
    """

    def __init__(self, *, connections_per_host: int = 100, keepalive_seconds: float = 4.0) -> None:
        self.connections_per_host = connections_per_host
        self.keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use, inside the running event loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=0,
                    limit_per_host=self.connections_per_host,
                    keepalive_timeout=self.keepalive_seconds,
                ),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                auto_decompress=False,
                trust_env=False,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        if isinstance(request.stream, httpx.ByteStream):
            body: Any = request.content or None
        else:
            body = request.stream  # streamed as it is read (chunked unless sized)
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() != b"transfer-encoding"  # aiohttp frames the body itself
        ]
        with _as_httpx_errors():
            response = await self._client().request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _Retryable(Exception):
    def __init__(self, cause: Exception | httpx.Response) -> None:
        self.cause = cause


class ServiceClient:
    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        identity: ServiceIdentity,
        timeout: float = 5.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.identity = identity
        self.retries = retries
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout).as_dict()
        # Requests go straight to the transport: an internal call needs none of what
        # httpx.AsyncClient adds (cookie jar, auth flow, redirects, URL merging), and that
        # layer was a tenth of the CPU of a call.
        self.transport = transport or AiohttpTransport()

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        user_token: str | None = None,
    ) -> httpx.Response:
        """Send a request; returns any response below 500 for the caller to interpret."""
        hdrs = dict(headers or {})
        if rid := request_id_var.get():
            hdrs["X-Request-ID"] = rid
        # Internal paths carry this service's token bound to the callee; public ones the
        # user's own token, when the call is on the user's behalf.
        internal = "/internal/" in path or not user_token
        token = self.identity.token_for(self.name) if internal else user_token
        hdrs["Authorization"] = f"Bearer {token}"
        safe = method.upper() in IDEMPOTENT or any(k.lower() == "idempotency-key" for k in hdrs)
        attempts = self.retries if safe else 1
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts),
                # 50 ms, 100 ms, 200 ms... plus up to 50 ms of jitter (tenacity's default
                # jitter is a whole second), at most 1 s.
                wait=wait_exponential_jitter(multiplier=0.05, max=1.0, jitter=0.05),
                retry=retry_if_exception_type(_Retryable),
                reraise=True,
            ):
                with attempt:
                    return await self._send(method, path, json=json, params=params, headers=hdrs)
        except _Retryable as exc:
            raise self._as_domain_error(exc.cause) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        request = httpx.Request(
            method, self.base_url + path, **kw, extensions={"timeout": self.timeout}
        )
        try:
            response = await self.transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TransportError as exc:  # refused, reset, timed out, protocol error
            raise _Retryable(exc) from exc
        response.request = request
        if response.status_code in (502, 503, 504):
            raise _Retryable(response)
        if response.status_code >= 500:
            raise BadGateway(f"{self.name} service failed ({response.status_code})")
        return response

    def _as_domain_error(self, cause: Exception | httpx.Response) -> Exception:
        if isinstance(cause, httpx.Response):
            return BadGateway(f"{self.name} service answered {cause.status_code}")
        if isinstance(cause, httpx.TimeoutException) and not isinstance(
            cause, httpx.ConnectTimeout
        ):
            return GatewayTimeout(f"{self.name} service timed out")
        return ServiceUnavailable(f"{self.name} service is unavailable")

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, **kw)


def service_client(state: Any, name: str) -> ServiceClient:
    """A client of the service `name` (as in `shared.services`), configured from the app's settings.

    Tests route it in-process by setting `app.state.transports = {name: transport}` before the
    app starts. When the app traces, each call is a client span and carries `traceparent`.
    """
    settings = state.settings
    transports = getattr(state, "transports", None) or {}
    return ServiceClient(
        name=name,
        base_url=settings.service_urls[name],
        identity=state.service_identity,
        timeout=settings.http_timeout_seconds,
        retries=settings.http_retries,
        transport=traced_transport(state, transports.get(name) or AiohttpTransport()),
    )


class ServiceClients:
    """The base of a service's `Clients` (`app.state.clients`): a subclass makes each client
    over `self.connect(name)`, and `aclose` closes every connection pool they opened.

        class Clients(ServiceClients):
            def __init__(self, state: Any) -> None:
                super().__init__(state)
                self.bookings = BookingClient(self.connect("booking"))
    """

    def __init__(self, state: Any) -> None:
        self._state = state
        self._opened: list[ServiceClient] = []

    def connect(self, name: str) -> ServiceClient:
        """A client of the service `name` (`service_client`), closed with the others."""
        http = service_client(self._state, name)
        self._opened.append(http)
        return http

    async def aclose(self) -> None:
        for http in self._opened:
            await http.aclose()
