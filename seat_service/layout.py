"""Seat numbers and aircraft layouts: pure functions, no I/O.

A layout is the `aircraft` document of `flight.created`: `{"code", "name", "cabins": [{"cabin":
"business", "firstRow": 1, "lastRow": 3, "letters": "ACDF"}, ...]}`.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_ROW_FIRST = re.compile(r"^0*([1-9][0-9]{0,2})\s*([A-Za-z])$")
_LETTER_FIRST = re.compile(r"^([A-Za-z])\s*0*([1-9][0-9]{0,2})$")


def normalise_seat(raw: str) -> str | None:
    """'12a', 'A12', ' 12A ' -> '12A' (the seed's 'A1' is row 1, seat A); None if not a seat."""
    text = raw.strip()
    if m := _ROW_FIRST.match(text):
        return f"{int(m[1])}{m[2].upper()}"
    if m := _LETTER_FIRST.match(text):
        return f"{int(m[2])}{m[1].upper()}"
    return None


@dataclass(frozen=True, eq=False)
class SeatLayout:
    """Every seat of an aircraft in map order (row, then letter), with its cabin.

    Layouts are cached and shared (see `seat_layout`), so a layout is equal only to itself and
    can key caches of what is derived from it."""

    seats: tuple[str, ...]
    cabin_of: Mapping[str, str]
    capacity: Mapping[str, int]
    index: Mapping[str, int]  # a seat's position in `seats`

    @property
    def total(self) -> int:
        return len(self.seats)


def _seats_of(cabins: Iterable[Mapping[str, Any]]) -> SeatLayout:
    seats: list[str] = []
    cabin_of: dict[str, str] = {}
    capacity: dict[str, int] = {}
    for spec in sorted(cabins, key=lambda c: int(c["firstRow"])):
        cabin = str(spec["cabin"]).lower()
        letters = "".join(dict.fromkeys(str(spec["letters"]).upper()))
        first, last = int(spec["firstRow"]), int(spec["lastRow"])
        if not (1 <= first <= last <= 999) or not re.fullmatch(r"[A-Z]+", letters):
            raise ValueError(f"bad cabin in layout: {dict(spec)}")
        for row in range(first, last + 1):
            for letter in letters:
                seat = f"{row}{letter}"
                if seat in cabin_of:
                    raise ValueError(f"seat {seat} appears twice in the layout")
                seats.append(seat)
                cabin_of[seat] = cabin
                capacity[cabin] = capacity.get(cabin, 0) + 1
    return SeatLayout(tuple(seats), cabin_of, capacity, {s: i for i, s in enumerate(seats)})


@lru_cache(maxsize=256)
def _cached(key: tuple[tuple[str, int, int, str], ...]) -> SeatLayout:
    return _seats_of(
        {"cabin": c, "firstRow": f, "lastRow": last, "letters": letters}
        for c, f, last, letters in key
    )


def seat_layout(aircraft: Mapping[str, Any]) -> SeatLayout:
    """The seats of an aircraft document (cached: many flights share a few aircraft)."""
    cabins = aircraft.get("cabins") or []
    key = tuple(
        (str(c["cabin"]).lower(), int(c["firstRow"]), int(c["lastRow"]), str(c["letters"]))
        for c in cabins
    )
    return _cached(key)
