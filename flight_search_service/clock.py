"""The service's clock, one function so tests can move time (`monkeypatch.setattr`)."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
