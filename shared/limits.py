"""Request bodies are bounded in size and in time before a request takes any resources.

Every request body is read here, whole, before the request goes on: at most the route's limit
(`MAX_BODY_BYTES` unless the route declares its own with FastAPI's `max_body_size=`, the one way
to say a route needs more), within `BODY_READ_TIMEOUT_SECONDS` of the request's headers. A
declared Content-Length over the limit is refused before any of the body is kept, a chunked
body as soon as it passes the limit (what was read is dropped), a client that sends too slowly
is cut off (408). Only then does the request take a load-shedding turn and, at the gateway, an
upstream connection: a slow or oversized upload holds nothing but its own socket. Both
refusals close the connection; before a 413 goes out, a bounded rest of the body is read and
dropped so that a client still sending it gets the answer rather than a reset.

The route's own limit is looked up only for a body larger than every route accepts anyway
(`floor`), so the usual small body costs no route matching.
"""

import asyncio
import contextlib
from collections.abc import Iterable

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import BadRequest, DomainError, domain_error_response

# A refused body is not read to its end: the connection cannot carry another request.
_CLOSE = {"Connection": "close"}
# Before a 413 goes out, this much of the rest of the body is read and dropped (at most for
# `_DISCARD_SECONDS`): closing on unread data resets the connection, and a client still sending
# a moderately large body would lose the answer. A larger one is cut off regardless.
_DISCARD_BYTES = 256 * 1024
_DISCARD_SECONDS = 1.0


class PayloadTooLarge(DomainError):
    status, code, title = 413, "PAYLOAD_TOO_LARGE", "Request body too large"
    unread = True  # the client may still be sending the body


class RequestTimeout(DomainError):
    status, code, title = 408, "REQUEST_TIMEOUT", "Request not received in time"


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """(Content-Length or None, whether a body follows at all)."""
    length: int | None = None
    chunked = False
    for name, value in headers:
        name = name.lower()
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked or bool(length)


class BodyLimits:
    """ASGI middleware: the request body read whole, bounded in size and time, then replayed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._floor: int | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, has_body = declared_length(scope["headers"])
        if not has_body:
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive, length)
        except DomainError as exc:
            if isinstance(exc, PayloadTooLarge) and exc.unread:
                await _discard(receive)
            await domain_error_response(Request(scope), exc)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, scope: Scope, receive: Receive, length: int | None) -> bytes:
        floor = self.floor(scope)
        limit: int | None = None  # the route's own, looked up only above the floor
        if length is not None and length > floor:
            limit = self.route_limit(scope)
            if length > limit:
                too_large = self._too_large(limit)
                too_large.unread = not _expects_continue(scope)
                raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        # Answered for the access log only: nobody is left to read it.
                        raise BadRequest("The client went away while sending the body")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > floor:
                        limit = self.route_limit(scope) if limit is None else limit
                        if size > limit:
                            too_large = self._too_large(limit)
                            too_large.unread = message.get("more_body", False)
                            raise too_large
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise RequestTimeout(
                f"The request body was not received within {self.timeout:g} s", headers=_CLOSE
            ) from None

    def _too_large(self, limit: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The request body is larger than this route accepts ({limit} bytes)",
            headers=_CLOSE,
            limit=limit,
        )

    def floor(self, scope: Scope) -> int:
        """The size every route accepts: the default, or a route's smaller declared limit."""
        if self._floor is None:
            declared = [
                size
                for route in _routes(scope)
                if (size := getattr(route, "max_body_size", None)) is not None
            ]
            self._floor = min([self.max_bytes, *declared])
        return self._floor

    def route_limit(self, scope: Scope) -> int:
        """The limit of the route this request goes to (the default when none matches)."""
        for route in _routes(scope):
            match, _ = route.matches(scope)
            if match == Match.FULL:
                size = getattr(route, "max_body_size", None)
                return self.max_bytes if size is None else size
        return self.max_bytes


def _routes(scope: Scope) -> list[RouteContext]:
    app = scope.get("app")
    router = getattr(app, "router", None)
    return list(iter_route_contexts(router.routes)) if router is not None else []


def _expects_continue(scope: Scope) -> bool:
    """A client that sent `Expect: 100-continue` sends its body only once invited (by the
    server, on the app's first read): refused before that, it has nothing in flight."""
    return any(k.lower() == b"expect" and v.lower() == b"100-continue" for k, v in scope["headers"])


async def _discard(receive: Receive) -> None:
    """Read what is left of a refused body, dropping it, within the bounds above."""
    dropped = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DISCARD_SECONDS):
            while dropped <= _DISCARD_BYTES:
                message = await receive()
                dropped += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then the connection's own messages (its disconnect)."""
    pending: Message | None = {"type": "http.request", "body": body, "more_body": False}

    async def replay() -> Message:
        nonlocal pending
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return replay
