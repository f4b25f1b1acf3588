"""E-ticket numbers and invoice numbers.

An e-ticket number is 13 digits: the validating airline's 3-digit IATA accounting code, then a
10-digit serial (from the `ticket_serial_seq` sequence). An invoice number is
"<prefix>/<financial year>/<serial>", the serial restarting at 1 each Indian financial year
(1 April to 31 March, Indian Standard Time).
"""

from datetime import datetime
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")

# IATA accounting (ticketing) codes, by airline designator and by name.
PREFIX_BY_DESIGNATOR = {"AI": "098", "6E": "312", "UK": "228", "SG": "775"}
PREFIX_BY_NAME = {"air india": "098", "indigo": "312", "vistara": "228", "spicejet": "775"}
SERIAL_DIGITS = 10


def airline_prefix(*, airline: str, flight_number: str, default: str) -> str:
    """The 3-digit ticketing prefix of the airline operating `flight_number`."""
    by_name = PREFIX_BY_NAME.get(" ".join(airline.lower().split()))
    if by_name:
        return by_name
    return PREFIX_BY_DESIGNATOR.get(flight_number[:2].upper(), default)


def ticket_number(prefix: str, serial: int) -> str:
    if not 0 < serial < 10**SERIAL_DIGITS:
        raise ValueError("ticket serial out of range")
    return f"{prefix}{serial:0{SERIAL_DIGITS}d}"


def financial_year(moment: datetime) -> str:
    """The Indian financial year a moment falls in: "2026-27" for 1 Apr 2026 - 31 Mar 2027."""
    local = moment.astimezone(IST)
    start = local.year if local.month >= 4 else local.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def invoice_number(prefix: str, year: str, serial: int) -> str:
    return f"{prefix}/{year}/{serial:06d}"
