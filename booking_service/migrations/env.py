"""Alembic environment of the booking service: only the `bookings` schema."""

from booking_service.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata)
