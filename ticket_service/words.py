"""Amounts in words, Indian style: "Rupees One Lakh Twenty Thousand and Fifty Paise Only".

Indian numbering groups digits as thousand (10^3), lakh (10^5) and crore (10^7); beyond a
crore the count of crores is itself said the same way ("Twelve Thousand Crore").
"""

from decimal import Decimal

from shared.money import quantize

_ONES = (
    "Zero",
    "One",
    "Two",
    "Three",
    "Four",
    "Five",
    "Six",
    "Seven",
    "Eight",
    "Nine",
    "Ten",
    "Eleven",
    "Twelve",
    "Thirteen",
    "Fourteen",
    "Fifteen",
    "Sixteen",
    "Seventeen",
    "Eighteen",
    "Nineteen",
)
_TENS = ("", "", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety")


def _below_hundred(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = [f"{_ONES[hundreds]} Hundred"] if hundreds else []
    if rest:
        parts.append(_below_hundred(rest))
    return " ".join(parts)


def number_in_words(n: int) -> str:
    """A non-negative integer in words, Indian numbering (lakh, crore)."""
    if n < 0:
        raise ValueError("negative numbers have no words here")
    if n == 0:
        return "Zero"
    parts = []
    crores, n = divmod(n, 10_000_000)
    if crores:
        parts.append(f"{number_in_words(crores)} Crore")
    lakhs, n = divmod(n, 100_000)
    if lakhs:
        parts.append(f"{_below_hundred(lakhs)} Lakh")
    thousands, n = divmod(n, 1000)
    if thousands:
        parts.append(f"{_below_hundred(thousands)} Thousand")
    if n:
        parts.append(_below_thousand(n))
    return " ".join(parts)


def amount_in_words(amount: Decimal, currency: str = "INR") -> str:
    """`Decimal("123456.78")` -> "Rupees One Lakh Twenty Three Thousand Four Hundred Fifty Six
    and Seventy Eight Paise Only" (another currency: its code, and "Cents")."""
    amount = quantize(amount)
    if amount < 0:
        raise ValueError("an amount in words cannot be negative")
    units, hundredths = divmod(int(amount * 100), 100)
    major, minor = ("Rupees", "Paise") if currency == "INR" else (currency, "Cents")
    words = f"{major} {number_in_words(units)}"
    if hundredths:
        words += f" and {number_in_words(hundredths)} {minor}"
    return f"{words} Only"
