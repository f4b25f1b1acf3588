"""Aircraft types and their seat layouts (the seat service builds its seat maps from these).

A layout is a list of cabins, each a block of rows with the same seat letters:
`{"cabin": "business", "firstRow": 1, "lastRow": 2, "letters": "ACDF"}`.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cabin:
    cabin: str  # "business" | "economy"
    first_row: int
    last_row: int
    letters: str

    @property
    def seats(self) -> int:
        return (self.last_row - self.first_row + 1) * len(self.letters)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cabin": self.cabin,
            "firstRow": self.first_row,
            "lastRow": self.last_row,
            "letters": self.letters,
        }


@dataclass(frozen=True)
class Aircraft:
    code: str
    name: str
    cabins: tuple[Cabin, ...]

    def seats(self, cabin: str) -> int:
        return sum(c.seats for c in self.cabins if c.cabin == cabin)

    @property
    def capacity(self) -> int:
        return sum(c.seats for c in self.cabins)

    def layout(self) -> list[dict[str, Any]]:
        return [c.as_dict() for c in self.cabins]


A320 = Aircraft(
    "A320",
    "Airbus A320neo",
    (Cabin("business", 1, 2, "ACDF"), Cabin("economy", 3, 30, "ABCDEF")),
)  # 8 + 168 = 176 seats
A321 = Aircraft(
    "A321",
    "Airbus A321neo",
    (Cabin("business", 1, 3, "ACDF"), Cabin("economy", 4, 34, "ABCDEF")),
)  # 12 + 186 = 198 seats
ATR72 = Aircraft("ATR72", "ATR 72-600", (Cabin("economy", 1, 18, "ACDF"),))  # 72 seats

AIRCRAFT: dict[str, Aircraft] = {a.code: a for a in (A320, A321, ATR72)}
