"""Request and response bodies of the ticket service (camelCase in JSON).

Flight times are shown at each airport's local time, with its offset (storage is UTC).
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from shared.ids import BIGINT_MAX
from shared.money import MoneyOut
from shared.schemas import CamelModel, RequestModel
from ticket_service.airports import local_time
from ticket_service.models import Coupon, Invoice, Ticket
from ticket_service.service import pdf_path

Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]


class TicketGenerate(RequestModel):
    """`{"bookingId": 42}`, or the seed's `{"booking_id": 42}`."""

    booking_id: Id


class SegmentOut(CamelModel):
    flight_id: int
    flight_number: str
    airline: str
    origin: str
    destination: str
    departure_time: datetime
    arrival_time: datetime
    duration_minutes: int
    cabin: str


class CouponOut(CamelModel):
    ticket_number: str
    passenger: str
    flight_id: int
    flight_number: str
    airline: str
    origin: str
    destination: str
    departure_time: datetime
    arrival_time: datetime
    cabin: str
    seat_number: str

    @classmethod
    def of(cls, c: Coupon) -> "CouponOut":
        return cls(
            ticket_number=c.ticket_number,
            passenger=c.passenger,
            flight_id=c.flight_id,
            flight_number=c.flight_number,
            airline=c.airline,
            origin=c.origin,
            destination=c.destination,
            departure_time=local_time(c.departure_time, c.origin),
            arrival_time=local_time(c.arrival_time, c.destination),
            cabin=c.cabin,
            seat_number=c.seat_number,
        )


class PassengerOut(CamelModel):
    name: str


class InvoiceLineOut(CamelModel):
    line: int
    description: str
    sac: str
    passenger: str
    flight_id: int
    flight_number: str
    seat_number: str
    cabin: str
    base: MoneyOut
    gst_rate: Annotated[Decimal, Field(description="GST rate as a fraction: 0.05 is 5%")]
    gst: MoneyOut
    fee: MoneyOut
    total: MoneyOut


class Seller(CamelModel):
    name: str
    gstin: str
    address: str


class BilledTo(CamelModel):
    user_id: int
    name: str | None = None
    email: str | None = None


class InvoiceOut(CamelModel):
    number: str
    financial_year: str
    issued_at: datetime
    seller: Seller
    billed_to: BilledTo
    lines: list[InvoiceLineOut]
    base: MoneyOut
    gst: MoneyOut
    fees: MoneyOut
    discount: MoneyOut
    total: MoneyOut
    amount_paid: MoneyOut
    total_in_words: str
    currency: str

    @classmethod
    def of(cls, inv: Invoice) -> "InvoiceOut":
        return cls(
            number=inv.number,
            financial_year=inv.financial_year,
            issued_at=inv.issued_at,
            seller=Seller.model_validate(inv.seller),
            billed_to=BilledTo.model_validate(inv.billed_to),
            lines=[InvoiceLineOut.model_validate(line) for line in inv.lines],
            base=inv.base,
            gst=inv.gst,
            fees=inv.fees,
            discount=inv.discount,
            total=inv.total,
            amount_paid=inv.total,
            total_in_words=inv.total_in_words,
            currency=inv.currency,
        )


class TicketOut(CamelModel):
    id: int
    booking_id: int
    reference: str
    user_id: int
    status: str
    issued_at: datetime
    voided_at: datetime | None
    void_reason: str | None
    segments: list[SegmentOut]
    passengers: list[PassengerOut]
    tickets: list[CouponOut]
    invoice: InvoiceOut
    currency: str
    discount_code: str | None
    pdf_url: str

    @classmethod
    def of(cls, t: Ticket) -> "TicketOut":
        coupons = [CouponOut.of(c) for c in t.coupons]
        segments: dict[int, SegmentOut] = {}
        for c in coupons:
            if c.flight_id not in segments:
                cabins = {x.cabin for x in coupons if x.flight_id == c.flight_id}
                segments[c.flight_id] = SegmentOut(
                    flight_id=c.flight_id,
                    flight_number=c.flight_number,
                    airline=c.airline,
                    origin=c.origin,
                    destination=c.destination,
                    departure_time=c.departure_time,
                    arrival_time=c.arrival_time,
                    duration_minutes=round(
                        (c.arrival_time - c.departure_time).total_seconds() / 60
                    ),
                    cabin=cabins.pop() if len(cabins) == 1 else "mixed",
                )
        snapshot: dict[str, Any] = t.snapshot or {}
        names = [
            p["name"]
            for p in snapshot.get("passengers") or []
            if isinstance(p, dict) and isinstance(p.get("name"), str)
        ] or list(dict.fromkeys(c.passenger for c in coupons))
        return cls(
            id=t.id,
            booking_id=t.booking_id,
            reference=t.reference,
            user_id=t.user_id,
            status=t.status,
            issued_at=t.issued_at,
            voided_at=t.voided_at,
            void_reason=t.void_reason,
            segments=list(segments.values()),
            passengers=[PassengerOut(name=n) for n in names],
            tickets=coupons,
            invoice=InvoiceOut.of(t.invoice),
            currency=t.currency,
            discount_code=snapshot.get("discountCode"),
            pdf_url=pdf_path(t.id),
        )


class TicketPage(CamelModel):
    items: list[TicketOut]
