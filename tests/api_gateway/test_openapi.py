"""Merging the services' OpenAPI documents into the gateway's one."""

import asyncio
from typing import Any

from api_gateway.openapi import OpenApiCache, merge_openapi


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def op(op_id: str, schema: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": op_id, "responses": {"200": {}}}
    if schema:
        operation["responses"]["200"] = {"content": {"application/json": {"schema": ref(schema)}}}
    return operation


VALIDATION = {"title": "HTTPValidationError", "type": "object"}

AUTH = {
    "openapi": "3.1.0",
    "info": {"title": "Auth service", "version": "1.0.0"},
    "paths": {
        "/api/auth/login": {"post": op("login", "TokenResponse")},
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
            "HTTPValidationError": VALIDATION,
        }
    },
}

BOOKING = {
    "openapi": "3.1.0",
    "info": {"title": "Booking service", "version": "1.0.0"},
    "tags": [{"name": "bookings"}],
    "paths": {
        "/api/bookings/{id}": {
            "get": {**op("me", "Booking"), "tags": ["bookings"]},
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
            "HTTPValidationError": VALIDATION,  # identical: shared, not renamed
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
        "HTTPValidationError",
    }
    assert schemas["User"] == AUTH["components"]["schemas"]["User"]
    assert schemas["BookingUser"] == BOOKING["components"]["schemas"]["User"]
    assert schemas["Booking"]["properties"]["owner"] == ref("BookingUser")
    me = merged["paths"]["/api/auth/me"]["get"]
    assert me["responses"]["200"]["content"]["application/json"]["schema"] == ref("User")
    # the source documents are not modified
    assert BOOKING["components"]["schemas"]["Booking"]["properties"]["owner"] == ref("User")


def test_a_rename_that_changes_another_schema_renames_that_too() -> None:
    first = {
        "paths": {},
        "components": {
            "schemas": {
                "Leaf": {"type": "string"},
                "Tree": {"type": "object", "properties": {"leaf": ref("Leaf")}},
            }
        },
    }
    second = {
        "paths": {},
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
