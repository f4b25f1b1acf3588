"""The events the seat service publishes, and their payloads, in one place.

    seats.availability_changed  {flightId, flightNumber, seatsAvailable, seatsTotal, seatsSold,
                                 byCabin: {cabin: seats available}, version}
    seats.sold_out              {flightId, flightNumber, version}

Both are written to the outbox in the transaction that changes a flight's sold seats, after
its availability version is bumped: `version` lets a consumer (the search service's
availability, its cache) drop an event older than what it already has. A sale builds them in
SQL (its one statement, `sales._SELL`, from the fragments here); a release of sold seats in
Python (`availability_changed_payload`): the same keys either way.
"""

from typing import Any

AVAILABILITY_CHANGED = "seats.availability_changed"
SOLD_OUT = "seats.sold_out"


def availability_changed_payload(
    *,
    flight_id: int,
    flight_number: str,
    total: int,
    sold: int,
    by_cabin: dict[str, int],
    version: int,
) -> dict[str, Any]:
    """`seats.availability_changed`: `total` seats, `sold` of them; `by_cabin` available."""
    return {
        "flightId": flight_id,
        "flightNumber": flight_number,
        "seatsAvailable": total - sold,
        "seatsTotal": total,
        "seatsSold": sold,
        "byCabin": by_cabin,
        "version": version,
    }


def sold_out_payload(*, flight_id: int, flight_number: str, version: int) -> dict[str, Any]:
    """`seats.sold_out`."""
    return {"flightId": flight_id, "flightNumber": flight_number, "version": version}


# The same payloads as SQL expressions, over a row of flight_number, version, total_seats,
# seats_sold and by_cabin (jsonb), the flight id being the statement's $1.
AVAILABILITY_CHANGED_SQL = """jsonb_build_object(
    'flightId', $1::bigint, 'flightNumber', flight_number,
    'seatsAvailable', total_seats - seats_sold, 'seatsTotal', total_seats,
    'seatsSold', seats_sold, 'byCabin', by_cabin, 'version', version)"""
SOLD_OUT_SQL = """jsonb_build_object(
    'flightId', $1::bigint, 'flightNumber', flight_number, 'version', version)"""
