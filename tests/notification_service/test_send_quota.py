"""POST /api/notifications/send is metered per sender (NOTIFICATION_SEND_LIMIT per
NOTIFICATION_SEND_WINDOW_SECONDS; admins NOTIFICATION_ADMIN_SEND_LIMIT); the notifications made
from events never are."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from notification_service.config import NotificationSettings
from notification_service.main import build_app
from tests.conftest import REDIS_PREFIX, app_client
from tests.helpers import assert_problem, eventually
from tests.notification_service.conftest import (
    Notifications,
    RecordingSender,
    make_event,
    ticket_issued,
)

LIMIT = NotificationSettings().notification_send_limit


def send(n: Notifications, headers: dict[str, str], **body: object) -> object:
    return n.client.post(
        "/api/notifications/send", json={"message": "to me", **body}, headers=headers
    )


async def manual_messages(n: Notifications, user_id: int) -> int:
    async with n.app.state.db.engine.connect() as conn:
        return int(
            await conn.scalar(
                text(
                    "SELECT count(*) FROM notifications.notifications"
                    " WHERE user_id = :u AND event_type = 'message'"
                ),
                {"u": user_id},
            )
        )


async def test_sixty_sms_to_myself_at_once_send_the_quota_only(
    notifications: Notifications,
) -> None:
    assert LIMIT == 10
    user_id, headers = notifications.user()
    responses = await asyncio.gather(
        *(send(notifications, headers, channel="sms", message=f"sms {i}") for i in range(60))
    )
    kinds = Counter(r.status_code if r.status_code == 202 else r.json()["code"] for r in responses)
    assert kinds == {202: LIMIT, "NOTIFICATION_RATE_LIMITED": 60 - LIMIT}
    for r in responses:
        if r.status_code == 429:
            problem = assert_problem(r, 429, "NOTIFICATION_RATE_LIMITED")
            assert 1 <= int(r.headers["retry-after"]) <= 3600
            assert problem["limit"] == LIMIT
    assert await manual_messages(notifications, user_id) == LIMIT
    delivered = [r.json()["id"] for r in responses if r.status_code == 202]
    assert all(notifications.sender.delivered[i] == 1 for i in delivered)
    # Somebody else has a quota of their own.
    _, other = notifications.user()
    assert (await send(notifications, other)).status_code == 202


async def test_forbidden_sends_do_not_use_the_quota(notifications: Notifications) -> None:
    _, headers = notifications.user()
    other_id, _ = notifications.user()
    for _ in range(LIMIT + 5):
        r = await send(notifications, headers, userId=other_id)
        assert_problem(r, 403, "FORBIDDEN")
    statuses = [(await send(notifications, headers)).status_code for _ in range(LIMIT + 1)]
    assert statuses == [202] * LIMIT + [429]


async def test_event_notifications_are_never_throttled(notifications: Notifications) -> None:
    user_id, headers = notifications.user()
    for _ in range(LIMIT):
        assert (await send(notifications, headers)).status_code == 202
    assert (await send(notifications, headers)).status_code == 429
    events = [make_event(ticket_issued(user_id=user_id, booking_id=i)) for i in range(1, 8)]
    for event in events:
        await notifications.publish(event)

    async def all_sent() -> bool:
        rows = [row for e in events for row in await notifications.of_event(e.id)]
        return len(rows) == 2 * len(events) and {row.status for row in rows} == {"sent"}

    await eventually(all_sent)


async def test_admins_have_a_quota_of_their_own(notifications: Notifications) -> None:
    _, admin = notifications.user(role="admin")
    other_id, _ = notifications.user()
    statuses = await asyncio.gather(
        *(send(notifications, admin, userId=other_id) for _ in range(LIMIT * 2))
    )
    assert {r.status_code for r in statuses} == {202}


@pytest.fixture(scope="module")
async def strict(
    jwks_transport: httpx.AsyncBaseTransport, make_token
) -> AsyncIterator[Notifications]:
    """An app whose admins may send 3 messages a window, users 2 (no background loops)."""
    app = build_app(
        NotificationSettings(
            db_pool_size=2,
            db_max_overflow=2,
            background_tasks=False,
            notification_send_limit=2,
            notification_admin_send_limit=3,
            redis_prefix=f"{REDIS_PREFIX}notification-quota-tests:",
        )
    )
    app.state.jwks_transport = jwks_transport
    sender = RecordingSender()
    app.state.sender = sender
    async for client in app_client(app):
        yield Notifications(app, client, sender, make_token)


async def test_the_admin_quota_is_finite_too(strict: Notifications) -> None:
    _, admin = strict.user(role="admin")
    _, user = strict.user()
    other_id, _ = strict.user()
    admin_answers = await asyncio.gather(*(send(strict, admin, userId=other_id) for _ in range(8)))
    assert sorted(r.status_code for r in admin_answers) == [202] * 3 + [429] * 5
    user_answers = await asyncio.gather(*(send(strict, user) for _ in range(8)))
    assert sorted(r.status_code for r in user_answers) == [202] * 2 + [429] * 6
