"""outbox: the version of each event's contract

Revision ID: 0002_event_version
Revises: 0001_notifications
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from shared.migrations import add_event_version, drop_event_version

revision: str = "0002_event_version"
down_revision: str | None = "0001_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_event_version("notifications")


def downgrade() -> None:
    drop_event_version("notifications")
