"""The gateway's own endpoints: the services' status, its metrics and the merged docs.

Its `/health` (liveness) and `/ready` (its Redis reachable) are the kit's, like every service's.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api_gateway.config import replica_urls
from api_gateway.health import StatusCache, health_report, service_states
from api_gateway.openapi import Doc, fetch_docs, merge_openapi
from shared.errors import NotFound

# The gateway's own endpoints; every other path is forwarded by `api_gateway.dispatch`.
router = APIRouter()


@router.get("/status", summary="Every service's liveness, as the gateway sees it (cached)")
async def status(request: Request) -> dict[str, Any]:
    state = request.app.state
    settings = state.settings

    async def probe_round() -> dict[str, Any]:
        states = await service_states(
            state.upstream,
            settings.service_urls,
            wait_seconds=settings.gateway_health_timeout_seconds,
        )
        return health_report(states)

    cache: StatusCache = state.status_cache
    return await cache.get(probe_round)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The gateway's Prometheus metrics, for its scrapers only: to anyone else there is no
    such path (the gateway is the public face; its metrics are internal)."""
    client = request.client.host if request.client else None
    if not request.app.state.metrics_readers.allows(client):
        raise NotFound("No such path")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    state = request.app.state
    settings = state.settings

    async def build() -> tuple[Doc, bool]:
        # Every replica of a service serves the same document: the first one is asked.
        firsts = {name: replica_urls(url)[0] for name, url in settings.service_urls.items()}
        docs, missing = await fetch_docs(
            state.upstream,
            firsts,
            wait_seconds=settings.gateway_health_timeout_seconds,
        )
        doc = merge_openapi(
            docs,
            title="Flightbook API",
            description="Every public endpoint, as served through the API gateway.",
            missing=missing,
        )
        return doc, not missing

    return JSONResponse(await state.openapi_cache.get(build))


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Flightbook API")
