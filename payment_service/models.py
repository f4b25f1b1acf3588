"""Tables of the `payments` schema: payments, refunds, idempotency keys, the mock gateway's
charges, and the outbox."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    Row,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.events import outbox_table

SCHEMA = "payments"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


# PENDING: recorded, card not charged yet. CHARGED: money taken, booking not confirmed yet.
# SUCCEEDED: booking confirmed. FAILED: no money taken (declined, refused, abandoned).
# REFUNDED: money given back (booking could not be confirmed, or was cancelled).
PENDING, CHARGED, SUCCEEDED, FAILED, REFUNDED = (
    "PENDING",
    "CHARGED",
    "SUCCEEDED",
    "FAILED",
    "REFUNDED",
)
STATUSES = (PENDING, CHARGED, SUCCEEDED, FAILED, REFUNDED)
# In flight or succeeded: at most one such payment per booking (the unique index below).
IN_FLIGHT = (PENDING, CHARGED, SUCCEEDED)

# An idempotency key's request: IN_PROGRESS until its response is stored (DONE).
IN_PROGRESS, DONE = "in_progress", "done"
KEY_STATUSES = (IN_PROGRESS, DONE)

# The mock card gateway's answer to a charge attempt (a void records one that never happened).
CHARGE_SUCCEEDED, CHARGE_DECLINED, CHARGE_VOIDED = "succeeded", "declined", "voided"
CHARGE_STATUSES = (CHARGE_SUCCEEDED, CHARGE_DECLINED, CHARGE_VOIDED)

Money = Numeric(10, 2)
TZ = DateTime(timezone=True)


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    booking_id: Mapped[int] = mapped_column(BigInteger)
    booking_reference: Mapped[str | None] = mapped_column(String(6))
    user_id: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_brand: Mapped[str | None] = mapped_column(String(20))
    decline_code: Mapped[str | None] = mapped_column(String(40))
    failure_code: Mapped[str | None] = mapped_column(String(40))
    gateway_charge_id: Mapped[str | None] = mapped_column(String(40))
    booking_status: Mapped[str | None] = mapped_column(String(16))
    # False while the booking service has not been told this payment's final outcome.
    settled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    charged_at: Mapped[datetime | None] = mapped_column(TZ)
    succeeded_at: Mapped[datetime | None] = mapped_column(TZ)
    refunded_at: Mapped[datetime | None] = mapped_column(TZ)

    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        # At most one payment per booking is in flight or has succeeded: the final guard that
        # two racing pays can never both charge.
        Index(
            "uq_payments_booking_in_flight",
            "booking_id",
            unique=True,
            postgresql_where=text(f"status IN {IN_FLIGHT!r}"),
        ),
        Index("ix_payments_booking_id", "booking_id"),
        Index("ix_payments_user_id_id", "user_id", "id"),
        Index("ix_payments_unsettled", "updated_at", postgresql_where=text("NOT settled")),
        Index(
            "ix_payments_user_id_idempotency_key",
            "user_id",
            "idempotency_key",
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )


# What reads a payment takes either: the saga's steps work on Core rows (same attribute names).
PaymentRow = Payment | Row[Any]


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("payments.id", ondelete="CASCADE"), unique=True
    )
    booking_id: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(200))
    gateway_refund_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class IdempotencyKey(Base):
    """A client's `Idempotency-Key` (per user): the request it named and the response given."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # KEY_STATUSES
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    locked_at: Mapped[datetime] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(TZ, index=True)

    __table_args__ = (CheckConstraint(f"status IN {KEY_STATUSES!r}", name="status"),)


class GatewayCharge(Base):
    """The mock card gateway's own ledger: one attempt per payment (its idempotency key)."""

    __tablename__ = "gateway_charges"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # CHARGE_STATUSES
    decline_code: Mapped[str | None] = mapped_column(String(40))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_brand: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    refund_id: Mapped[str | None] = mapped_column(String(40))
    refunded_at: Mapped[datetime | None] = mapped_column(TZ)

    __table_args__ = (CheckConstraint(f"status IN {CHARGE_STATUSES!r}", name="status"),)


outbox = outbox_table(Base.metadata)
