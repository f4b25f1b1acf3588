"""The events the seat service publishes (`shared.contracts.seats`), and their payloads in SQL.

    seats.availability_changed  AvailabilityChanged {flightId, flightNumber, seatsAvailable,
                                 seatsTotal, seatsSold, byCabin: {cabin: seats available},
                                 version}
    seats.sold_out              SoldOut {flightId, flightNumber, version}

Both are written to the outbox in the transaction that changes a flight's sold seats, after
its availability version is bumped: `version` lets a consumer (the search service's
availability, its cache) drop an event older than what it already has. A release of sold
seats builds them in Python (`availability_changed`); a sale in SQL (its one statement,
`sales._SELL`), from the fragments here, whose keys are the contracts' own (`_jsonb`).
"""

from shared.contracts.events import EventPayload
from shared.contracts.flights import CabinName
from shared.contracts.seats import AvailabilityChanged, SoldOut


def availability_changed(
    *,
    flight_id: int,
    flight_number: str,
    total: int,
    sold: int,
    by_cabin: dict[CabinName, int],
    version: int,
) -> AvailabilityChanged:
    """`seats.availability_changed`: `total` seats, `sold` of them; `by_cabin` available."""
    return AvailabilityChanged(
        flight_id=flight_id,
        flight_number=flight_number,
        seats_available=total - sold,
        seats_total=total,
        seats_sold=sold,
        by_cabin=by_cabin,
        availability_version=version,
    )


def _jsonb(contract: type[EventPayload], **fields: str) -> str:
    """A contract's payload as a `jsonb_build_object`: each field (by its Python name) from a
    SQL expression, under the contract's JSON key. Every field, no other: or a TypeError at
    import, before a sale could write a payload its consumers cannot read."""
    known = contract.model_fields
    if set(fields) != set(known):
        raise TypeError(f"{contract.__name__}: SQL for {sorted(fields)}, fields {sorted(known)}")
    pairs = ", ".join(f"'{known[name].alias or name}', {sql}" for name, sql in fields.items())
    return f"jsonb_build_object({pairs})"


# The payloads as SQL expressions, over a row of flight_number, version, total_seats,
# seats_sold and by_cabin (jsonb), the flight id being the statement's $1.
AVAILABILITY_CHANGED_SQL = _jsonb(
    AvailabilityChanged,
    flight_id="$1::bigint",
    flight_number="flight_number",
    seats_available="total_seats - seats_sold",
    seats_total="total_seats",
    seats_sold="seats_sold",
    by_cabin="by_cabin",
    availability_version="version",
)
SOLD_OUT_SQL = _jsonb(
    SoldOut, flight_id="$1::bigint", flight_number="flight_number", availability_version="version"
)
