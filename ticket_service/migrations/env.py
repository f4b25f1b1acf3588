"""Alembic environment of the ticket service: only the `tickets` schema."""

from shared.migrations import run_migrations
from ticket_service.models import Base

run_migrations(Base.metadata)
