"""The one clock: `utcnow()`, an aware UTC datetime.

Call it through the module (`clock.utcnow()`) so that a test can move time everywhere with
`monkeypatch.setattr(clock, "utcnow", ...)`.
"""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
