"""The gateway's own endpoints: health, readiness and the merged docs."""

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from api_gateway.health import health_report, service_states
from api_gateway.openapi import Doc, fetch_docs, merge_openapi

# The gateway's own endpoints; every other path is forwarded by `api_gateway.dispatch`.
router = APIRouter()


@router.get("/health", summary="The gateway and every service's liveness")
async def health(request: Request) -> dict[str, Any]:
    state = request.app.state
    states = await service_states(
        state.upstream,
        state.settings.service_urls,
        wait_seconds=state.settings.gateway_health_timeout_seconds,
    )
    return health_report(states)


@router.get("/ready", summary="Ready: every service up and Redis reachable")
async def ready(request: Request) -> JSONResponse:
    state = request.app.state
    settings = state.settings
    states = await service_states(
        state.upstream, settings.service_urls, wait_seconds=settings.gateway_health_timeout_seconds
    )
    try:
        await asyncio.wait_for(state.redis.ping(), timeout=settings.gateway_health_timeout_seconds)
        redis = "ok"
    except Exception as exc:  # any failure means not ready
        redis = f"error: {type(exc).__name__}"
    report = health_report(states)
    ok = report["status"] == "ok" and redis == "ok"
    report.update(status="ok" if ok else "unavailable", checks={"redis": redis})
    return JSONResponse(report, status_code=200 if ok else 503)


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    state = request.app.state
    settings = state.settings

    async def build() -> tuple[Doc, bool]:
        docs, missing = await fetch_docs(
            state.upstream,
            settings.service_urls,
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
