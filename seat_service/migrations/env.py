"""Alembic environment of the seat service: only the `seats` schema."""

from seat_service.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata)
