"""The gateway's hot path: every proxied request, as plain ASGI.

The gateway's own few paths (`/health`, `/docs`, ...) go on to its FastAPI routes; everything
else is rate limited, routed, authenticated and forwarded here, without FastAPI's routing,
dependency solving and response classes, which cost more than the forwarding itself. It sits
inside the kit's request-context and load-shedding middleware, so proxied requests still get
their request id, access-log line, metrics and overload answers like any other.
"""

from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api_gateway.routes import ROUTES, resolve
from shared.errors import DomainError, Unauthorized, domain_error_response
from shared.logging import request_id_var, user_id_var
from shared.security import bearer_from_header


@dataclass(frozen=True)
class ProxiedRoute:
    """What the access log and the metrics call a proxied request's route (one per service)."""

    path: str


class ProxyDispatch:
    def __init__(self, app: ASGIApp, *, own_paths: frozenset[str]) -> None:
        self.app = app
        self.own_paths = own_paths
        self.routes = {service: ProxiedRoute(f"→{service}") for _, service in ROUTES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.own_paths:
            await self.app(scope, receive, send)
            return
        try:
            await self.forward(scope, receive, send)
        except DomainError as exc:
            await domain_error_response(Request(scope), exc)(scope, receive, send)

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rate limit, route, authenticate, forward."""
        state = scope["app"].state
        limits = state.rate_limits
        client = scope.get("client")
        if client:
            await limits.check_address(client[0])
        route = resolve(scope["method"], scope.get("raw_path") or scope["path"])
        scope["route"] = self.routes[route.service]
        if not route.public:
            token = bearer_from_header(_header(scope, b"authorization"))
            if token is None:
                raise Unauthorized("Missing bearer token")
            principal = await state.verifier.verify_access(token)
            user_id_var.set(str(principal.user_id))
            await limits.check_user(principal.user_id)
        await state.proxy.forward(
            scope, receive, send, service=route.service, request_id=request_id_var.get()
        )


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
