"""The pure parts: amounts in words, numbering, the invoice arithmetic, PDF text helpers."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticket_service.clients import BookingView
from ticket_service.errors import FareInconsistent
from ticket_service.invoice import draft_invoice, gst_rate, split_evenly
from ticket_service.numbering import (
    airline_prefix,
    financial_year,
    invoice_number,
    ticket_number,
)
from ticket_service.pdf import latin1, render_ticket_pdf, when
from ticket_service.words import amount_in_words, number_in_words

D = Decimal


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0.00", "Rupees Zero Only"),
        ("0.05", "Rupees Zero and Five Paise Only"),
        ("1.00", "Rupees One Only"),
        ("15.10", "Rupees Fifteen and Ten Paise Only"),
        ("4924.00", "Rupees Four Thousand Nine Hundred Twenty Four Only"),
        ("10000.00", "Rupees Ten Thousand Only"),
        ("100000.00", "Rupees One Lakh Only"),
        (
            "123456.78",
            "Rupees One Lakh Twenty Three Thousand Four Hundred Fifty Six and Seventy Eight "
            "Paise Only",
        ),
        (
            "9999999.99",
            "Rupees Ninety Nine Lakh Ninety Nine Thousand Nine Hundred Ninety Nine "
            "and Ninety Nine Paise Only",
        ),
        ("10000000.00", "Rupees One Crore Only"),
        ("205000101.00", "Rupees Twenty Crore Fifty Lakh One Hundred One Only"),
        ("1000000000000.00", "Rupees One Lakh Crore Only"),
    ],
)
def test_amount_in_words_indian_numbering(amount: str, words: str) -> None:
    assert amount_in_words(D(amount)) == words


def test_amount_in_words_refuses_negatives() -> None:
    with pytest.raises(ValueError):
        amount_in_words(D("-1.00"))
    with pytest.raises(ValueError):
        number_in_words(-1)


def test_ticket_numbers_are_13_digits_with_the_airline_prefix() -> None:
    assert airline_prefix(airline="Air India", flight_number="AI101", default="999") == "098"
    assert airline_prefix(airline="IndiGo", flight_number="6E201", default="999") == "312"
    assert airline_prefix(airline="", flight_number="uk955", default="999") == "228"
    assert airline_prefix(airline="SpiceJet", flight_number="SG8", default="999") == "775"
    assert airline_prefix(airline="Akasa Air", flight_number="QP1", default="999") == "999"
    assert airline_prefix(airline="Air India Express", flight_number="IX1", default="123") == "123"
    assert ticket_number("098", 1) == "0980000000001"
    assert ticket_number("312", 9_999_999_999) == "3129999999999"
    for bad in (0, 10_000_000_000):
        with pytest.raises(ValueError):
            ticket_number("098", bad)


def test_financial_year_turns_on_1_april_indian_time() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    assert financial_year(datetime(2026, 3, 31, 23, 59, tzinfo=ist)) == "2025-26"
    assert financial_year(datetime(2026, 4, 1, 0, 0, tzinfo=ist)) == "2026-27"
    assert financial_year(datetime(2026, 3, 31, 18, 30, tzinfo=UTC)) == "2026-27"  # 00:00 IST
    assert financial_year(datetime(2099, 12, 1, tzinfo=UTC)) == "2099-00"
    assert invoice_number("FB", "2026-27", 123) == "FB/2026-27/000123"


@given(
    total=st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False),
    parts=st.integers(min_value=1, max_value=36),
)
def test_split_evenly_adds_up_exactly(total: Decimal, parts: int) -> None:
    shares = split_evenly(total, parts)
    assert len(shares) == parts and sum(shares) == total
    assert max(shares) - min(shares) <= D("0.01")
    assert all(s == s.quantize(D("0.01")) for s in shares)


def test_gst_rate_is_the_cabins_or_the_one_charged() -> None:
    assert gst_rate(cabin="economy", fare=D("4567.89"), tax=D("228.39")) == D("0.05")
    assert gst_rate(cabin="business", fare=D("12000.00"), tax=D("1440.00")) == D("0.12")
    assert gst_rate(cabin="economy", fare=D("1000.00"), tax=D("180.00")) == D("0.18")


def booking_view(**overrides) -> BookingView:
    departure = datetime(2026, 5, 1, 4, 30, tzinfo=UTC)
    body = {
        "id": 7,
        "reference": "ABC234",
        "userId": 5,
        "status": "CONFIRMED",
        "statusReason": None,
        "flightIds": [11],
        "segments": [
            {
                "flightId": 11,
                "flightNumber": "AI101",
                "airline": "Air India",
                "origin": "DEL",
                "destination": "BOM",
                "departureTime": departure.isoformat(),
                "arrivalTime": (departure + timedelta(hours=2, minutes=5)).isoformat(),
                "cabin": "mixed",
                "seats": ["2A", "12B", "12C"],
                "holdId": "h-7",
            }
        ],
        "seats": [
            {
                "flightId": 11,
                "seatNumber": "2A",
                "cabin": "business",
                "fare": "12000.00",
                "tax": "1440.00",
                "passenger": "Anil Kumar",
            },
            {
                "flightId": 11,
                "seatNumber": "12B",
                "cabin": "economy",
                "fare": "4500.00",
                "tax": "225.00",
                "passenger": "Zoë Fernandes",
            },
            {
                "flightId": 11,
                "seatNumber": "12C",
                "cabin": "economy",
                "fare": "4500.00",
                "tax": "225.00",
            },
        ],
        "passengers": [{"name": "Anil Kumar"}, {"name": "Zoë Fernandes"}, {"name": "Ганна"}],
        "fare": {
            "base": "21000.00",
            "taxes": "1890.00",
            "fees": "500.00",
            "discount": "250.00",
            "total": "23140.00",
            "currency": "INR",
        },
        "amountDue": "23140.00",
        "currency": "INR",
        "discountCode": "SAVE250",
        "expiresAt": None,
        "paymentId": 70,
        "paymentInProgress": False,
        "refundedAmount": None,
        "createdAt": (departure - timedelta(days=30)).isoformat(),
        "updatedAt": (departure - timedelta(days=30)).isoformat(),
        "confirmedAt": (departure - timedelta(days=30)).isoformat(),
        "cancelledAt": None,
    }
    body.update(overrides)
    return BookingView.model_validate(body)


def test_invoice_lines_add_up_to_the_amount_due() -> None:
    draft = draft_invoice(booking_view())
    assert [line["fee"] for line in draft.lines] == ["166.67", "166.67", "166.66"]
    assert [line["gstRate"] for line in draft.lines] == ["0.12", "0.05", "0.05"]
    assert [line["passenger"] for line in draft.lines] == ["Anil Kumar", "Zoë Fernandes", "Ганна"]
    assert (draft.base, draft.gst, draft.fees, draft.discount, draft.total) == (
        D("21000.00"),
        D("1890.00"),
        D("500.00"),
        D("250.00"),
        D("23140.00"),
    )
    assert sum(D(x["total"]) for x in draft.lines) - draft.discount == draft.total
    assert draft.total_in_words == "Rupees Twenty Three Thousand One Hundred Forty Only"


def test_an_invoice_that_would_not_add_up_is_refused() -> None:
    with pytest.raises(FareInconsistent):
        draft_invoice(booking_view(amountDue="23139.99"))
    fare = {
        "base": "21000.00",
        "taxes": "1900.00",
        "fees": "500.00",
        "discount": "0.00",
        "total": "23400.00",
        "currency": "INR",
    }
    with pytest.raises(FareInconsistent):
        draft_invoice(booking_view(fare=fare, amountDue="23400.00"))


def test_pdf_text_helpers() -> None:
    assert latin1("Zoë Fernandes") == "Zoë Fernandes"
    assert latin1("Łukasz Żółw \u2013 \u20b9") == "Lukasz Zólw - Rs."
    assert latin1("Ганна") == "?????"
    ist = timezone(timedelta(hours=5, minutes=30))
    assert when(datetime(2026, 1, 12, 6, 0, tzinfo=ist)) == "Mon 12 Jan 2026 06:00 (UTC+05:30)"


def test_pdf_renders_names_outside_latin1() -> None:
    """The renderer never fails on a name the core font cannot show."""
    from ticket_service.schemas import TicketOut

    draft = draft_invoice(booking_view())
    now = datetime(2026, 5, 1, tzinfo=UTC)
    ticket = TicketOut.model_validate(
        {
            "id": 1,
            "bookingId": 7,
            "reference": "ABC234",
            "userId": 5,
            "status": "issued",
            "issuedAt": now,
            "voidedAt": None,
            "voidReason": None,
            "segments": [],
            "passengers": [{"name": "Ганна"}],
            "tickets": [],
            "invoice": {
                "number": "FB/2026-27/000001",
                "financialYear": "2026-27",
                "issuedAt": now,
                "seller": {"name": "S", "gstin": "G", "address": "A"},
                "billedTo": {"userId": 5, "name": "Ганна"},
                "lines": draft.lines,
                "base": draft.base,
                "gst": draft.gst,
                "fees": draft.fees,
                "discount": draft.discount,
                "total": draft.total,
                "amountPaid": draft.total,
                "totalInWords": draft.total_in_words,
                "currency": "INR",
            },
            "currency": "INR",
            "discountCode": "SAVE250",
            "pdfUrl": "/api/tickets/1/pdf",
        }
    )
    assert render_ticket_pdf(ticket).startswith(b"%PDF-")
