"""Forwarding one request to a service and streaming its answer back.

The header rules are plain functions over raw `(name, value)` byte pairs so they can be tested
without HTTP; `Proxy.forward` is the only part that does I/O. The request body has been read
whole before the request gets here (bounded in size and time by the kit, `shared.limits`), so
a slow client never holds an upstream connection: it goes out in one piece with its length.
The response goes back chunk by chunk, undecoded.

`Proxy.forward` speaks ASGI directly and hands an `httpx.Request` straight to the transport:
a proxy needs none of what `httpx.AsyncClient.send` adds (cookies, auth, redirects, default
headers), and at 50 concurrent connections that layer and httpcore's pool (which scans every
connection for every request, httpx issue #3215) were half of the gateway's CPU. The transport
is aiohttp's pooled client behind httpx's transport interface (`shared.http.AiohttpTransport`);
tests swap in an `httpx.MockTransport`.
"""

import asyncio
import itertools
import logging
from collections.abc import Iterable
from typing import cast

import httpx
from opentelemetry import trace
from starlette.types import Receive, Scope, Send

from api_gateway.config import replica_urls
from shared.errors import BadGateway, BadRequest, GatewayTimeout, ServiceUnavailable

log = logging.getLogger("api_gateway.proxy")

RawHeaders = list[tuple[bytes, bytes]]

# RFC 9110 §7.6.1 connection-specific headers, plus the old `Proxy-Connection`.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set by the gateway itself; a client's own values are replaced. X-Forwarded-For becomes the
# client address the server resolved (trusted proxies only, FORWARDED_ALLOW_IPS), so a client
# cannot claim another address to the services behind.
_REPLACED_ON_REQUEST = frozenset(
    {
        b"host",
        b"x-request-id",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        # The gateway holds the whole body already: a service has nothing to continue.
        b"expect",
    }
)
# W3C trace context and baggage: a client's are dropped on arrival (`without_trace_context`,
# `api_gateway.main.GatewayApp`); the gateway's traced upstream calls send their own.
TRACE_CONTEXT = frozenset({b"traceparent", b"tracestate", b"baggage"})
# Errors raised before any of the request was sent: another replica may be tried.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# RFC 9110 §9 and PATCH (RFC 5789): a span is named after any other method as `_OTHER` (the
# OpenTelemetry HTTP conventions), so a client cannot make up span names.
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
# The gateway's request-id middleware sets `x-request-id` on every response, and its server
# its own `date` and `server`: the service's would be sent twice.
_REPLACED_ON_RESPONSE = frozenset({b"x-request-id", b"date", b"server"})


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """Header names listed in `Connection` (they are hop-by-hop too)."""
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return named


def strip_hop_by_hop(
    headers: Iterable[tuple[bytes, bytes]], *, also: Iterable[bytes] = ()
) -> RawHeaders:
    """Drop connection-specific headers (and those `Connection` names, and `also`)."""
    headers = list(headers)
    drop = HOP_BY_HOP | _connection_tokens(headers) | {a.lower() for a in also}
    return [
        (name, value)
        for name, value in headers
        if (n := name.lower()) not in drop and not n.startswith(b"proxy-")
    ]


def without_trace_context(headers: Iterable[tuple[bytes, bytes]]) -> RawHeaders:
    """`headers` without `traceparent`, `tracestate` and `baggage`."""
    return [(name, value) for name, value in headers if name.lower() not in TRACE_CONTEXT]


def upstream_request_headers(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    client_address: str | None,
    scheme: str,
    request_id: str | None,
) -> RawHeaders:
    """The headers a service receives: the client's, minus hop-by-hop, plus forwarding info.

    `Authorization` is passed on unchanged: the service verifies the token again.
    """
    headers = list(headers)
    host = next((v for n, v in headers if n.lower() == b"host"), None)
    out = strip_hop_by_hop(headers, also=_REPLACED_ON_REQUEST | TRACE_CONTEXT)
    if client_address:
        out.append((b"x-forwarded-for", client_address.encode("latin-1")))
    out.append((b"x-forwarded-proto", scheme.encode("latin-1")))
    if host:
        out.append((b"x-forwarded-host", host))
    if request_id:
        out.append((b"x-request-id", request_id.encode("latin-1")))
    return out


def downstream_response_headers(headers: Iterable[tuple[bytes, bytes]]) -> RawHeaders:
    """The headers the client receives from a service's response."""
    return strip_hop_by_hop(headers, also=_REPLACED_ON_RESPONSE)


def has_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(n.lower() in (b"content-length", b"transfer-encoding") for n, _ in headers)


