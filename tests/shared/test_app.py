"""shared.app.create_app: problem+json errors, request ids, health/ready/metrics."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from shared.app import create_app
from shared.db import SessionDep
from shared.errors import Conflict, TooManyRequests
from shared.settings import BaseServiceSettings
from tests.helpers import assert_problem, free_port
from tests.shared.conftest import serve

SECRET_PASSWORD = "pw-Sekrit"


class SeatUnavailable(Conflict):
    code, title = "SEAT_UNAVAILABLE", "Seat unavailable"


class Signup(BaseModel):
    email: str
    password: str = Field(min_length=12)
    age: int


def routes() -> APIRouter:
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @router.post("/signup", status_code=201)
    async def signup(body: Signup) -> dict[str, str]:
        return {"email": body.email}

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internal detail 4111111111111111")

    @router.get("/taken")
    async def taken() -> None:
        raise SeatUnavailable("Seat 12A is not available", seats=["12A"])

    @router.get("/db")
    async def db(session: SessionDep) -> int:
        return (await session.execute(text("SELECT 1"))).scalar_one()

    @router.get("/integrity")
    async def integrity(session: SessionDep) -> None:
        await session.execute(text("SELECT 1/0"))

    @router.get("/rolled-back")
    async def rolled_back(session: SessionDep, sqlstate: str) -> None:
        # What Postgres answers a deadlock victim (40P01) or a serialization failure (40001).
        await session.execute(
            text(f"DO $$ BEGIN RAISE EXCEPTION 'chosen' USING ERRCODE = '{sqlstate}'; END $$")
        )

    @router.get("/raw-driver")
    async def raw_driver() -> None:
        # What a raw asyncpg connection (no SQLAlchemy wrapping) raises when Postgres is full.
        raise asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")

    @router.get("/clash")
    async def clash() -> None:
        raise SeatUnavailable("Seat 12A is not available", status="held", code="X", seats=["12A"])

    @router.get("/throttled")
    async def throttled() -> None:
        raise TooManyRequests("Slow down", retry_after=7)

    # One path, several routes (as services declare them: one function per method).
    @router.get("/things")
    async def list_things() -> list[int]:
        return []

    @router.post("/things", status_code=201)
    async def add_thing() -> dict[str, int]:
        return {"id": 1}

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @router.delete("/things/{thing_id}", status_code=204)
    async def delete_thing(thing_id: int) -> None:
        return None

    @router.get("/cacheable")
    async def cacheable(response: Response) -> dict[str, str]:
        response.headers["Cache-Control"] = "public, max-age=300"
        return {"keys": "public"}

    return router


def build(**overrides: Any) -> FastAPI:
    uses_database = overrides.pop("uses_database", True)
    lifespan = overrides.pop("lifespan", None)
    settings = BaseServiceSettings(**{"service_name": "app-test", **overrides})
    return create_app(
        settings=settings,
        title="App test",
        routers=[routes()],
        uses_database=uses_database,
        lifespan=lifespan,
    )


@pytest.fixture(scope="module")
async def client(settings: BaseServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(build()) as c:
        yield c


async def test_unknown_path_is_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/nope"), 404, "NOT_FOUND")
    assert body["instance"] == "/nope"


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/items/1")
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/things", "GET, POST"),
        ("DELETE", "/things", "GET, POST"),
        ("PATCH", "/things/7", "GET, DELETE"),
        ("POST", "/things/7", "GET, DELETE"),
        ("POST", "/health", "GET"),
        ("POST", "/openapi.json", "GET, HEAD"),  # Starlette's own routes do answer HEAD
    ],
)
async def test_405_allow_names_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == allow
    for allowed in allow.split(", "):  # truthful: each one listed is answered, not a 405
        assert (await client.request(allowed, path)).status_code != 405, allowed


async def test_a_trailing_slash_is_404_not_a_redirect(client: httpx.AsyncClient) -> None:
    for path in ("/items/1/", "/things/", "/health/"):
        response = await client.get(path)
        assert_problem(response, 404, "NOT_FOUND")
        assert "location" not in response.headers


async def test_every_response_says_nosniff_and_no_store_unless_cacheable(
    client: httpx.AsyncClient,
) -> None:
    for response in (
        await client.get("/items/1"),
        await client.get("/nope"),
        await client.get("/crash"),
        await client.post("/signup", json={}),
        await client.get("/health"),
    ):
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
        assert response.headers.get_list("cache-control") == ["no-store"]
    cacheable = await client.get("/cacheable")
    assert cacheable.headers.get_list("cache-control") == ["public, max-age=300"]
    assert cacheable.headers.get_list("x-content-type-options") == ["nosniff"]


async def test_wrong_types_are_422_with_errors_and_no_input_echo(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/signup", json={"email": "a@example.com", "password": SECRET_PASSWORD, "age": "old"}
    )
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert SECRET_PASSWORD not in response.text
    assert "old" not in response.text
    locs = sorted(tuple(e["loc"]) for e in body["errors"])
    assert locs == [("body", "age"), ("body", "password")]
    for error in body["errors"]:
        assert set(error) == {"loc", "message", "type"}
    assert body["detail"]


async def test_missing_fields_and_bad_path_params_are_422(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/signup", json={}), 422, "VALIDATION_FAILED")
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("body", "email"),
        ("body", "password"),
        ("body", "age"),
    }
    body = assert_problem(await client.get("/items/abc"), 422, "VALIDATION_FAILED")
    assert body["errors"][0]["loc"] == ["path", "item_id"]


@pytest.mark.parametrize(
    "content", [b'{"email": "a@example.com", "password": ', b"not json at all", b"[1, 2]"]
)
async def test_malformed_json_is_422(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        "/signup", content=content, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert body["errors"]


async def test_unexpected_exception_is_a_500_problem_without_details(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/crash", headers={"X-Request-ID": "crash-req-1"})
    body = assert_problem(response, 500, "INTERNAL_ERROR")
    assert "secret internal detail" not in response.text
    assert "4111" not in response.text
    assert "RuntimeError" not in response.text
    assert response.headers["x-request-id"] == "crash-req-1"
    assert body["requestId"] == "crash-req-1"
    # The app keeps serving.
    assert (await client.get("/items/3")).json() == {"id": 3}


async def test_domain_errors_keep_their_code_and_extra_members(
    client: httpx.AsyncClient,
) -> None:
    body = assert_problem(await client.get("/taken"), 409, "SEAT_UNAVAILABLE")
    assert body["seats"] == ["12A"]
    assert body["detail"] == "Seat 12A is not available"
    response = await client.get("/throttled")
    assert_problem(response, 429, "RATE_LIMITED")
    assert response.headers["retry-after"] == "7"


async def test_safe_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    for rid in ("abc-123", "req_1.2:3", "a" * 128):
        response = await client.get("/items/1", headers={"X-Request-ID": rid})
        assert response.headers["x-request-id"] == rid
    body = assert_problem(
        await client.get("/nope", headers={"X-Request-ID": "trace-9"}), 404, "NOT_FOUND"
    )
    assert body["requestId"] == "trace-9"


@pytest.mark.parametrize("rid", ["has space", "a" * 129, "<script>", "x;y", ""])
async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient, rid: str) -> None:
    response = await client.get("/items/1", headers={"X-Request-ID": rid})
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_every_response_gets_a_request_id(client: httpx.AsyncClient) -> None:
    first = (await client.get("/health")).headers["x-request-id"]
    second = (await client.get("/health")).headers["x-request-id"]
    assert first != second


async def test_health_ready_metrics_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok", "service": "app-test"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ok",
        "service": "app-test",
        "checks": {"redis": "ok", "database": "ok"},
    }
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text
    assert 'service="app-test"' in metrics.text
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "App test"


async def test_ready_reports_an_unreachable_database() -> None:
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    async with serve(build(database_url=dead)) as c:
        response = await c.get("/ready")
        assert (await c.get("/health")).status_code == 200
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["database"].startswith("error")


async def test_ready_without_a_database_checks_redis_only(settings: BaseServiceSettings) -> None:
    async with serve(build(uses_database=False)) as c:
        response = await c.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"redis": "ok"}


async def test_service_lifespan_runs_with_the_shared_resources(
    settings: BaseServiceSettings,
) -> None:
    seen: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        seen["db"] = app.state.db
        seen["redis"] = await app.state.redis.ping()
        seen["prefix"] = app.state.keys.prefix
        yield
        seen["stopped"] = True

    async with serve(build(lifespan=lifespan)) as c:
        assert (await c.get("/health")).status_code == 200
    assert seen["db"] is not None
    assert seen["redis"] is True
    assert seen["prefix"] == settings.redis_prefix
    assert seen["stopped"] is True


async def test_an_unreachable_database_is_a_503_problem_not_a_500() -> None:
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    async with serve(build(database_url=dead)) as c:
        response = await c.get("/db")
    body = assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert response.headers["retry-after"] == "1"
    assert "127.0.0.1" not in body["detail"]


async def test_a_database_error_that_is_a_bug_stays_a_500(client: httpx.AsyncClient) -> None:
    assert (await client.get("/db")).json() == 1
    assert_problem(await client.get("/integrity"), 500, "INTERNAL_ERROR")


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_transaction_postgres_rolled_back_is_a_retryable_503(
    client: httpx.AsyncClient, sqlstate: str
) -> None:
    response = await client.get("/rolled-back", params={"sqlstate": sqlstate})
    assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert response.headers["retry-after"] == "1"


async def test_a_full_database_seen_by_a_raw_driver_connection_is_a_503(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/raw-driver")
    assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert response.headers["retry-after"] == "1"


async def test_an_unreachable_redis_is_a_503_problem() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    router = APIRouter()

    @router.get("/redis")
    async def uses_redis(request: Request) -> None:
        await request.app.state.redis.get("anything")

    app = create_app(
        settings=BaseServiceSettings(service_name="app-test", redis_url=dead),
        title="App test",
        routers=[router],
        uses_database=False,
    )
    async with serve(app) as c:
        assert_problem(await c.get("/redis"), 503, "SERVICE_UNAVAILABLE")


async def test_extra_members_cannot_clash_with_the_standard_ones(
    client: httpx.AsyncClient,
) -> None:
    body = assert_problem(await client.get("/clash"), 409, "SEAT_UNAVAILABLE")
    assert body["seats"] == ["12A"]
