"""Alembic environment of the flight search service (schema "flights")."""

from flight_search_service.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata)