async def read_body(receive: Receive) -> bytes:
    """The request body (already in memory: `shared.limits` read it, whole and bounded)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client went away while sending the body")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class Proxy:
    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport,
        service_urls: dict[str, str],
        timeout: float,
        connect_timeout: float,
        traced: bool = False,
    ) -> None:
        self.transport = transport
        # The request's server span is named after the service it goes to (FastAPI names it
        # after its route, and a proxied request has none).
        self.traced = traced
        # A service's URL setting may list its replicas (`replica_urls`): taken in turn.
        self.base_urls = {
            name: [httpx.URL(u) for u in replica_urls(url)] for name, url in service_urls.items()
        }
        self._turns = {name: itertools.count() for name in self.base_urls}
        connect = min(connect_timeout, timeout)
        # Waiting for a free pooled connection counts as connecting: a full pool is a 503.
        self.timeout = httpx.Timeout(timeout, connect=connect, pool=connect).as_dict()

    def upstream_url(self, service: str, raw_path: bytes, query_string: bytes) -> httpx.URL:
        """The service's next base URL (its replicas in turn) with the path and the full
        query string, unchanged."""
        return self.upstream_urls(service, raw_path, query_string)[0]

    def upstream_urls(self, service: str, raw_path: bytes, query_string: bytes) -> list[httpx.URL]:
        """The URLs to try, in order: the service's next replica (`upstream_url`), then, when
        it has several, the one after it (failover when the first cannot be reached)."""
        bases = self.base_urls[service]
        turn = next(self._turns[service])
        tail = raw_path + (b"?" + query_string if query_string else b"")
        return [_join(bases[(turn + i) % len(bases)], tail) for i in range(min(2, len(bases)))]

    async def forward(
        self, scope: Scope, receive: Receive, send: Send, *, service: str, request_id: str | None
    ) -> None:
        """Send the request to `service` and relay its answer; raises a domain error when the
        service cannot be reached (nothing has been sent to the client then)."""
        raw_headers = scope["headers"]
        method = scope["method"]
        if self.traced:
            name = method if method in STANDARD_METHODS else "_OTHER"
            trace.get_current_span().update_name(f"{name} →{service}")
        urls = self.upstream_urls(service, scope["raw_path"] or b"", scope["query_string"])
        client = scope.get("client")
        headers = upstream_request_headers(
            raw_headers,
            client_address=client[0] if client else None,
            scheme=scope.get("scheme", "http"),
            request_id=request_id,
        )
        body = await read_body(receive) if has_body(raw_headers) else None
        response = await self._send(method, urls, headers, body, service)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": downstream_response_headers(response.headers.raw),
                }
            )
            if "content-length" in response.headers:
                await _relay(response, send, service)
            else:
                # An open-ended stream (server-sent events, say) may never end by itself: stop
                # relaying, and free the upstream connection, as soon as the client goes away.
                await _relay_until_disconnect(response, send, receive, service)
        finally:
            await response.aclose()

    async def _send(
        self,
        method: str,
        urls: list[httpx.URL],
        headers: RawHeaders,
        body: bytes | None,
        service: str,
    ) -> httpx.Response:
        try:
            return await self._send_with_failover(method, urls, headers, body, service)
        except _NOT_SENT as exc:
            log.warning("%s unreachable: %s", service, type(exc).__name__)
            raise ServiceUnavailable(
                f"The {service} service is unavailable", service=service
            ) from None
        except httpx.TimeoutException as exc:
            log.warning("%s timed out: %s", service, type(exc).__name__)
            raise GatewayTimeout(
                f"The {service} service did not answer within {self.timeout['read']:g} s",
                service=service,
            ) from None
        except (httpx.HTTPError, OSError) as exc:
            log.warning("%s failed: %s", service, type(exc).__name__)
            raise BadGateway(f"The {service} service answered badly", service=service) from None

    async def _send_with_failover(
        self,
        method: str,
        urls: list[httpx.URL],
        headers: RawHeaders,
        body: bytes | None,
        service: str,
    ) -> httpx.Response:
        """The first replica's answer; the next one's when the first could not be reached
        (nothing was sent to it, so trying again is safe whatever the method)."""
        *first, last = urls
        for url in first:
            try:
                return await self.transport.handle_async_request(
                    self._request(method, url, headers, body)
                )
            except _NOT_SENT as exc:
                log.warning(
                    "%s replica %s unreachable (%s): trying the next",
                    service,
                    url.netloc.decode("ascii", "replace"),
                    type(exc).__name__,
                )
        return await self.transport.handle_async_request(self._request(method, last, headers, body))

    def _request(
        self, method: str, url: httpx.URL, headers: RawHeaders, body: bytes | None
    ) -> httpx.Request:
        return httpx.Request(
            method,
            url,
            headers=[*headers, (b"host", url.netloc)],
            content=body,
            extensions={"timeout": self.timeout},
        )


def _join(base: httpx.URL, tail: bytes) -> httpx.URL:
    """`base` (its path a prefix, its query dropped) followed by `tail`, unchanged."""
    prefix = base.raw_path.split(b"?", 1)[0].rstrip(b"/")
    return base.copy_with(raw_path=prefix + tail)


async def _relay(response: httpx.Response, send: Send, service: str) -> None:
    """The response body as it arrives, undecoded."""
    # httpx types `stream` for both clients; an AsyncClient's response has the async one.
    stream = cast(httpx.AsyncByteStream, response.stream)
    try:
        async for chunk in stream:
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except (httpx.HTTPError, OSError) as exc:
        # Too late for an error status (the status line is out): the connection is cut short.
        log.warning("%s broke off its response: %s", service, type(exc).__name__)
        raise
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _relay_until_disconnect(
    response: httpx.Response, send: Send, receive: Receive, service: str
) -> None:
    relay = asyncio.ensure_future(_relay(response, send, service))
    watch = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((relay, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        relay.cancel()
        watch.cancel()
        await asyncio.gather(relay, watch, return_exceptions=True)
    if not relay.cancelled() and (error := relay.exception()) is not None:
        raise error


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
