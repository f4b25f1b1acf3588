"""The discount arithmetic, and the seed's codes."""

from decimal import Decimal

from discount_service import seed as seed_module
from discount_service.models import DiscountCode
from discount_service.service import discount_for
from tests.discount_service.conftest import Discounts


def code(**kw: object) -> DiscountCode:
    return DiscountCode(**{"code": "X", "kind": "flat", "value": Decimal("100.00"), **kw})


def test_flat_discount_never_exceeds_the_amount() -> None:
    assert discount_for(code(), Decimal("4924.00")) == Decimal("100.00")
    assert discount_for(code(), Decimal("60.00")) == Decimal("60.00")


def test_percent_discount_rounds_half_up_and_is_capped() -> None:
    ten = code(kind="percent", value=Decimal("10.00"), max_discount=Decimal("1000.00"))
    assert discount_for(ten, Decimal("4924.00")) == Decimal("492.40")
    assert discount_for(ten, Decimal("20000.00")) == Decimal("1000.00")
    odd = code(kind="percent", value=Decimal("12.50"), max_discount=None)
    assert discount_for(odd, Decimal("0.20")) == Decimal("0.03")  # 0.025 -> 0.03
    assert discount_for(odd, Decimal("4924.00")) == Decimal("615.50")


async def test_seed_creates_the_codes_once(discounts: Discounts) -> None:
    await seed_module.seed()
    await seed_module.seed()
    codes = {
        c["code"]: c
        for c in (await discounts.client.get("/api/discounts", headers=discounts.admin)).json()
    }
    assert {"FLY100", "SAVE200", "NEW50", "FLY10"} <= set(codes)
    assert (codes["FLY100"]["kind"], codes["FLY100"]["value"]) == ("flat", "100.00")
    assert (codes["SAVE200"]["kind"], codes["SAVE200"]["value"]) == ("flat", "200.00")
    assert (codes["NEW50"]["kind"], codes["NEW50"]["value"]) == ("flat", "50.00")
    assert (codes["FLY10"]["kind"], codes["FLY10"]["value"], codes["FLY10"]["maxDiscount"]) == (
        "percent",
        "10.00",
        "1000.00",
    )
    rows = await discounts.sql("SELECT count(*) FROM discounts.codes WHERE code = 'FLY100'")
    assert rows[0][0] == 1
