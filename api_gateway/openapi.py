"""One OpenAPI document for the whole API: every service's, merged, as the gateway serves it.

Only the paths the gateway actually routes to a service are kept (so `/internal/`, `/health`,
`/ready` and `/metrics` are dropped), and only the components they use. Components of the same
name and the same content are shared; a real collision (same name, different content) is
renamed after its service (`Booking` + `Passenger` -> `BookingPassenger`) and that service's
`$ref`s follow.

Each service documents what it answers (`shared.openapi`); the merge adds what the gateway
itself answers on every operation (401 without a valid token, 429 over the rate limit,
502/503/504 upstream trouble) and the links of the journey (sign-up -> token, search -> seat
map -> hold -> booking -> pay -> ticket), which cross services: schemathesis's stateful phase
follows them.
"""

import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from api_gateway.routes import PUBLIC, canonical_path, is_internal, service_for
from shared.openapi import (
    BEARER,
    BEARER_SCHEME,
    HTTP_METHODS,
    PROBLEM,
    PROBLEM_SCHEMA,
    add_problem,
)

Doc = dict[str, Any]

SKIPPED_PATHS = frozenset({"/health", "/ready", "/metrics"})

# What the gateway itself answers, on every operation it routes.
GATEWAY_PROBLEMS: tuple[tuple[int, str], ...] = (
    (429, "Over the gateway's rate limit for this address or user (RATE_LIMITED)"),
    (502, "The service answered badly or not at all (BAD_GATEWAY)"),
    (503, "The service is down or over capacity (SERVICE_UNAVAILABLE, OVERLOADED)"),
    (504, "The service did not answer in time (UPSTREAM_TIMEOUT)"),
)


def routed_here(path: str, service: str) -> bool:
    """Whether the gateway sends `path` to `service` (and so whether to document it)."""
    canonical = canonical_path(path)
    return (
        canonical is not None
        and canonical not in SKIPPED_PATHS
        and not is_internal(canonical)
        and service_for(canonical) == service
    )


def _pascal(service: str) -> str:
    return "".join(part.capitalize() for part in service.replace("_", "-").split("-"))


def _rewrite_refs(node: Any, renames: dict[tuple[str, str], str]) -> Any:
    """A copy of `node` with `#/components/<kind>/<name>` refs renamed."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                _, _, kind, name = value.split("/", 3)
                new = renames.get((kind, name))
                out[key] = f"#/components/{kind}/{new}" if new else value
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def _plan_renames(
    service: str, components: dict[str, dict[str, Any]], merged: dict[str, dict[str, Any]]
) -> dict[tuple[str, str], str]:
    """Which of a service's components must be renamed to sit beside the merged ones.

    A component collides when the merged document has one of that name with different
    content *after* this service's own renames are applied; renaming one can change another's
    content, so this repeats until nothing new collides.
    """
    renames: dict[tuple[str, str], str] = {}
    while True:
        rewritten = _rewrite_refs(components, renames)
        new: dict[tuple[str, str], str] = {}
        for kind, items in rewritten.items():
            taken = merged.get(kind, {})
            for name, value in items.items():
                if (kind, name) in renames or name not in taken or taken[name] == value:
                    continue
                candidate, n = f"{_pascal(service)}{name}", 2
                while candidate in taken or candidate in items:
                    candidate, n = f"{_pascal(service)}{name}{n}", n + 1
                new[(kind, name)] = candidate
        if not new:
            return renames
        renames.update(new)


def merge_openapi(
    docs: dict[str, Doc],
    *,
    title: str = "Flightbook API",
    version: str = "1.0.0",
    description: str = "",
    missing: list[str] | tuple[str, ...] = (),
) -> Doc:
    """Merge services' OpenAPI documents (service name -> document) into one."""
    merged: Doc = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": {},
        "components": {
            "schemas": {PROBLEM: copy.deepcopy(PROBLEM_SCHEMA)},
            "securitySchemes": {BEARER: dict(BEARER_SCHEME)},
        },
        "security": [{BEARER: []}],
        "tags": [],
    }
    operation_ids: set[str] = set()
    tag_names: set[str] = set()
    for service, source in docs.items():
        doc = copy.deepcopy(source)
        renames = _merge_components(service, doc, merged["components"])
        documented = _merge_paths(service, doc, renames, merged["paths"], operation_ids)
        _merge_tags(service, doc, documented, merged["tags"], tag_names)
    if missing:
        merged["info"]["x-missing-services"] = list(missing)
    add_links(merged)
    merged["components"]["schemas"] = used_schemas(merged)
    return merged


def _merge_components(
    service: str, doc: Doc, components: dict[str, dict[str, Any]]
) -> dict[tuple[str, str], str]:
    """Add a service's components, colliding ones renamed; the renames its refs must follow."""
    own = {k: v for k, v in (doc.get("components") or {}).items() if isinstance(v, dict)}
    renames = _plan_renames(service, own, components)
    for kind, items in _rewrite_refs(own, renames).items():
        target = components.setdefault(kind, {})
        for name, value in items.items():
            target[renames.get((kind, name), name)] = value
    return renames


