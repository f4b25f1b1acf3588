"""Tables of the `discounts` schema: codes and their redemptions (one per booking)."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.events import outbox_table, processed_events_table

SCHEMA = "discounts"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


FLAT, PERCENT = "flat", "percent"
KINDS = (FLAT, PERCENT)
APPLIED, RELEASED = "applied", "released"
STATUSES = (APPLIED, RELEASED)

Money = Numeric(10, 2)
TZ = DateTime(timezone=True)


class DiscountCode(Base):
    """A code: a flat amount or a percentage (with a cap) off a booking's amount due."""

    __tablename__ = "codes"
    __table_args__ = (
        CheckConstraint("code = upper(code)", name="code_upper"),
        CheckConstraint(f"kind IN {KINDS!r}", name="kind"),
        CheckConstraint(f"value > 0 AND (kind = '{FLAT}' OR value <= 100)", name="value"),
        CheckConstraint("min_booking_amount >= 0", name="min_booking_amount"),
        CheckConstraint("max_discount IS NULL OR max_discount > 0", name="max_discount"),
        CheckConstraint("usage_limit IS NULL OR usage_limit >= 0", name="usage_limit"),
        CheckConstraint("per_user_limit IS NULL OR per_user_limit >= 1", name="per_user_limit"),
        # The final guard: the counter never goes negative nor past the limit.
        CheckConstraint(
            "times_used >= 0 AND (usage_limit IS NULL OR times_used <= usage_limit)",
            name="times_used",
        ),
        CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_until > valid_from",
            name="validity",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    # INR for a flat code, a percentage (0-100] for a percent code.
    value: Mapped[Decimal] = mapped_column(Money)
    max_discount: Mapped[Decimal | None] = mapped_column(Money)
    min_booking_amount: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    valid_from: Mapped[datetime | None] = mapped_column(TZ)
    valid_until: Mapped[datetime | None] = mapped_column(TZ)
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    per_user_limit: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Redemptions counted now (applied, not released); changed only by conditional UPDATEs.
    times_used: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now(), onupdate=func.now())


class Redemption(Base):
    """A code applied to a booking. One per booking, ever (the booking id is unique)."""

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        CheckConstraint("amount >= 0", name="amount"),
        Index(
            "ix_redemptions_code_user_applied",
            "code_id",
            "user_id",
            postgresql_where=text(f"status = '{APPLIED}'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("codes.id"))
    booking_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), server_default=APPLIED)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    released_at: Mapped[datetime | None] = mapped_column(TZ)
    release_reason: Mapped[str | None] = mapped_column(String(100))


outbox = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)
