"""The one registry of the nine services: package, default port and Postgres schema.

The gateway's route table, the migrate/seed commands and the e2e harness all read this, so
adding a service is one line here.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    package: str
    port: int
    schema: str | None  # None: owns no tables (the gateway)
    url_env: str  # environment variable other processes use to reach it


SERVICES: tuple[ServiceInfo, ...] = (
    ServiceInfo("auth", "auth_service", 3000, "auth", "AUTH_SERVICE_URL"),
    ServiceInfo("flight-search", "flight_search_service", 4000, "flights", "FLIGHT_SEARCH_URL"),
    ServiceInfo("seat", "seat_service", 5000, "seats", "SEAT_SERVICE_URL"),
    ServiceInfo("booking", "booking_service", 6000, "bookings", "BOOKING_SERVICE_URL"),
    ServiceInfo("payment", "payment_service", 7000, "payments", "PAYMENT_SERVICE_URL"),
    ServiceInfo("discount", "discount_service", 8000, "discounts", "DISCOUNT_SERVICE_URL"),
    ServiceInfo("ticket", "ticket_service", 9000, "tickets", "TICKET_SERVICE_URL"),
    ServiceInfo(
        "notification", "notification_service", 9100, "notifications", "NOTIFICATION_SERVICE_URL"
    ),
)
GATEWAY = ServiceInfo("gateway", "api_gateway", 8080, None, "GATEWAY_URL")

BY_NAME = {s.name: s for s in SERVICES}
