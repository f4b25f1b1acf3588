"""The OpenAPI document is the contract: every answer a route gives is in it, errors included.

Errors are RFC 9457 problems (`application/problem+json`, the `Problem` schema below). A route
declares the problems only it can answer with `responses=problems(404, 409)` (a status, or a
`(status, description)` pair); `install_openapi(app)`, called once by `create_app`, adds the
rest to every operation of the app's document, from what the route is:

- 422 everywhere (request validation, a control character in the path, query or a header),
  as problem+json: FastAPI's `HTTPValidationError` is gone;
- 400 where there is a JSON body (one that does not parse);
- 401 and the bearer security requirement where a user token is needed (the route depends on
  `current_user`), 403 where only an administrator may call it (`current_admin`), both under
  `/internal/` (service identity);
- 408 and 431 (headers or body too slow, headers too big), 413 (body over the limit) and 503
  (over capacity, a backing store down; with Retry-After) on every route.

The gateway's merged document adds what only the gateway answers (`api_gateway.openapi`).

Texts say what they accept: every string parameter, and every text field of a request body
(`document_text`, called by `shared.schemas.CamelModel`), gets the pattern of the text
`shared.textguard` lets through (no control characters; a stripped field's spaces and length
rules spelled out), so that a schema-valid request is never refused for its text and an
invalid one never accepted.

Integer bounds stay exact: FastAPI passes the document through its pydantic OpenAPI model,
whose `minimum`/`maximum` are floats, and `float(2**63 - 1)` is 2**63, a value no BIGINT
column (and so no route) accepts.
"""

import copy
import json
from collections.abc import Container, Iterable, Iterator, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from shared.errors import PROBLEM_JSON
from shared.security import current_admin, current_user

Doc = dict[str, Any]
Responses = dict[int | str, dict[str, Any]]

PROBLEM = "Problem"
PROBLEM_REF = f"#/components/schemas/{PROBLEM}"
BEARER = "bearerAuth"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

