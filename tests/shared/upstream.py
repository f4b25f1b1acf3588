"""A small real HTTP service the ServiceClient and JWKS tests talk to over a socket.

It runs under uvicorn in a thread (see `conftest.upstream`). `HITS` counts requests per path
and `?k=` key, so a test can see how many attempts the client made.
"""

import asyncio
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

HITS: Counter[str] = Counter()
JWKS: dict[str, list[dict[str, Any]]] = {"keys": []}


def _count(request: Request) -> int:
    key = f"{request.url.path}?{request.query_params.get('k', '')}"
    HITS[key] += 1
    return HITS[key]


def hits(path: str, k: str = "") -> int:
    return HITS[f"{path}?{k}"]


async def flaky(request: Request) -> Response:
    """Answers 503 `fail` times (query param) per key, then 200."""
    n = _count(request)
    fail = int(request.query_params.get("fail", "2"))
    if n <= fail:
        return JSONResponse({"attempt": n}, status_code=503)
    return JSONResponse({"attempt": n, "method": request.method})


async def slow(request: Request) -> Response:
    _count(request)
    await asyncio.sleep(float(request.query_params.get("s", "2")))
    return JSONResponse({"slow": True})


async def boom(request: Request) -> Response:
    _count(request)
    return JSONResponse({"error": "boom"}, status_code=500)


async def echo(request: Request) -> Response:
    _count(request)
    return JSONResponse(
        {
            "requestId": request.headers.get("x-request-id"),
            "authorization": request.headers.get("authorization"),
            "idempotencyKey": request.headers.get("idempotency-key"),
        }
    )


async def conflict(request: Request) -> Response:
    _count(request)
    return JSONResponse({"code": "CONFLICT"}, status_code=409)


async def raw(request: Request) -> Response:
    """What arrived, as it arrived: the target, every header and the body."""
    body = b"".join([chunk async for chunk in request.stream()])
    target = request.scope["raw_path"] + b"?" + request.scope["query_string"]
    return JSONResponse(
        {
            "target": target.decode(),
            "headers": [[k.decode(), v.decode()] for k, v in request.scope["headers"]],
            "body": body.decode(),
        }
    )


async def stream(request: Request) -> Response:
    """A body of unknown length, in `n` chunks."""

    async def chunks() -> Any:
        for i in range(int(request.query_params.get("n", "5"))):
            yield f"chunk {i}\n".encode()
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


async def jwks(request: Request) -> Response:
    _count(request)
    return JSONResponse(JWKS)


app = Starlette(
    routes=[
        Route("/flaky", flaky, methods=["GET", "POST"]),
        Route("/slow", slow, methods=["GET", "POST"]),
        Route("/boom", boom, methods=["GET"]),
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/internal/echo", echo, methods=["GET", "POST"]),
        Route("/conflict", conflict, methods=["POST"]),
        Route("/jwks", jwks, methods=["GET"]),
        Route("/raw", raw, methods=["GET", "POST"]),
        Route("/stream", stream, methods=["GET"]),
    ]
)