def _merge_paths(
    service: str,
    doc: Doc,
    renames: dict[tuple[str, str], str],
    paths: Doc,
    operation_ids: set[str],
) -> bool:
    """Add the paths the gateway routes to the service (first come, first kept); any added?"""
    documented = False
    for path, item in (doc.get("paths") or {}).items():
        if not routed_here(path, service) or path in paths:
            continue
        item = _rewrite_refs(item, renames)
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                _as_gateway_operation(service, method, path, operation, operation_ids)
        paths[path] = item
        documented = True
    return documented


def _as_gateway_operation(
    service: str, method: str, path: str, operation: Doc, operation_ids: set[str]
) -> None:
    """An operation as the gateway serves it: tagged, its id unique across services, and
    with the gateway's own answers (401 unless public, 429, 502/503/504) documented."""
    operation.setdefault("tags", [service])
    op_id = operation.get("operationId")
    if op_id in operation_ids:
        operation["operationId"] = f"{service}_{op_id}"
    if op_id:
        operation_ids.add(operation["operationId"])
    if (method.upper(), canonical_path(path)) in PUBLIC:
        operation["security"] = []
    else:
        add_problem(operation, 401)
    for status, description in GATEWAY_PROBLEMS:
        add_problem(operation, status, description)


def _merge_tags(
    service: str, doc: Doc, documented: bool, tags: list[Doc], tag_names: set[str]
) -> None:
    """The service's tags not seen yet, and one named after it when it documented a path."""
    for tag in doc.get("tags") or []:
        if isinstance(tag, dict) and tag.get("name") not in tag_names:
            tag_names.add(tag["name"])
            tags.append(tag)
    if documented and service not in tag_names:
        tag_names.add(service)
        info = doc.get("info") or {}
        tags.append({"name": service, "description": info.get("title", service)})


def used_schemas(doc: Doc) -> dict[str, Any]:
    """The schemas the paths use, directly or through other schemas (internal bodies and
    FastAPI leftovers are not part of the public document)."""
    schemas = doc["components"].get("schemas") or {}
    prefix = "#/components/schemas/"
    used: set[str] = set()
    pending = [doc["paths"]]
    while pending:
        text = json.dumps(pending.pop())
        for chunk in text.split(f'"$ref": "{prefix}')[1:]:
            name = chunk.split('"', 1)[0]
            if name not in used and name in schemas:
                used.add(name)
                pending.append(schemas[name])
    return {name: value for name, value in schemas.items() if name in used}


def _operation_ref(method: str, path: str) -> str:
    """`#/paths/~1api~1seats~1%7Bflight_id%7D/get`: JSON Pointer in a URI fragment."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{pointer.replace('{', '%7B').replace('}', '%7D')}/{method}"


def _link(
    method: str,
    path: str,
    description: str,
    parameters: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    *,
    whole_body: bool = True,
) -> tuple[str, str, Doc]:
    """A link to `method path`. Its `requestBody` is the whole body to send (OpenAPI's meaning,
    which schemathesis follows when told so); with `whole_body=False` it is the part the
    response gives, and the rest is the client's (a discount code)."""
    link: Doc = {"operationRef": _operation_ref(method, path), "description": description}
    if parameters:
        link["parameters"] = parameters
    if body is not None:
        link["requestBody"] = body
        link["x-schemathesis"] = {"merge_body": not whole_body}
    return method, path, link


_TOKENS = {
    "Me": _link(
        "get",
        "/api/auth/me",
        "The signed-in user, with the new access token",
        {"header.Authorization": "Bearer {$response.body#/token}"},
    ),
    "Refresh": _link(
        "post",
        "/api/auth/refresh",
        "Spend the refresh token for new tokens",
        body={"refreshToken": "$response.body#/refreshToken"},
    ),
}
_BOOKING_ID = {"path.booking_id": "$response.body#/id"}
_BOOKING = {
    "Read": _link("get", "/api/bookings/{booking_id}", "The booking", _BOOKING_ID),
    "ReadAsOwner": _link(
        "get",
        "/api/bookings/{booking_id}/{user_id}",
        "The booking, the seed's form",
        {**_BOOKING_ID, "path.user_id": "$response.body#/userId"},
    ),
    "ApplyDiscount": _link(
        "post",
        "/api/discounts/apply",
        "Apply a discount code to the booking",
        body={"bookingId": "$response.body#/id"},
        whole_body=False,
    ),
    "Pay": _link(
        "post",
        "/api/payments/pay",
        "Pay the amount due",
        body={"bookingId": "$response.body#/id", "amount": "$response.body#/amountDue"},
    ),
    "Ticket": _link(
        "post",
        "/api/tickets/generate",
        "Issue the ticket (once the booking is paid)",
        body={"bookingId": "$response.body#/id"},
    ),
    "Cancel": _link("post", "/api/bookings/{booking_id}/cancel", "Cancel it", _BOOKING_ID),
}
_TICKET_ID = {"path.ticket_id": "$response.body#/id"}
_TICKET = {
    "Read": _link("get", "/api/tickets/{ticket_id}", "The ticket", _TICKET_ID),
    "Pdf": _link("get", "/api/tickets/{ticket_id}/pdf", "The ticket as a PDF", _TICKET_ID),
}
_FLIGHT_ID = {"path.flight_id": "$response.body#/flightId"}
_FIRST_FLIGHT = {"path.flight_id": "$response.body#/itineraries/0/segments/0/flightId"}

