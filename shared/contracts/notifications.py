"""The notification service's events: what became of a message (no service consumes them yet;
they are the record an operator or a future consumer reads)."""

import uuid

from shared.contracts.events import EventPayload


class NotificationOutcome(EventPayload):
    """What every `notification.*` event carries: the message, its channel and its attempts."""

    notification_id: int
    user_id: int
    channel: str
    event: str
    event_id: uuid.UUID | None = None  # None: a message sent through the API, not an event
    booking_id: int | None = None
    status: str
    attempts: int


class NotificationSent(NotificationOutcome, type="notification.sent"):
    """The message was handed to the sender."""


class NotificationFailed(NotificationOutcome, type="notification.failed"):
    """The message was given up after its last attempt."""
