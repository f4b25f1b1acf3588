"""What one pay costs: calls to the booking service, statements and transactions.

Each saga step is one statement committed by itself (no BEGIN/COMMIT), and the booking is not
looked at before its own check under its lock: a pay is two calls to the booking service and
four statements on the payment database (record, charge, charged, succeeded + its event).
"""

import contextvars
from collections import Counter
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from sqlalchemy import event

from tests.booking_service.harness import new_flight
from tests.helpers import DECLINE_CARD, SUCCESS_CARD

counting = contextvars.ContextVar("counting", default=False)


class Counted(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, counts: Counter) -> None:
        self.inner, self.counts = inner, counts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.counts["http " + request.url.path.rsplit("/", 1)[-1]] += 1
        return await self.inner.handle_async_request(request)


@pytest.fixture
def counted(stack, monkeypatch):
    """`async with counted() as counts:` counts what the requests made inside it cause."""
    counts: Counter = Counter()
    engine = stack.payment_app.state.db.engine.sync_engine
    ours: set[int] = set()  # the payment database's connections the requests used

    def checkout(dbapi_connection, _record, _proxy):
        if counting.get():
            ours.add(id(dbapi_connection.driver_connection))

    def statement(_conn, _cursor, sql, *_args):
        if counting.get():
            counts["statements"] += 1

    start = asyncpg.transaction.Transaction.start

    async def begin(self):  # background loops run in their own contexts: not counted
        if counting.get() and id(self._connection) in ours:
            counts["BEGIN"] += 1
        return await start(self)

    monkeypatch.setattr(asyncpg.transaction.Transaction, "start", begin)
    monkeypatch.setattr(stack.booking_link, "inner", Counted(stack.booking_link.inner, counts))

    @asynccontextmanager
    async def run():
        event.listen(engine, "checkout", checkout)
        event.listen(engine, "before_cursor_execute", statement)
        token = counting.set(True)
        try:
            yield counts
        finally:
            counting.reset(token)
            event.remove(engine, "before_cursor_execute", statement)
            event.remove(engine, "checkout", checkout)

    return run


async def test_a_pay_is_two_booking_calls_and_four_statements(stack, new_user, counted):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "24A")
    async with counted() as counts:
        r = await stack.pay(headers, booking, card=SUCCESS_CARD)
    assert r.status_code == 201, r.text
    assert counts == {"http payment-started": 1, "http confirm": 1, "statements": 4}


async def test_a_declined_pay_is_four_statements(stack, new_user, counted):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "24B")
    async with counted() as counts:
        r = await stack.pay(headers, booking, card=DECLINE_CARD)
    assert r.status_code == 402, r.text
    assert counts == {"http payment-started": 1, "http payment-failed": 1, "statements": 4}


async def test_a_pay_with_a_key_adds_three_statements(stack, new_user, counted):
    _, headers = new_user()
    booking = await stack.booked(headers, await new_flight(), "24C")
    async with counted() as counts:
        r = await stack.pay(headers, booking, card=SUCCESS_CARD, key="counted")
    assert r.status_code == 201, r.text
    # Claim the key, look for an earlier payment of it, store the answer.
    assert counts == {"http payment-started": 1, "http confirm": 1, "statements": 7}
