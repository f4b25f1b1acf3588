"""`Annotated` dependencies of this service's routes (async: no thread-pool hop)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from flight_search_service.airports import AirportDirectory
from flight_search_service.cache import SearchCache
from flight_search_service.config import FlightSearchSettings
from flight_search_service.search import SearchRules
from shared import clock
from shared.events import OutboxRelay


@dataclass(frozen=True, slots=True)
class Context:
    """The app-lifetime resources routes use, from `app.state`, in one dependency."""

    settings: FlightSearchSettings
    airports: AirportDirectory
    cache: SearchCache
    relay: OutboxRelay
    rules: SearchRules
    # The service's engine in autocommit (`Database.autocommit_engine`), for the search: one
    # statement needs no BEGIN and ROLLBACK round trips around it.
    reads: AsyncEngine


async def _context(request: Request) -> Context:
    state = request.app.state
    ctx = getattr(state, "fs_context", None)
    if ctx is None:
        s: FlightSearchSettings = state.settings
        ctx = state.fs_context = Context(
            settings=s,
            airports=state.airports,
            cache=state.search_cache,
            relay=state.relay,
            rules=SearchRules(s.min_connection_minutes, s.max_layover_minutes),
            reads=state.db.autocommit_engine,
        )
    return ctx


async def _now() -> datetime:
    return clock.utcnow()


ContextDep = Annotated[Context, Depends(_context)]
NowDep = Annotated[datetime, Depends(_now)]
