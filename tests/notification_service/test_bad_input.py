"""POST /api/notifications/send: a message is free text. It keeps tabs and line breaks; any
other control character is a 422 naming the field (a NUL reaching Postgres was a 500)."""

import pytest

from tests.helpers import assert_problem
from tests.notification_service.conftest import Notifications


@pytest.mark.parametrize(
    "message", ["hi\u0000", "\u0000", "bell\u0007", "esc\u001b[31m", "del\u007f", "n\u0085el"]
)
async def test_a_control_character_in_a_message_is_422(
    notifications: Notifications, message: str
) -> None:
    _, headers = notifications.user()
    r = await notifications.client.post(
        "/api/notifications/send", json={"message": message}, headers=headers
    )
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert body["errors"][0]["loc"] == ["body", "message"]
    assert body["errors"][0]["type"] == "control_character"
    assert await notifications.mine(headers) == []


async def test_a_message_keeps_its_tabs_and_line_breaks(notifications: Notifications) -> None:
    _, headers = notifications.user()
    message = "Dear Asha,\n\n\tyour seat is 12A.\r\nSee you on board."
    r = await notifications.client.post(
        "/api/notifications/send", json={"message": message}, headers=headers
    )
    assert r.status_code == 202, r.text
    assert r.json()["message"] == message
    [listed] = await notifications.mine(headers)
    assert listed["message"] == message


async def test_a_control_character_in_the_event_filter_is_422(
    notifications: Notifications,
) -> None:
    _, headers = notifications.user()
    r = await notifications.client.get("/api/notifications?event=booking%00", headers=headers)
    assert assert_problem(r, 422, "VALIDATION_FAILED")["errors"][0]["loc"] == ["query", "event"]
