"""Values many test modules use: the time zone of the schedule, test cards, bad amounts."""

import uuid
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")

# The mock card gateway decides by number, like a real test mode.
SUCCESS_CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2035, "cvc": "123"}
DECLINE_CARD = {**SUCCESS_CARD, "number": "4000000000000002"}
NO_FUNDS_CARD = {**SUCCESS_CARD, "number": "4000000000009995"}

# Amounts no money field may accept: too large, not a number, exponent, negative, sub-paisa.
INSANE_AMOUNTS = [1e26, "1" * 27, "NaN", float("inf"), "1e3", "-1", "10.001", "100000000"]


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"
