"""Hold records: the shape every module passes a hold around in, and how holds are read.

`seats.holds` (Postgres) is the history of every hold granted, whatever became of it; whether
a HELD hold is still live is Redis' to say (`HoldStore`), so a read asks both. What changes
holds lives in its own module: `holding.py` (hold, release), `sales.py` (confirm: a sale, and
its undoing), `scheduled.py` (the sweeper that records expiries). The seat map is
`seatmap.py`. The SQL is hand-written (see `pg.py`).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from seat_service.errors import HoldNotFound
from seat_service.holds import HoldStore
from seat_service.models import EXPIRED, HELD
from seat_service.pg import connect
from shared.db import Database


def parse_hold_id(raw: str | uuid.UUID) -> uuid.UUID:
    """A hold id from a path; anything that is not one is a hold that does not exist."""
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise HoldNotFound() from None


@dataclass(frozen=True)
class HoldInfo:
    hold_id: uuid.UUID
    flight_id: int
    user_id: int
    seats: list[str]
    status: str  # one of models.HOLD_STATUSES
    expires_at: datetime
    created_at: datetime | None = None
    booking_id: str | None = None

    @classmethod
    def of_row(cls, row: Any, *, status: str | None = None) -> "HoldInfo":
        """From a row of these columns, in this order (`HOLD_BY_ID`)."""
        return cls(row[0], row[1], row[2], row[3], status or row[4], *row[5:])


HOLD_BY_ID = (
    "SELECT hold_id, flight_id, user_id, seats, status, expires_at, created_at, booking_id"
    " FROM seats.holds WHERE hold_id = $1"
)
_LIVE_HOLDS_OF = (
    "SELECT hold_id, flight_id, user_id, seats, status,"  # noqa: S608 (a status constant)
    " expires_at, created_at, booking_id"
    f" FROM seats.holds WHERE user_id = $1 AND flight_id = $2 AND status = '{HELD}'"
    " ORDER BY created_at"
)


async def get_hold(*, db: Database, holds: HoldStore, hold_id: uuid.UUID) -> HoldInfo:
    """A hold as the booking service sees it; a held hold no longer in Redis shows expired."""
    async with connect(db) as conn:
        row = await conn.fetchrow(HOLD_BY_ID, hold_id)
    if row is None:
        raise HoldNotFound()
    hold = HoldInfo.of_row(row)
    if hold.status == HELD:
        (live,) = await holds.live_holds([(hold.flight_id, hold.hold_id)])
        if not live:
            return HoldInfo.of_row(row, status=EXPIRED)
    return hold


async def live_holds_of(
    *, db: Database, holds: HoldStore, user_id: int, flight_id: int
) -> list[HoldInfo]:
    """The user's live holds on a flight (the booking service books from them)."""
    async with connect(db) as conn:
        rows = [HoldInfo.of_row(r) for r in await conn.fetch(_LIVE_HOLDS_OF, user_id, flight_id)]
    alive = await holds.live_holds([(h.flight_id, h.hold_id) for h in rows])
    return [h for h, live in zip(rows, alive, strict=True) if live]
