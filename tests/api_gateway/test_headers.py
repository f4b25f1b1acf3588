"""Header rules of the proxy, without HTTP."""

import httpx

from api_gateway.proxy import (
    Proxy,
    downstream_response_headers,
    has_body,
    strip_hop_by_hop,
    upstream_request_headers,
    without_trace_context,
)


def names(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    return [n.lower() for n, _ in headers]


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    headers = [
        (b"Connection", b"close, X-Secret ,x-other"),
        (b"Keep-Alive", b"timeout=5"),
        (b"Proxy-Authorization", b"Basic abc"),
        (b"Proxy-Connection", b"keep-alive"),
        (b"Proxy-Authenticate", b"Basic"),
        (b"TE", b"trailers"),
        (b"Trailer", b"Expires"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Upgrade", b"websocket"),
        (b"X-Secret", b"1"),
        (b"X-Other", b"2"),
        (b"Accept", b"application/json"),
        (b"Authorization", b"Bearer t"),
    ]
    assert strip_hop_by_hop(headers) == [
        (b"Accept", b"application/json"),
        (b"Authorization", b"Bearer t"),
    ]


def test_upstream_request_headers() -> None:
    incoming = [
        (b"host", b"api.example.com"),
        (b"authorization", b"Bearer abc"),
        (b"x-forwarded-for", b"203.0.113.9"),
        (b"x-forwarded-for", b"198.51.100.2"),
        (b"x-forwarded-proto", b"gopher"),
        (b"x-forwarded-host", b"evil.example"),
        (b"x-request-id", b"from-client"),
        (b"connection", b"keep-alive"),
        (b"content-type", b"application/json"),
        (b"content-length", b"2"),
    ]
    out = dict(
        upstream_request_headers(
            incoming, client_address="192.0.2.1", scheme="https", request_id="rid-1"
        )
    )
    assert b"host" not in out and b"connection" not in out
    assert out[b"authorization"] == b"Bearer abc"  # the service verifies it again
    # The client's own X-Forwarded-For is replaced, never trusted or appended to.
    assert out[b"x-forwarded-for"] == b"192.0.2.1"
    assert out[b"x-forwarded-proto"] == b"https"
    assert out[b"x-forwarded-host"] == b"api.example.com"
    assert out[b"x-request-id"] == b"rid-1"
    assert out[b"content-length"] == b"2"


def test_upstream_request_headers_without_client_or_host() -> None:
    out = upstream_request_headers([], client_address=None, scheme="http", request_id=None)
    assert out == [(b"x-forwarded-proto", b"http")]


def test_response_headers_keep_repeated_ones_and_drop_hop_by_hop() -> None:
    upstream = [
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"connection", b"keep-alive, x-hop"),
        (b"x-hop", b"1"),
        (b"transfer-encoding", b"chunked"),
        (b"x-request-id", b"upstream-id"),
        (b"retry-after", b"3"),
    ]
    assert downstream_response_headers(upstream) == [
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"retry-after", b"3"),
    ]


def test_has_body() -> None:
    assert has_body([(b"Content-Length", b"3")])
    assert has_body([(b"transfer-encoding", b"chunked")])
    assert not has_body([(b"accept", b"*/*")])


def test_upstream_url_keeps_path_and_query_unchanged() -> None:
    proxy = Proxy(
        transport=httpx.MockTransport(lambda request: httpx.Response(200)),
        service_urls={"flight-search": "http://search:4000", "auth": "http://h:3000/base/"},
        timeout=10,
        connect_timeout=3,
    )
    query = b"source=DEL&destination=BOM&date=2030-01-01&x=a%20b+c&flag&empty=&amp=%26&q=%2F"
    url = proxy.upstream_url("flight-search", b"/api/flights/search", query)
    assert url.raw_path == b"/api/flights/search?" + query
    assert (url.host, url.port) == ("search", 4000)
    assert proxy.upstream_url("auth", b"/api/a%2Fb", b"").raw_path == b"/base/api/a%2Fb"


def test_a_clients_trace_context_is_never_forwarded() -> None:
    headers = [
        (b"Traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        (b"tracestate", b"vendor=x"),
        (b"baggage", b"user=mallory"),
        (b"accept", b"*/*"),
    ]
    assert without_trace_context(headers) == [(b"accept", b"*/*")]
    out = upstream_request_headers(headers, client_address=None, scheme="http", request_id=None)
    assert names(out) == [b"accept", b"x-forwarded-proto"]
