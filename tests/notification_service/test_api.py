"""POST /api/notifications/send (yourself; admins: anyone) and GET /api/notifications (mine)."""

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from notification_service import service
from notification_service.models import outbox
from notification_service.templates import render
from shared.contracts.discounts import DiscountRedeemed
from shared.contracts.flights import FlightCancelled
from shared.contracts.notifications import NotificationFailed
from tests.helpers import assert_problem, eventually
from tests.notification_service.conftest import FailingSender, Notifications, ticket_issued


async def test_send_to_myself_is_202_and_delivered(notifications: Notifications) -> None:
    user_id, headers = notifications.user()
    r = await notifications.client.post(
        "/api/notifications/send", json={"message": "  Hello me  "}, headers=headers
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["userId"], body["channel"], body["event"], body["message"]) == (
        user_id,
        "email",
        "message",
        "Hello me",
    )
    assert body["status"] == "sent" and body["sentAt"] is not None
    assert notifications.sender.delivered[body["id"]] == 1

    r = await notifications.client.post(
        "/api/notifications/send",
        json={"userId": user_id, "message": "By SMS", "channel": "sms"},
        headers=headers,
    )
    assert r.status_code == 202, r.text
    assert (r.json()["channel"], r.json()["userId"]) == ("sms", user_id)


async def test_a_user_cannot_message_another_user_but_an_admin_can(
    notifications: Notifications,
) -> None:
    _me, headers = notifications.user()
    other_id, other_headers = notifications.user()
    r = await notifications.client.post(
        "/api/notifications/send", json={"userId": other_id, "message": "hi"}, headers=headers
    )
    assert_problem(r, 403, "FORBIDDEN")
    assert await notifications.mine(other_headers) == []

    _admin_id, admin = notifications.user(role="admin")
    r = await notifications.client.post(
        "/api/notifications/send",
        json={"userId": other_id, "message": "Your refund is on its way"},
        headers=admin,
    )
    assert r.status_code == 202, r.text
    [received] = await notifications.mine(other_headers)
    assert received["message"] == "Your refund is on its way"


async def test_bad_send_input(notifications: Notifications) -> None:
    _me, headers = notifications.user()
    for body in (
        {},
        {"message": ""},
        {"message": "   "},
        {"message": "x" * 2001},
        {"message": "hi", "channel": "pigeon"},
        {"message": "hi", "userId": "abc"},
        {"message": "hi", "userId": 0},
        [],
    ):
        r = await notifications.client.post("/api/notifications/send", json=body, headers=headers)
        assert_problem(r, 422, "VALIDATION_FAILED")
    r = await notifications.client.post("/api/notifications/send", json={"message": "hi"})
    assert_problem(r, 401, "UNAUTHORIZED")
    assert_problem(await notifications.client.get("/api/notifications"), 401, "UNAUTHORIZED")


