"""Airports: the reference data (from `airportsdata`) and an in-memory directory of them.

Search looks up its airports (and their time zones) on every request, so the service keeps
the `airports` table in memory; a code it does not know yet is looked up in the database once.
"""

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, case, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flight_search_service.aircraft import AIRCRAFT
from flight_search_service.models import AircraftType, Airport
from flight_search_service.schedule import airport_data


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class AirportInfo:
    code: str
    name: str
    city: str
    country: str
    tz: ZoneInfo
    lat: float
    lon: float

    @classmethod
    def of(cls, row: Airport) -> "AirportInfo":
        return cls(row.iata, row.name, row.city, row.country, zone(row.tz), row.lat, row.lon)

    def document(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "city": self.city,
            "country": self.country,
            "timeZone": self.tz.key,
            "lat": self.lat,
            "lon": self.lon,
        }


class AirportDirectory:
    """Airports by IATA code, loaded from the database on first use."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._by_code: dict[str, AirportInfo] = {}
        self._loaded = False
        # Codes found missing, and when: asked again only after a minute.
        self._missing: dict[str, float] = {}

    async def get(self, code: str) -> AirportInfo | None:
        code = code.upper()
        found = self._by_code.get(code)
        if found is not None:
            return found
        missed = self._missing.get(code)
        if missed is not None and time.monotonic() - missed < 60:
            return None
        async with self.sessionmaker() as session:
            if not self._loaded:
                rows = (await session.scalars(select(Airport))).all()
                self._by_code.update((r.iata, AirportInfo.of(r)) for r in rows)
                self._loaded = True
                row = None
            else:
                row = await session.get(Airport, code)
        if row is not None:
            self._by_code[code] = AirportInfo.of(row)
        found = self._by_code.get(code)
        if found is None:
            if len(self._missing) > 10_000:
                self._missing.clear()
            self._missing[code] = time.monotonic()
        return found

    def tz_of(self, code: str) -> ZoneInfo:
        """Time zone of an airport already looked up (flights only use known airports)."""
        return self._by_code[code].tz

    async def ensure(self, codes: set[str]) -> None:
        for code in [c for c in codes if c not in self._by_code]:
            await self.get(code)


async def search_airports(*, session: AsyncSession, q: str, limit: int) -> list[AirportInfo]:
    """Airports whose code starts with `q`, or whose city or name has a word starting with it.

    An exact code comes first, then code prefixes, city matches, the rest; then by city.
    """
    text = q.strip()
    like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    upper = text.upper()
    rank = case(
        (Airport.iata == upper, 0),
        (Airport.iata.startswith(upper, autoescape=True), 1),
        (Airport.city.ilike(f"{like}%"), 2),
        (Airport.city.ilike(f"% {like}%"), 3),
        else_=4,
    )
    stmt = (
        select(Airport)
        .where(
            or_(
                Airport.iata.startswith(upper, autoescape=True),
                Airport.city.ilike(f"{like}%"),
                Airport.city.ilike(f"% {like}%"),
                Airport.name.ilike(f"{like}%"),
                Airport.name.ilike(f"% {like}%"),
            )
        )
        .order_by(rank, Airport.city, Airport.iata)
        .limit(limit)
    )
    return [AirportInfo.of(r) for r in (await session.scalars(stmt)).all()]


async def load_reference_data(*, session: AsyncSession) -> tuple[int, int]:
    """Upsert every airport with an IATA code and the aircraft types. Returns the counts."""
    rows = [
        {
            "iata": code,
            "name": a["name"][:200],
            "city": (a["city"] or a["name"])[:100],
            "country": a["country"][:2],
            "tz": a["tz"],
            "lat": float(a["lat"]),
            "lon": float(a["lon"]),
        }
        for code, a in sorted(airport_data().items())
    ]
    table = cast(Table, Airport.__table__)
    stmt = pg_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.iata],
        set_={c: stmt.excluded[c] for c in ("name", "city", "country", "tz", "lat", "lon")},
    )
    await session.execute(stmt, rows)
    aircraft = [
        {
            "code": a.code,
            "name": a.name,
            "cabins": a.layout(),
            "seats_economy": a.seats("economy"),
            "seats_business": a.seats("business"),
        }
        for a in AIRCRAFT.values()
    ]
    stmt = pg_insert(cast(Table, AircraftType.__table__)).values(aircraft)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["code"],
            set_={
                c: stmt.excluded[c] for c in ("name", "cabins", "seats_economy", "seats_business")
            },
        )
    )
    return len(rows), len(aircraft)