# (method, path, status) of a response -> its links (name -> (method, path, link)).
JOURNEY: dict[tuple[str, str, str], dict[str, tuple[str, str, Doc]]] = {
    ("post", "/api/auth/signup", "201"): _TOKENS,
    ("post", "/api/auth/login", "200"): _TOKENS,
    ("post", "/api/auth/refresh", "200"): _TOKENS,
    ("get", "/api/flights/search", "200"): {
        "SeatMap": _link(
            "get", "/api/seats/{flight_id}", "The first itinerary's first flight", _FIRST_FLIGHT
        ),
        "Flight": _link("get", "/api/flights/{flight_id}", "That flight", _FIRST_FLIGHT),
    },
    ("get", "/api/seats/{flight_id}", "200"): {
        "Hold": _link(
            "post",
            "/api/seats/lock",
            "Hold the map's first seat",
            body={
                "flightId": "$response.body#/flightId",
                "seatNumber": "$response.body#/seats/0/seatNumber",
            },
        ),
    },
    ("post", "/api/flights", "201"): {
        "Read": _link("get", "/api/flights/{flight_id}", "The new flight", _FLIGHT_ID),
        "SeatMap": _link("get", "/api/seats/{flight_id}", "Its seat map", _FLIGHT_ID),
        "Cancel": _link("post", "/api/flights/{flight_id}/cancel", "Cancel it", _FLIGHT_ID),
    },
    ("post", "/api/seats/lock", "201"): {
        "Book": _link(
            "post",
            "/api/bookings",
            "Book the held seats",
            body={"holdIds": ["$response.body#/holdId"]},
        ),
        "Release": _link(
            "delete",
            "/api/seats/lock/{hold_id}",
            "Release the hold",
            {"path.hold_id": "$response.body#/holdId"},
        ),
    },
    ("post", "/api/bookings", "201"): _BOOKING,
    ("post", "/api/bookings/create", "201"): _BOOKING,
    ("post", "/api/payments/pay", "201"): {
        "Ticket": _link(
            "post",
            "/api/tickets/generate",
            "Issue the paid booking's ticket",
            body={"bookingId": "$response.body#/bookingId"},
        ),
        "Read": _link(
            "get",
            "/api/payments/{payment_id}",
            "The payment",
            {"path.payment_id": "$response.body#/paymentId"},
        ),
        "Booking": _link(
            "get",
            "/api/bookings/{booking_id}",
            "The booking, now confirmed",
            {"path.booking_id": "$response.body#/bookingId"},
        ),
    },
    ("post", "/api/tickets/generate", "201"): _TICKET,
    ("post", "/api/tickets/generate", "200"): _TICKET,
    ("post", "/api/notifications/send", "202"): {
        "Read": _link(
            "get",
            "/api/notifications/{notification_id}",
            "The notification",
            {"path.notification_id": "$response.body#/id"},
        ),
    },
}


def add_links(doc: Doc) -> None:
    """The journey's links, where both ends are in `doc` (a service may be missing)."""
    paths = doc["paths"]
    for (method, path, status), links in JOURNEY.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        for name, (target_method, target_path, link) in links.items():
            if target_method in paths.get(target_path, {}):
                response.setdefault("links", {})[name] = copy.deepcopy(link)


async def fetch_docs(
    client: httpx.AsyncClient, urls: dict[str, str], *, wait_seconds: float
) -> tuple[dict[str, Doc], list[str]]:
    """Every service's `/openapi.json` (in `urls` order), and the names that did not answer."""

    async def one(url: str) -> Doc | None:
        try:
            response = await client.get(url.rstrip("/") + "/openapi.json", timeout=wait_seconds)
            if response.status_code != 200:
                return None
            doc = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    names = list(urls)
    results = await asyncio.gather(*(one(urls[n]) for n in names))
    docs = {n: d for n, d in zip(names, results, strict=True) if d is not None}
    return docs, [n for n in names if n not in docs]


class OpenApiCache:
    """The merged document, rebuilt at most every `ttl` seconds (sooner while incomplete)."""

    def __init__(self, *, ttl: float, incomplete_ttl: float = 5.0) -> None:
        self.ttl = ttl
        self.incomplete_ttl = min(incomplete_ttl, ttl)
        self._doc: Doc | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self, build: Callable[[], Awaitable[tuple[Doc, bool]]]) -> Doc:
        """The cached document, or `build()`'s (document, complete) when it has expired."""
        if self._doc is not None and time.monotonic() < self._expires:
            return self._doc
        async with self._lock:
            if self._doc is None or time.monotonic() >= self._expires:
                doc, complete = await build()
                self._doc = doc
                self._expires = time.monotonic() + (self.ttl if complete else self.incomplete_ttl)
            return self._doc