PROBLEM_SCHEMA: Doc = {
    "title": PROBLEM,
    "type": "object",
    "description": (
        "RFC 9457 problem details. `code` is a stable machine string; a problem may carry "
        "more members (e.g. `holdId`, `amountDue`, `retryAfter`)."
    ),
    "required": ["type", "title", "status", "detail", "code", "instance", "requestId"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "examples": ["NOT_FOUND"]},
        "instance": {"type": "string", "description": "The request's path"},
        "requestId": {"type": ["string", "null"], "description": "As in X-Request-ID"},
        "errors": {
            "type": "array",
            "description": "What was invalid (422 VALIDATION_FAILED and the like)",
            "items": {
                "type": "object",
                "required": ["loc", "message", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

BEARER_SCHEME: Doc = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "The access token from sign-up, login or refresh",
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}

DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request: a body that is not JSON (BAD_REQUEST)",
    401: "No, invalid or expired access token (UNAUTHORIZED, INVALID_TOKEN)",
    402: "Payment declined",
    403: "Not allowed to the caller (FORBIDDEN)",
    404: "Not found, or not the caller's (NOT_FOUND and the resource's own code)",
    405: "Method not allowed on this path (METHOD_NOT_ALLOWED)",
    408: "The request's headers or body did not arrive in time (REQUEST_TIMEOUT)",
    409: "In conflict with the resource's state",
    413: "Request body over the limit (PAYLOAD_TOO_LARGE)",
    415: "Unsupported body media type (UNSUPPORTED_MEDIA_TYPE)",
    422: "Invalid request (VALIDATION_FAILED, with `errors`)",
    431: "Request headers too large (HEADERS_TOO_LARGE)",
    429: "Too many requests (RATE_LIMITED and the like), with Retry-After",
    502: "An upstream service answered badly (BAD_GATEWAY)",
    503: "Over capacity or a backing store unavailable (OVERLOADED, SERVICE_UNAVAILABLE), "
    "with Retry-After",
    504: "An upstream service timed out (UPSTREAM_TIMEOUT)",
}
_WITH_RETRY_AFTER = frozenset({429, 503})
# What every route of a service can answer, whatever it does: a slow or oversized request
# (`shared.serve`, `shared.limits`), an invalid one, and overload.
SERVICE_DEFAULTS = (408, 413, 422, 431, 503)


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """One documented problem answer: problem+json with the `Problem` schema."""
    response: dict[str, Any] = {
        "description": description or DESCRIPTIONS.get(status, "Problem"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status in _WITH_RETRY_AFTER:
        response["headers"] = dict(_RETRY_AFTER)
    return response


def problems(*statuses: int | tuple[int, str]) -> Responses:
    """`responses=problems(404, (409, "Seat taken (SEAT_UNAVAILABLE)"))` on a route."""
    out: Responses = {}
    for item in statuses:
        status, description = item if isinstance(item, tuple) else (item, None)
        out[status] = problem_response(status, description)
    return out


def is_problem_status(status: str) -> bool:
    return status.isdigit() and int(status) >= 400


def add_problem(operation: Doc, status: int, description: str | None = None) -> None:
    """Document `status` on `operation` unless it is already (a route's own words win)."""
    operation.setdefault("responses", {}).setdefault(
        str(status), problem_response(status, description)
    )


def as_problem(response: Doc, status: int) -> None:
    """An error answer documented any way (no content, FastAPI's `HTTPValidationError`,
    problem+json without a schema): made problem+json with the `Problem` schema."""
    response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
    if status in _WITH_RETRY_AFTER:
        response.setdefault("headers", dict(_RETRY_AFTER))
    if response.get("description") in (None, "", "Validation Error", "Additional Response"):
        response["description"] = DESCRIPTIONS.get(status, "Problem")


def operations(doc: Doc) -> Iterator[tuple[str, str, Doc]]:
    """(path, method, operation) for every operation of `doc`."""
    for path, item in (doc.get("paths") or {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                yield path, method, operation


def exact_integer_bounds(node: Any) -> None:
    """Integer bounds back to integers; the float for 2**63 - 1 back to 2**63 - 1."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                value = node.get(key)
                if isinstance(value, float) and value.is_integer():
                    node[key] = min(max(int(value), INT64_MIN), INT64_MAX)
        for value in node.values():
            exact_integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            exact_integer_bounds(value)


# Text, as `shared.textguard` takes it: no C0 or C1 control character nor DEL (free text may
# hold tab, line feed and carriage return; a header value tab and obs-text).
_REFUSED = r"\x00-\x1f\x7f-\x9f"
_REFUSED_IN_FREE_TEXT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_REFUSED_IN_HEADER = r"\x00-\x08\x0a-\x1f\x7f"
# What pydantic's `strip_whitespace` strips (Unicode White_Space).
_SPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = f"^[^{_REFUSED}]*$"
HEADER_PATTERN = f"^[^{_REFUSED_IN_HEADER}]*$"
_UNCONSTRAINED = ("pattern", "format", "enum", "const", "$ref")


def text_pattern(
    *,
    free_text: bool = False,
    strip: bool = False,
    min_length: int | None = None,
    max_length: int | None = None,
) -> str:
    """The pattern of the text a field accepts. A stripped field's length bounds apply to the
    text without its surrounding spaces (which may be anything pydantic strips), so they go
    into the pattern: the first and the last of `min_length` to `max_length` characters are
    not spaces."""
    refused = _REFUSED_IN_FREE_TEXT if free_text else _REFUSED
    if not strip:
        return f"^[^{refused}]*$"
    edge, inner = f"[^{_SPACE}{refused}]", f"[^{refused}]"
    low = min_length or 0
    high = "" if max_length is None else str(max(max_length - 2, 0))
    if max_length == 0:
        core = ""
    elif max_length == 1:
        core = edge
    elif low <= 1:
        core = f"{edge}(?:{inner}{{0,{high}}}{edge})?"
    else:
        core = f"{edge}{inner}{{{low - 2},{high}}}{edge}"
    if low == 0 and core:
        core = f"(?:{core})?"
    return f"^[{_SPACE}]*{core}[{_SPACE}]*$"


def _str_schemas(core: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The `str` core schemas a field's core schema validates with (not other models')."""
    kind = core.get("type")
    if kind == "str":
        yield core
        return
    if kind in ("model", "definitions", "definition-ref", "dataclass", "typed-dict"):
        return
    for key in ("schema", "items_schema", "keys_schema", "values_schema"):
        if isinstance(core.get(key), Mapping):
            yield from _str_schemas(core[key])
    for choice in core.get("choices") or ():
        yield from _str_schemas(choice[0] if isinstance(choice, tuple) else choice)


def _string_schemas(node: Any) -> Iterator[Doc]:
    """The JSON string schemas in a property's schema (not inside a referenced one)."""
    if isinstance(node, list):
        for item in node:
            yield from _string_schemas(item)
        return
    if not isinstance(node, dict) or "$ref" in node:
        return
    if node.get("type") == "string":
        yield node
    for key in ("anyOf", "oneOf", "allOf", "items", "prefixItems", "additionalProperties"):
        if key in node:
            yield from _string_schemas(node[key])


def _property_name(name: str, field: Mapping[str, Any]) -> str:
    alias = field.get("validation_alias")
    while isinstance(alias, list) and alias:  # AliasChoices / AliasPath: the first one
        alias = alias[0]
    return alias if isinstance(alias, str) else field.get("serialization_alias") or name


def document_text(
    core_schema: Mapping[str, Any],
    json_schema: Doc,
    *,
    free_text: Container[str] = (),
    unchecked: Container[str] = (),
) -> None:
    """A model's request JSON schema, completed with what its text fields refuse: each string
    without a pattern, format or enum of its own gets the pattern of the text it accepts
    (`unchecked` fields, secrets, accept any text)."""
    # A model with a model validator is wrapped in a function schema: the model is inside.
    while core_schema.get("type", "").startswith("function-") and "schema" in core_schema:
        core_schema = core_schema["schema"]
    if core_schema.get("type") != "model" or core_schema["schema"].get("type") != "model-fields":
        return
    properties = json_schema.get("properties") or {}
    for name, field in core_schema["schema"]["fields"].items():
        if name in unchecked:
            continue
        prop = properties.get(_property_name(name, field))
        kinds = {
            (bool(s.get("strip_whitespace")), s.get("min_length"), s.get("max_length"))
            for s in _str_schemas(field["schema"])
            if not s.get("pattern")
        }
        if prop is None or len(kinds) != 1:
            continue  # no text, or texts of several kinds (none of ours)
        strip, low, high = kinds.pop()
        pattern = text_pattern(
            free_text=name in free_text, strip=strip, min_length=low, max_length=high
        )
        for schema in _string_schemas(prop):
            if not any(key in schema for key in _UNCONSTRAINED):
                schema["pattern"] = pattern
                if strip:  # the bounds are in the pattern, on the stripped text
                    schema.pop("minLength", None)
                    schema.pop("maxLength", None)


def _document_parameter_text(operation: Doc) -> None:
    """Query, path and header strings refuse control characters too (`TextGuard`)."""
    for parameter in operation.get("parameters") or ():
        pattern = HEADER_PATTERN if parameter.get("in") == "header" else TEXT_PATTERN
        for schema in _string_schemas(parameter.get("schema")):
            if not any(key in schema for key in _UNCONSTRAINED):
                schema["pattern"] = pattern


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _route_facts(routes: Iterable[BaseRoute]) -> dict[tuple[str, str], set[str]]:
    """(path, method) -> what the route is: "user", "admin", "internal", "body"."""
    facts: dict[tuple[str, str], set[str]] = {}
    for context in iter_route_contexts(list(routes)):
        # As included: its path has the router's prefix, its dependencies the router's.
        route: Any = context
        if not isinstance(context.original_route, APIRoute) or not route.include_in_schema:
            continue
        calls = set(_calls(route.dependant))
        found = set()
        if current_user in calls:
            found.add("user")
        if current_admin in calls:
            found.add("admin")
        if "internal" in route.path_format.split("/"):
            found.add("internal")
        if route.body_field is not None:
            found.add("body")
        for method in route.methods or ():
            facts[(route.path_format, method.lower())] = found
    return facts


def _unreferenced(doc: Doc, name: str) -> bool:
    needle = f'"#/components/schemas/{name}"'
    rest = {k: v for k, v in doc.get("components", {}).get("schemas", {}).items() if k != name}
    return needle not in json.dumps([doc.get("paths"), rest])


def complete_document(doc: Doc, routes: Iterable[BaseRoute]) -> Doc:
    """`doc` (FastAPI's) with every problem documented, security declared and exact bounds."""
    facts = _route_facts(routes)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})[PROBLEM] = copy.deepcopy(PROBLEM_SCHEMA)
    secured = False
    for path, method, operation in operations(doc):
        found = facts.get((path, method), set())
        if "body" in found:
            add_problem(operation, 400)
        if "user" in found:
            add_problem(operation, 401)
            operation["security"] = [{BEARER: []}]
            secured = True
        if "admin" in found:
            add_problem(operation, 403, "Administrators only (FORBIDDEN)")
        if "internal" in found:
            add_problem(operation, 401, "No or invalid service token")
            add_problem(operation, 403, "A service this route does not serve")
        for status in SERVICE_DEFAULTS:
            add_problem(operation, status)
        _document_parameter_text(operation)
        for status, response in operation["responses"].items():
            if is_problem_status(status):
                as_problem(response, int(status))
    if secured:
        components.setdefault("securitySchemes", {})[BEARER] = dict(BEARER_SCHEME)
    for name in ("HTTPValidationError", "ValidationError"):
        if name in components["schemas"] and _unreferenced(doc, name):
            del components["schemas"][name]
    exact_integer_bounds(doc)
    return doc


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` answer the completed document (built once, then cached)."""
    generate = app.openapi

    def openapi() -> Doc:
        if app.openapi_schema is None:
            app.openapi_schema = complete_document(generate(), app.routes)
        return app.openapi_schema

    # FastAPI's documented way to customise the document: replace the bound method.
    app.openapi = openapi  # type: ignore[method-assign]
