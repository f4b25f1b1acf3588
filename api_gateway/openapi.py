"""One OpenAPI document for the whole API: every service's, merged, as the gateway serves it.

Only the paths the gateway actually routes to a service are kept (so `/internal/`, `/health`,
`/ready` and `/metrics` are dropped). Components of the same name and the same content are
shared; a real collision (same name, different content) is renamed after its service
(`Booking` + `Passenger` -> `BookingPassenger`) and that service's `$ref`s follow.
"""

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from api_gateway.routes import PUBLIC, canonical_path, is_internal, service_for

Doc = dict[str, Any]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SKIPPED_PATHS = frozenset({"/health", "/ready", "/metrics"})
BEARER = "bearerAuth"


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
            "securitySchemes": {BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        },
        "security": [{BEARER: []}],
        "tags": [],
    }
    components: dict[str, dict[str, Any]] = merged["components"]
    operation_ids: set[str] = set()
    tag_names: set[str] = set()

    for service, source in docs.items():
        doc = copy.deepcopy(source)
        own = {k: v for k, v in (doc.get("components") or {}).items() if isinstance(v, dict)}
        renames = _plan_renames(service, own, components)
        for kind, items in _rewrite_refs(own, renames).items():
            target = components.setdefault(kind, {})
            for name, value in items.items():
                target[renames.get((kind, name), name)] = value

        documented = False
        for path, item in (doc.get("paths") or {}).items():
            if not routed_here(path, service) or path in merged["paths"]:
                continue
            item = _rewrite_refs(item, renames)
            for method in HTTP_METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                operation.setdefault("tags", [service])
                op_id = operation.get("operationId")
                if op_id in operation_ids:
                    operation["operationId"] = f"{service}_{op_id}"
                if op_id:
                    operation_ids.add(operation["operationId"])
                if (method.upper(), canonical_path(path)) in PUBLIC:
                    operation["security"] = []
            merged["paths"][path] = item
            documented = True

        for tag in doc.get("tags") or []:
            if isinstance(tag, dict) and tag.get("name") not in tag_names:
                tag_names.add(tag["name"])
                merged["tags"].append(tag)
        if documented and service not in tag_names:
            tag_names.add(service)
            info = doc.get("info") or {}
            merged["tags"].append({"name": service, "description": info.get("title", service)})

    if missing:
        merged["info"]["x-missing-services"] = list(missing)
    return merged


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
