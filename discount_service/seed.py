"""The discount service's seed: the seed's codes (FLY100, SAVE200, NEW50) and a percentage one.

Idempotent: a code that exists is left as it is (its usage is not reset).
"""

from decimal import Decimal
from typing import Any

from discount_service import service
from discount_service.config import get_settings
from shared.db import Database

CODES: list[dict[str, Any]] = [
    {
        "code": "FLY100",
        "description": "INR 100 off any booking of INR 500 or more",
        "kind": "flat",
        "value": Decimal("100.00"),
        "min_booking_amount": Decimal("500.00"),
    },
    {
        "code": "SAVE200",
        "description": "INR 200 off bookings of INR 2000 or more",
        "kind": "flat",
        "value": Decimal("200.00"),
        "min_booking_amount": Decimal("2000.00"),
    },
    {
        "code": "NEW50",
        "description": "INR 50 off, once per traveller",
        "kind": "flat",
        "value": Decimal("50.00"),
        "min_booking_amount": Decimal("0.00"),
        "per_user_limit": 1,
    },
    {
        "code": "FLY10",
        "description": "10% off bookings of INR 1000 or more, at most INR 1000",
        "kind": "percent",
        "value": Decimal("10.00"),
        "max_discount": Decimal("1000.00"),
        "min_booking_amount": Decimal("1000.00"),
    },
]


async def seed() -> None:
    settings = get_settings()
    db = Database(
        settings.database_url, pool_size=1, max_overflow=0, application_name="discount-seed"
    )
    try:
        async with db.sessionmaker() as session:
            created = await service.ensure_codes(session=session, codes=CODES)
        for code in created:
            print(f"  created discount code {code}")
    finally:
        await db.dispose()
