"""Forwarding one request to a service and streaming its answer back.

The header rules are plain functions over raw `(name, value)` byte pairs so they can be tested
without HTTP; `Proxy.forward` is the only part that does I/O. Bodies are streamed both ways:
the request body goes out as it arrives, the response goes back chunk by chunk, undecoded.
"""

import logging
from collections.abc import AsyncIterator, Iterable

import httpx
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import StreamingResponse

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
    {b"host", b"x-request-id", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
)
# The gateway's request-id middleware sets this on every response.
_REPLACED_ON_RESPONSE = frozenset({b"x-request-id"})


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
    out = strip_hop_by_hop(headers, also=_REPLACED_ON_REQUEST)
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


def new_upstream_client(
    *, transport: httpx.AsyncBaseTransport | None = None, max_connections: int = 200
) -> httpx.AsyncClient:
    """The one pooled client the gateway forwards with (no env proxies, no redirects)."""
    client = httpx.AsyncClient(
        transport=transport,
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=100),
    )
    # httpx adds its own Accept, Accept-Encoding and User-Agent to every request; a proxy must
    # send the client's (an unasked-for gzip body would reach a client that cannot read it).
    for name in ("accept", "accept-encoding", "user-agent"):
        del client.headers[name]
    return client


class Proxy:
    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        service_urls: dict[str, str],
        timeout: float,
        connect_timeout: float,
    ) -> None:
        self.client = client
        self.base_urls = {name: httpx.URL(url) for name, url in service_urls.items()}
        self.timeout = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))

    def upstream_url(self, service: str, raw_path: bytes, query_string: bytes) -> httpx.URL:
        """The service's base URL with the path and the full query string, unchanged."""
        base = self.base_urls[service]
        prefix = base.raw_path.split(b"?", 1)[0].rstrip(b"/")
        target = prefix + raw_path + (b"?" + query_string if query_string else b"")
        return base.copy_with(raw_path=target)

    async def forward(
        self, request: Request, *, service: str, request_id: str | None
    ) -> StreamingResponse:
        scope = request.scope
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        raw_headers: RawHeaders = list(scope["headers"])
        upstream = self.client.build_request(
            request.method,
            self.upstream_url(service, raw_path, scope.get("query_string", b"")),
            headers=upstream_request_headers(
                raw_headers,
                client_address=request.client.host if request.client else None,
                scheme=scope.get("scheme", "http"),
                request_id=request_id,
            ),
            content=request.stream() if has_body(raw_headers) else None,
            timeout=self.timeout,
        )
        try:
            response = await self.client.send(upstream, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            log.warning("%s unreachable: %s", service, type(exc).__name__)
            raise ServiceUnavailable(
                f"The {service} service is unavailable", service=service
            ) from None
        except httpx.TimeoutException as exc:
            log.warning("%s timed out: %s", service, type(exc).__name__)
            raise GatewayTimeout(
                f"The {service} service did not answer within {self.timeout.read:g} s",
                service=service,
            ) from None
        except ClientDisconnect:
            raise BadRequest("The client went away while sending the body") from None
        except httpx.HTTPError as exc:
            log.warning("%s failed: %s", service, type(exc).__name__)
            raise BadGateway(f"The {service} service answered badly", service=service) from None

        result = StreamingResponse(
            _relay(response, service),
            status_code=response.status_code,
            background=BackgroundTask(response.aclose),
        )
        result.raw_headers = downstream_response_headers(response.headers.raw)
        return result


async def _relay(response: httpx.Response, service: str) -> AsyncIterator[bytes]:
    """The response body as it arrives, undecoded; closed however the stream ends."""
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # Too late for an error status (the status line is out): the connection is cut short.
        log.warning("%s broke off its response: %s", service, type(exc).__name__)
        raise
    finally:
        await response.aclose()
