"""The mock email/SMS gateway: "delivers" a notification by logging one line.

A real provider would go behind the same `Sender` protocol; delivery is at least once per
queued row, and a row is marked sent in the same transaction that delivered it.
"""

import logging
from typing import Protocol

from notification_service.models import Notification

log = logging.getLogger("notification.sender")


class Sender(Protocol):
    async def send(self, notification: Notification) -> None:
        """Deliver, or raise."""


class MockSender:
    """Logs the message (an email's subject, or the SMS text) instead of sending it."""

    async def send(self, notification: Notification) -> None:
        n = notification
        what = f"subject={n.subject!r}" if n.channel == "email" else f"text={n.message!r}"
        log.info(
            "mock %s to user %s (notification %s, %s): %s",
            n.channel,
            n.user_id,
            n.id,
            n.event_type,
            what,
            extra={"notification_id": n.id, "channel": n.channel},
        )
