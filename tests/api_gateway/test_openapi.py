"""Merging the services' OpenAPI documents into the gateway's one, and the merged document of
the real services: the contract (SPEC §2) as schemathesis reads it (tests/e2e/test_schemathesis.py
runs it against the processes)."""

import asyncio
import importlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

from api_gateway.openapi import OpenApiCache, merge_openapi
from api_gateway.routes import PUBLIC, resolve
from flight_search_service.config import FlightSearchSettings
from shared.openapi import PROBLEM_REF
from shared.services import SERVICES


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def op(op_id: str, schema: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": op_id, "responses": {"200": {}}}
    if schema:
        operation["responses"]["200"] = {"content": {"application/json": {"schema": ref(schema)}}}
    return operation


SHARED = {"title": "Shared", "type": "object"}


def with_422(operation: dict[str, Any]) -> dict[str, Any]:
    """`operation` also answering the schema both services have, identical."""
    operation["responses"]["422"] = {"content": {"application/json": {"schema": ref("Shared")}}}
    return operation


AUTH = {
    "openapi": "3.1.0",
    "info": {"title": "Auth service", "version": "1.0.0"},
    "paths": {
        "/api/auth/login": {"post": with_422(op("login", "TokenResponse"))},
        "/api/auth/me": {"get": op("me", "User")},
        "/api/auth/internal/users/{id}": {"get": op("internal_user", "User")},
        "/.well-known/jwks.json": {"get": op("jwks")},
        "/health": {"get": op("health")},
        "/ready": {"get": op("ready")},
        "/metrics": {"get": op("metrics")},
        "/api/bookings/sneaky": {"get": op("not_routed_to_auth")},
    },
    "components": {
        "schemas": {
            "TokenResponse": {"type": "object"},
            "User": {"type": "object", "properties": {"email": {"type": "string"}}},
            "Shared": SHARED,
            "Unused": {"type": "object"},
        }
    },
}

BOOKING = {
    "openapi": "3.1.0",
    "info": {"title": "Booking service", "version": "1.0.0"},
    "tags": [{"name": "bookings"}],
    "paths": {
        "/api/bookings/{id}": {
            "get": {**with_422(op("me", "Booking")), "tags": ["bookings"]},
            "parameters": [{"name": "id", "in": "path"}],
        },
        "/internal/bookings/{id}": {"get": op("internal_booking", "Booking")},
    },
    "components": {
        "schemas": {
            # same name as auth's, different content: a real collision
            "User": {"type": "object", "properties": {"bookingCount": {"type": "integer"}}},
            # refers to the colliding one, so it must follow the rename
            "Booking": {"type": "object", "properties": {"owner": ref("User")}},
            "Shared": SHARED,  # identical: shared, not renamed
        }
    },
}


def test_paths_are_those_the_gateway_routes() -> None:
    merged = merge_openapi({"auth": AUTH, "booking": BOOKING})
    assert set(merged["paths"]) == {
        "/api/auth/login",
        "/api/auth/me",
        "/.well-known/jwks.json",
        "/api/bookings/{id}",
    }
    assert merged["paths"]["/api/bookings/{id}"]["parameters"] == [{"name": "id", "in": "path"}]


def test_colliding_schemas_are_renamed_and_refs_follow() -> None:
    merged = merge_openapi({"auth": AUTH, "booking": BOOKING})
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {
        "TokenResponse",
        "User",
        "BookingUser",
        "Booking",
        "Shared",
        "Problem",
    }  # and no "Unused": only what the public paths use
    assert schemas["User"] == AUTH["components"]["schemas"]["User"]
    assert schemas["BookingUser"] == BOOKING["components"]["schemas"]["User"]
    assert schemas["Booking"]["properties"]["owner"] == ref("BookingUser")
    me = merged["paths"]["/api/auth/me"]["get"]
    assert me["responses"]["200"]["content"]["application/json"]["schema"] == ref("User")
    # the source documents are not modified
    assert BOOKING["components"]["schemas"]["Booking"]["properties"]["owner"] == ref("User")


def test_a_rename_that_changes_another_schema_renames_that_too() -> None:
    first = {
        "paths": {"/api/seats/x": {"get": op("seat_tree", "Tree")}},
        "components": {
            "schemas": {
                "Leaf": {"type": "string"},
                "Tree": {"type": "object", "properties": {"leaf": ref("Leaf")}},
            }
        },
    }
    second = {
        "paths": {"/api/flights/x": {"get": op("flight_tree", "Tree")}},
        "components": {
            "schemas": {
                "Leaf": {"type": "integer"},  # collides
                "Tree": {"type": "object", "properties": {"leaf": ref("Leaf")}},  # looks equal
            }
        },
    }
    schemas = merge_openapi({"seat": first, "flight-search": second})["components"]["schemas"]
    assert schemas["FlightSearchTree"]["properties"]["leaf"] == ref("FlightSearchLeaf")
    assert schemas["Tree"]["properties"]["leaf"] == ref("Leaf")


def test_operations_get_tags_unique_ids_and_public_security() -> None:
    merged = merge_openapi({"auth": AUTH, "booking": BOOKING})
    login = merged["paths"]["/api/auth/login"]["post"]
    me = merged["paths"]["/api/auth/me"]["get"]
    booking = merged["paths"]["/api/bookings/{id}"]["get"]
    assert login["security"] == [] and "security" not in me  # public vs the global bearer
    assert merged["security"] == [{"bearerAuth": []}]
    assert merged["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert me["tags"] == ["auth"] and booking["tags"] == ["bookings"]
    assert (me["operationId"], booking["operationId"]) == ("me", "booking_me")
    assert {t["name"] for t in merged["tags"]} == {"auth", "bookings", "booking"}


def test_missing_services_are_listed() -> None:
    merged = merge_openapi({"auth": AUTH}, missing=["seat"])
    assert merged["info"]["x-missing-services"] == ["seat"]
    assert merged["openapi"] == "3.1.0"


async def test_cache_rebuilds_after_ttl_and_sooner_when_incomplete() -> None:
    builds: list[bool] = []
    complete = False

    async def build() -> tuple[dict[str, Any], bool]:
        builds.append(complete)
        await asyncio.sleep(0.01)
        return {"n": len(builds)}, complete

    cache = OpenApiCache(ttl=60, incomplete_ttl=0.05)
    docs = await asyncio.gather(*(cache.get(build) for _ in range(5)))
    assert docs == [{"n": 1}] * 5 and len(builds) == 1  # concurrent callers share one build
    await asyncio.sleep(0.06)
    complete = True
    assert await cache.get(build) == {"n": 2}
    await asyncio.sleep(0.06)
    assert await cache.get(build) == {"n": 2}  # complete: kept for the full ttl


# The document as the gateway serves it, merged from every service's own ------------------------


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    docs = {
        info.name: importlib.import_module(f"{info.package}.main").app.openapi()
        for info in SERVICES
    }
    return merge_openapi(docs)


def operations_of(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace")
    ]


def walk(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}")


def test_only_public_operations(document: dict[str, Any]) -> None:
    assert len(operations_of(document)) >= 30
    for method, path, _ in operations_of(document):
        route = resolve(method.upper(), path)  # raises for an internal or unknown path
        assert path not in ("/health", "/ready", "/metrics") and "internal" not in path
        assert route.public == ((method.upper(), path) in PUBLIC), (method, path)
    assert "x-missing-services" not in document["info"]


def test_every_error_status_is_documented_as_a_problem(document: dict[str, Any]) -> None:
    """Every operation: its errors as application/problem+json with the `Problem` schema, and
    the ones any call can get (408, 413, 422, 429, 431, 502, 503, 504; 401 unless public)."""
    problem = {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}}
    for method, path, operation in operations_of(document):
        statuses = set(operation["responses"])
        must = {"408", "413", "422", "429", "431", "502", "503", "504"}
        if (method.upper(), path) not in PUBLIC:
            must.add("401")
            assert operation["security"] == [{"bearerAuth": []}], (method, path)
        else:
            assert operation["security"] == [], (method, path)
        if "requestBody" in operation:
            must.add("400")
        assert must <= statuses, (method, path, must - statuses)
        for status, response in operation["responses"].items():
            assert response.get("description"), (method, path, status)
            if int(status) >= 400:
                assert response["content"] == problem, (method, path, status)
            else:
                assert not any("problem" in media for media in response.get("content", {}))
        for status in ("429", "503"):
            assert operation["responses"][status]["headers"]["Retry-After"]["required"]
    schemas = document["components"]["schemas"]
    assert not {"HTTPValidationError", "ValidationError"} & set(schemas)
    assert set(schemas["Problem"]["properties"]) == {
        "type", "title", "status", "detail", "code", "instance", "requestId", "errors"
    }  # fmt: skip
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_routes_document_the_refusals_they_can_give(document: dict[str, Any]) -> None:
    def statuses(method: str, path: str) -> set[str]:
        return set(document["paths"][path][method]["responses"])

    assert {"404", "409", "429"} <= statuses("post", "/api/seats/lock")
    assert {"409", "429"} <= statuses("post", "/api/auth/signup")
    assert {"401", "429"} <= statuses("post", "/api/auth/login")
    assert {"403", "429"} <= statuses("post", "/api/notifications/send")
    assert {"404", "409", "429"} <= statuses("post", "/api/discounts/apply")
    assert {"402", "403", "404", "409"} <= statuses("post", "/api/payments/pay")
    assert {"403"} <= statuses("post", "/api/flights") & statuses("get", "/api/discounts")
    for method, path, _ in operations_of(document):
        if "{" in path:  # a resource named in the path may not exist, or not be the caller's
            assert "404" in statuses(method, path), (method, path)


def test_bounds_are_exact_and_standard(document: dict[str, Any]) -> None:
    for where, node in walk(document):
        assert not {"ge", "le", "gt", "lt"} & set(node), where  # pydantic's, not JSON Schema's
        if node.get("type") == "integer":
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                assert type(node.get(key, 0)) is int, (where, key, node[key])
    ids = 0
    for method, path, operation in operations_of(document):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            if parameter["name"].endswith("_id") and parameter["in"] == "path":
                if schema.get("format") == "uuid":
                    continue
                ids += 1
                assert (schema["minimum"], schema["maximum"]) == (1, 2**63 - 1), (method, path)
    assert ids >= 10


def test_search_parameters_say_what_is_accepted(document: dict[str, Any]) -> None:
    search = document["paths"]["/api/flights/search"]["get"]
    params = {p["name"]: p["schema"] for p in search["parameters"]}
    assert params["source"]["pattern"] == params["destination"]["pattern"] == "^[A-Za-z]{3}$"
    assert params["date"]["format"] == "date"
    assert params["limit"]["maximum"] == FlightSearchSettings().search_max_limit
    assert params["passengers"]["maximum"] == 9 and params["maxStops"]["maximum"] == 1


def _target(document: dict[str, Any], link: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    pointer = unquote(link["operationRef"].removeprefix("#/paths/"))
    encoded_path, method = pointer.rsplit("/", 1)
    path = encoded_path.replace("~1", "/").replace("~0", "~")
    return method, path, document["paths"][path][method]


def _schema_at(document: dict[str, Any], schema: dict[str, Any], pointer: str) -> Any:
    """The schema of the value `pointer` names in a document of `schema` (or None)."""
    for token in [t for t in pointer.split("/") if t]:
        while "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        if token.isdigit():
            schema = schema.get("items")
        else:
            schema = (schema.get("properties") or {}).get(token)
        if schema is None:
            return None
    return schema


def test_links_point_at_real_operations_parameters_and_fields(document: dict[str, Any]) -> None:
    found = set()
    for method, path, operation in operations_of(document):
        for status, response in operation["responses"].items():
            for name, link in response.get("links", {}).items():
                found.add((method, path, name))
                _, _, target = _target(document, link)
                names = {(p["in"], p["name"]) for p in target.get("parameters", [])}
                for key in link.get("parameters", {}):
                    where, _, parameter = key.partition(".")
                    assert (where, parameter) in names or where == "header", (path, name, key)
                content = response["content"]["application/json"]["schema"]
                expressions = [*link.get("parameters", {}).values()]
                if "requestBody" in link:
                    body = target["requestBody"]["content"]["application/json"]["schema"]
                    for field, value in link["requestBody"].items():
                        assert _schema_at(document, body, field), (path, name, field)
                        expressions += value if isinstance(value, list) else [value]
                for expression in expressions:
                    pointer = expression.split("#", 1)[1].rstrip("}")
                    assert _schema_at(document, content, pointer), (path, status, name, pointer)
    journey = {
        ("post", "/api/auth/signup", "Me"),
        ("post", "/api/auth/signup", "Refresh"),
        ("get", "/api/flights/search", "SeatMap"),
        ("get", "/api/seats/{flight_id}", "Hold"),
        ("post", "/api/seats/lock", "Book"),
        ("post", "/api/bookings", "Pay"),
        ("post", "/api/payments/pay", "Ticket"),
        ("post", "/api/tickets/generate", "Read"),
    }
    assert journey <= found
