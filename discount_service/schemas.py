"""Request and response bodies of the discount service (camelCase in JSON)."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    Field,
    StringConstraints,
    model_validator,
)

from shared.ids import BIGINT_MAX
from shared.money import Amount, MoneyOut
from shared.schemas import CamelModel, RequestModel

Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
CodeIn = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
NewCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,39}$"
    ),
]
Limit = Annotated[int, Field(ge=1, le=2**31 - 1)]


class ApplyRequest(RequestModel):
    booking_id: Id
    code: CodeIn


class AppliedOut(CamelModel):
    code: str
    discount: MoneyOut
    amount_before: MoneyOut
    amount_after: MoneyOut
    amount_due: MoneyOut = Field(description="What `POST /api/payments/pay` must now receive")
    currency: str
    booking_id: int
    reference: str


class QuoteOut(CamelModel):
    """A preview: what the code would do (to the booking, when one is given)."""

    code: str
    valid: bool = True
    kind: str
    value: MoneyOut
    max_discount: MoneyOut | None
    min_booking_amount: MoneyOut
    booking_id: int | None = None
    discount: MoneyOut | None = None
    amount_before: MoneyOut | None = None
    amount_after: MoneyOut | None = None
    currency: str = "INR"


class DiscountCodeCreate(RequestModel):
    code: NewCode
    kind: Literal["flat", "percent"]
    value: Amount = Field(description="INR off (flat) or a percentage up to 100 (percent)")
    max_discount: Amount | None = Field(None, description="Cap of a percent code, INR")
    min_booking_amount: Amount = Decimal("0.00")
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    usage_limit: Limit | None = Field(None, description="Uses in total; none: unlimited")
    per_user_limit: Limit | None = Field(None, description="Uses per user; none: unlimited")
    active: bool = True
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = (
        None
    )

    @model_validator(mode="after")
    def _consistent(self) -> "DiscountCodeCreate":
        if self.value <= 0:
            raise ValueError("value must be greater than 0")
        if self.kind == "percent" and self.value > 100:
            raise ValueError("a percent code's value is at most 100")
        if self.max_discount is not None:
            if self.kind != "percent":
                raise ValueError("maxDiscount applies to percent codes only")
            if self.max_discount <= 0:
                raise ValueError("maxDiscount must be greater than 0")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("validUntil must be after validFrom")
        return self


class DiscountCodeOut(CamelModel):
    id: int
    code: str
    description: str | None
    kind: str
    value: MoneyOut
    max_discount: MoneyOut | None
    min_booking_amount: MoneyOut
    valid_from: datetime | None
    valid_until: datetime | None
    usage_limit: int | None
    per_user_limit: int | None
    active: bool
    times_used: int
    remaining: int | None
    created_at: datetime
