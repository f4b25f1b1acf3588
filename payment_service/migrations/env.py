"""Alembic environment of the payment service: only the `payments` schema."""

from payment_service.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata)
