"""Settings of the ticket service (environment only; see `.env.example`)."""

from functools import lru_cache

from pydantic import field_validator

from shared.settings import BaseServiceSettings


class TicketSettings(BaseServiceSettings):
    service_name: str = "ticket"

    # E-ticket numbers are the airline's 3-digit accounting prefix and a 10-digit serial; an
    # airline without a known prefix gets this one.
    ticket_default_airline_prefix: str = "999"

    # The GST invoice: "<prefix>/<financial year>/<serial>", numbered from 1 each financial year
    # (April to March, Indian time), and the supplier printed on it.
    invoice_prefix: str = "FB"
    invoice_seller_name: str = "FlightBook Travel Pvt. Ltd."
    invoice_seller_gstin: str = "27AAFCF0000A1Z5"
    invoice_seller_address: str = "1 Demo Street, Andheri East, Mumbai 400069, Maharashtra"

    @field_validator("ticket_default_airline_prefix")
    @classmethod
    def _three_digits(cls, value: str) -> str:
        if len(value) != 3 or not value.isdigit():
            raise ValueError("must be three digits")
        return value

    @field_validator("invoice_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip()
        if not 1 <= len(value) <= 8 or not value.isalnum():
            raise ValueError("must be 1 to 8 letters or digits")
        return value


@lru_cache
def get_settings() -> TicketSettings:
    return TicketSettings()
