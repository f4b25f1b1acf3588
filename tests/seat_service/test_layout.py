"""Seat numbers and layouts (pure functions)."""

import pytest

from seat_service.errors import DuplicateSeats, SeatNotFound, TooManySeats
from seat_service.holding import resolve_seats
from seat_service.layout import normalise_seat, seat_layout

A320 = {
    "code": "A320",
    "cabins": [
        {"cabin": "economy", "firstRow": 4, "lastRow": 30, "letters": "ABCDEF"},
        {"cabin": "business", "firstRow": 1, "lastRow": 3, "letters": "ACDF"},
    ],
}


@pytest.mark.parametrize(
    ("raw", "seat"),
    [
        ("12A", "12A"),
        ("12a", "12A"),
        ("A12", "12A"),
        ("a1", "1A"),
        ("A1", "1A"),
        (" 7 c ", "7C"),
        ("012B", "12B"),
        ("B07", "7B"),
    ],
)
def test_normalise_seat(raw, seat):
    assert normalise_seat(raw) == seat


@pytest.mark.parametrize(
    "raw", ["", "A", "12", "AB12", "12AB", "0A", "A0", "1234A", "1-A", "\u0661A"]
)
def test_not_a_seat(raw):
    assert normalise_seat(raw) is None


def test_layout_lists_every_seat_in_map_order():
    layout = seat_layout(A320)
    assert layout.seats[:5] == ("1A", "1C", "1D", "1F", "2A")
    assert layout.capacity == {"business": 12, "economy": 27 * 6}
    assert layout.total == 12 + 162
    assert layout.cabin_of["3F"] == "business"
    assert layout.cabin_of["4B"] == "economy"
    assert "1B" not in layout.cabin_of


def test_layout_rejects_overlapping_cabins():
    bad = {"cabins": [{"cabin": "economy", "firstRow": 1, "lastRow": 5, "letters": "AB"}] * 2}
    with pytest.raises(ValueError, match="twice"):
        seat_layout(bad)


def test_resolve_seats():
    layout = seat_layout(A320)
    assert resolve_seats(layout, ["A1", "12c"], limit=9) == ["1A", "12C"]
    with pytest.raises(SeatNotFound) as err:
        resolve_seats(layout, ["1B", "99A", "zz", "5A"], limit=9)
    assert err.value.extra["seats"] == ["1B", "99A", "zz"]
    with pytest.raises(DuplicateSeats) as dup:
        resolve_seats(layout, ["12A", "a12"], limit=9)
    assert dup.value.extra["seats"] == ["12A"]
    with pytest.raises(TooManySeats):
        resolve_seats(layout, [f"{r}A" for r in range(5, 15)], limit=9)
