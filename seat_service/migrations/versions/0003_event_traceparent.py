"""outbox: the trace context of each event's producer

Revision ID: 0003_event_traceparent
Revises: 0002_event_version
Create Date: 2026-12-14
"""

from collections.abc import Sequence

from shared.migrations import add_event_traceparent, drop_event_traceparent

revision: str = "0003_event_traceparent"
down_revision: str | None = "0002_event_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_event_traceparent("seats")


def downgrade() -> None:
    drop_event_traceparent("seats")
