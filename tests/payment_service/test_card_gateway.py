"""The mock card gateway: test cards, validation, one charge per payment, void, refund."""

from datetime import date
from decimal import Decimal

import pytest

from payment_service.card_gateway import (
    Card,
    brand_of,
    default_card,
    luhn_valid,
    validate_card,
)
from payment_service.errors import CardExpired, CardInvalid

TODAY = date(2030, 6, 15)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("4000000000000002", True),
        ("4000000000009995", True),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("4242424242424241", False),
        ("1234", False),
        ("42424242424242424242", False),
        ("424242424242424x", False),
    ],
)
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


def test_brands():
    assert brand_of("4242424242424242") == "visa"
    assert brand_of("5555555555554444") == "mastercard"
    assert brand_of("2223003122003222") == "mastercard"
    assert brand_of("378282246310005") == "amex"
    assert brand_of("6521000000000005") == "rupay"


def test_validation():
    validate_card(Card("4242424242424242", 6, 2030, "123"), TODAY)  # this month: still valid
    with pytest.raises(CardExpired):
        validate_card(Card("4242424242424242", 5, 2030, "123"), TODAY)
    with pytest.raises(CardInvalid):
        validate_card(Card("4242424242424241", 12, 2031, "123"), TODAY)
    with pytest.raises(CardInvalid):
        validate_card(Card("378282246310005", 12, 2031, "12"), TODAY)
    validate_card(Card("378282246310005", 12, 2031, "1234"), TODAY)


def test_the_card_number_is_not_in_its_repr():
    card = Card("4242424242424242", 12, 2031, "123")
    assert "4242424242424242" not in repr(card) and "123" not in repr(card).replace("2031", "")
    assert card.last4 == "4242"


def test_the_default_card_is_the_success_card_and_valid():
    card = default_card(TODAY)
    assert card.number == "4242424242424242"
    validate_card(card, TODAY)


async def test_one_charge_per_payment_then_void_and_refund(stack):
    gateway = stack.payment_app.state.gateway
    card = default_card()
    first = await gateway.charge(
        payment_id=9_000_001, amount=Decimal("10.00"), currency="INR", card=card
    )
    again = await gateway.charge(
        payment_id=9_000_001, amount=Decimal("10.00"), currency="INR", card=card
    )
    assert first == again and first.succeeded
    # Voiding a charged payment reports the charge; it stays charged.
    assert (
        await gateway.void(payment_id=9_000_001, amount=Decimal("10.00"), currency="INR")
    ) == first
    refund = await gateway.refund(payment_id=9_000_001)
    assert refund.startswith("re_") and await gateway.refund(payment_id=9_000_001) == refund
    # A voided attempt can never be charged.
    voided = await gateway.void(payment_id=9_000_002, amount=Decimal("10.00"), currency="INR")
    assert voided.status == "voided"
    late = await gateway.charge(
        payment_id=9_000_002, amount=Decimal("10.00"), currency="INR", card=card
    )
    assert late.status == "voided"
    with pytest.raises(LookupError):
        await gateway.refund(payment_id=9_000_002)
    declined = await gateway.charge(
        payment_id=9_000_003,
        amount=Decimal("10.00"),
        currency="INR",
        card=Card("4000000000009995", 12, 2031, "123"),
    )
    assert (declined.status, declined.decline_code) == ("declined", "insufficient_funds")
