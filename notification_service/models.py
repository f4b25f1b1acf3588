"""Tables of the `notifications` schema: every message sent (or to be sent) to a user."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.events import outbox_table, processed_events_table

SCHEMA = "notifications"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


EMAIL, SMS = "email", "sms"
CHANNELS = (EMAIL, SMS)
QUEUED, SENT, FAILED = "queued", "sent", "failed"
STATUSES = (QUEUED, SENT, FAILED)
MANUAL = "message"  # the event type of a message sent through POST /api/notifications/send

TZ = DateTime(timezone=True)


class Notification(Base):
    """One message on one channel. An event gives at most one per channel (the unique key)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "channel"),
        CheckConstraint(f"channel IN {CHANNELS!r}", name="channel"),
        CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_queued", "id", postgresql_where=text(f"status = '{QUEUED}'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(10))
    event_type: Mapped[str] = mapped_column(String(100))
    # The domain event this notifies of (None for a message sent through the API).
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    booking_id: Mapped[int | None] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(12))
    subject: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), server_default=QUEUED)
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(TZ)


outbox = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)
