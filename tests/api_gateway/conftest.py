"""The gateway in-process, in front of fake services (an httpx MockTransport).

Tokens are signed with a key of these tests' own: the gateway's verifier is given its public
half, so these tests need neither the auth service nor the network.
"""

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api_gateway.config import GatewaySettings
from api_gateway.main import build_app
from shared.security import StaticKeys, TokenVerifier
from shared.services import SERVICES
from tests.conftest import REDIS_PREFIX
from tests.helpers import access_claims, bearer

KEY = Ed25519PrivateKey.generate()
KID = "gateway-test-key"
SERVICE_HOSTS = {f"{s.name}.test": s.name for s in SERVICES}


def mint(user_id: int = 1, **claims: Any) -> str:
    body = access_claims(user_id, **claims)
    return jwt.encode(body, KEY, algorithm="EdDSA", headers={"kid": KID})


def user_headers(user_id: int = 1) -> dict[str, str]:
    """The Authorization header of a user's token (signed with these tests' key)."""
    return bearer(mint(user_id))


def header(doc: dict[str, Any], name: str) -> list[str]:
    """The values of header `name` in a fake service's echo of the request it got."""
    return [v for k, v in doc["headers"] if k.lower() == name]


Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class FakeServices:
    """Stands in for every service: records what reached it and answers with `handler`.

    The default handler echoes the request (service, method, raw path with query, headers,
    body) as JSON, with a few headers a proxy must treat carefully.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, httpx.Request, bytes]] = []
        self.handler: Handler = self.echo

    @staticmethod
    async def echo(request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        doc = {
            "service": SERVICE_HOSTS.get(request.url.host),
            "method": request.method,
            "target": request.url.raw_path.decode(),
            "headers": [[k.decode(), v.decode()] for k, v in request.headers.raw],
            "body": body.decode(),
        }
        return httpx.Response(
            200,
            headers=[
                ("content-type", "application/json"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("connection", "x-hop"),
                ("x-hop", "secret"),
                ("keep-alive", "timeout=5"),
                ("x-request-id", "set-by-the-service"),
            ],
            content=json.dumps(doc).encode(),
        )

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append((SERVICE_HOSTS.get(request.url.host, "?"), request, request.content))
        response = await self.handler(request)
        if isinstance(response.stream, httpx.ByteStream):
            # A Response built from bytes counts as already read; a real transport's is not.
            return httpx.Response(
                response.status_code,
                headers=response.headers.raw,
                stream=_Unread(response.content),
            )
        return response


class _Unread(httpx.AsyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body


def gateway_settings(**overrides: Any) -> GatewaySettings:
    urls = {s.url_env.lower(): f"http://{s.name}.test" for s in SERVICES}
    values: dict[str, Any] = {
        **urls,
        "redis_prefix": f"{REDIS_PREFIX}gw-{uuid.uuid4().hex[:8]}:",
        "gateway_openapi_cache_seconds": 60,
        **overrides,
    }
    return GatewaySettings(**values)


GatewayFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
def fake_services() -> FakeServices:
    return FakeServices()


@pytest.fixture
async def make_gateway(fake_services: FakeServices) -> AsyncIterator[GatewayFactory]:
    """`await make_gateway(client=(addr, port), **settings)`: a client of a fresh gateway."""
    closers: list[AsyncIterator[httpx.AsyncClient]] = []

    async def make(client: tuple[str, int] = ("192.0.2.10", 50000), **overrides: Any):
        app = build_app(gateway_settings(**overrides))
        app.state.upstream_transport = httpx.MockTransport(fake_services)
        app.state.verifier = TokenVerifier(
            StaticKeys({KID: KEY.public_key()}), issuer="flightbook-auth", audience="flightbook"
        )
        gen = _client(app, client)
        closers.append(gen)
        return await anext(gen)

    yield make
    for gen in closers:
        await gen.aclose()


async def _client(app: Any, client: tuple[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app, startup_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
            yield c


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> httpx.AsyncClient:
    return await make_gateway()
