"""Ids: every id is a Postgres bigint, 1 to 2^63 - 1, and a path says so with `{name:id}`.

Starlette's own `{name:id}` matches any run of digits and converts it while routing, before
any validation: a path with thousands of digits makes Python's `int()` refuse it (its limit on
digits) and the request a 500. The `id` convertor matches at most 19 digits, so a longer one
is simply no such path (404); a 19-digit value beyond the bigint range is left to the route's
`le=BIGINT_MAX` (422).
"""

from starlette.convertors import Convertor, register_url_convertor

BIGINT_MAX = 2**63 - 1


class IdConvertor(Convertor[int]):
    regex = "[0-9]{1,19}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("id", IdConvertor())