async def test_listing_shows_only_mine_newest_first_in_pages(
    notifications: Notifications,
) -> None:
    me, headers = notifications.user()
    _other, other_headers = notifications.user()
    for i in range(5):
        r = await notifications.client.post(
            "/api/notifications/send", json={"message": f"note {i}"}, headers=headers
        )
        assert r.status_code == 202
    await notifications.client.post(
        "/api/notifications/send", json={"message": "theirs"}, headers=other_headers
    )

    r = await notifications.client.get("/api/notifications", params={"limit": 2}, headers=headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [n["message"] for n in page["items"]] == ["note 4", "note 3"]
    assert page["nextCursor"]
    seen = [n["message"] for n in page["items"]]
    while page["nextCursor"]:
        page = (
            await notifications.client.get(
                "/api/notifications",
                params={"limit": 2, "cursor": page["nextCursor"]},
                headers=headers,
            )
        ).json()
        seen += [n["message"] for n in page["items"]]
    assert seen == ["note 4", "note 3", "note 2", "note 1", "note 0"]
    assert {n["userId"] for n in await notifications.mine(headers, limit=100)} == {me}
    assert [n["message"] for n in await notifications.mine(other_headers)] == ["theirs"]

    only_sms = await notifications.mine(headers, channel="sms")
    assert only_sms == []
    assert len(await notifications.mine(headers, event="message", limit=100)) == 5
    for params in ({"limit": 0}, {"limit": 101}, {"cursor": "abc"}, {"channel": "fax"}):
        r = await notifications.client.get("/api/notifications", params=params, headers=headers)
        assert_problem(r, 422, "VALIDATION_FAILED")

    # One of mine by id; someone else's answers 404.
    mine = (await notifications.mine(headers))[0]
    r = await notifications.client.get(f"/api/notifications/{mine['id']}", headers=headers)
    assert r.status_code == 200 and r.json()["id"] == mine["id"]
    r = await notifications.client.get(f"/api/notifications/{mine['id']}", headers=other_headers)
    assert_problem(r, 404, "NOTIFICATION_NOT_FOUND")


async def test_failed_delivery_is_retried_then_marked_failed(
    notifications: Notifications,
) -> None:
    user_id, headers = notifications.user()
    sessionmaker = notifications.app.state.db.sessionmaker
    principal = await notifications.app.state.verifier.verify_access(
        headers["Authorization"].removeprefix("Bearer ")
    )
    failing = FailingSender()
    async with sessionmaker() as session:
        gave_up = await service.send_message(
            session=session,
            sender=failing,
            user=principal,
            user_id=None,
            message="never arrives",
            quota=None,
            max_attempts=1,
        )
    assert (gave_up.status, gave_up.attempts) == ("failed", 1)
    assert gave_up.last_error == "ConnectionError: SMTP relay unreachable"
    assert failing.calls == 1
    # Its `notification.failed`, as written, parses with the contract (the e2e contract test
    # cannot see one: the mock sender never fails).
    async with sessionmaker() as session:
        written = (
            await session.execute(
                select(outbox.c.version, outbox.c.payload).where(
                    outbox.c.type == NotificationFailed.type
                )
            )
        ).all()
    failed = [
        NotificationFailed.model_validate(p) for v, p in written if v == NotificationFailed.version
    ]
    assert [(f.notification_id, f.status) for f in failed if f.notification_id == gave_up.id] == [
        (gave_up.id, "failed")
    ]

    # With attempts left, it stays queued and the service's dispatcher delivers it later.
    async with sessionmaker() as session:
        retried = await service.send_message(
            session=session,
            sender=failing,
            user=principal,
            user_id=user_id,
            message="later",
            quota=None,
        )
    assert (retried.status, retried.attempts) == ("queued", 1)

    async def delivered() -> bool:
        items = {n["message"]: n for n in await notifications.mine(headers)}
        return items["later"]["status"] == "sent"

    await eventually(delivered)
    items = {n["message"]: n for n in await notifications.mine(headers)}
    assert items["later"]["attempts"] == 2
    assert items["never arrives"]["status"] == "failed"
    assert notifications.sender.delivered[retried.id] == 1
    assert notifications.sender.delivered[gave_up.id] == 0


def test_templates_skip_events_without_a_user_or_a_template() -> None:
    flight = FlightCancelled(
        flight_id=1,
        flight_number="AI1",
        origin="DEL",
        destination="BOM",
        departure_time=datetime(2030, 1, 5, 0, 30, tzinfo=UTC),
    )
    assert render(flight) is None  # no template: each booking on it is told on its own
    redeemed = DiscountRedeemed(
        code="FLY100", booking_id=1, user_id=5, discount=Decimal("100.00"), times_used=1
    )
    assert render(redeemed) is None  # a user, but no template
    rendered = render(ticket_issued(user_id=5, booking_id=1))
    assert rendered is not None and [d.channel for d in rendered.drafts] == ["email", "sms"]
    assert (rendered.user_id, rendered.booking_id, rendered.reference) == (5, 1, "R00001")
