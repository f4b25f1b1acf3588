"""One way for a route to reach what its app holds: `Annotated[T, from_state("name")]`.

Everything a service builds at start-up lives on `app.state` (clients, settings, stores); a
route declares what it needs with a dependency made here. It is `async` on purpose: FastAPI
runs a plain `def` dependency in its thread pool, a thread hop per request for an attribute
read.
"""

from typing import Any

from fastapi import Depends, Request


def from_state(name: str, *path: str) -> Any:
    """A dependency that answers `request.app.state.<name>[.<path>...]`."""

    async def dependency(request: Request) -> Any:
        value = getattr(request.app.state, name)
        for attribute in path:
            value = getattr(value, attribute)
        return value

    dependency.__name__ = f"state_{name}"
    return Depends(dependency)
