"""Request and response bodies of the notification service (camelCase in JSON)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from notification_service.models import Notification
from shared.ids import BIGINT_MAX
from shared.schemas import CamelModel, MultilineText, RequestModel

Channel = Literal["email", "sms"]


class SendRequest(RequestModel):
    user_id: Annotated[int, Field(ge=1, le=BIGINT_MAX)] | None = Field(
        None, description="Whom to message: yourself (the default); admins: anyone"
    )
    # Free text: may keep tabs and line breaks (no other control character).
    message: Annotated[
        MultilineText, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ]
    channel: Channel = "email"


class NotificationOut(CamelModel):
    id: int
    user_id: int
    channel: str
    event: str
    event_id: str | None
    booking_id: int | None
    reference: str | None
    subject: str | None
    message: MultilineText
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, n: Notification) -> "NotificationOut":
        return cls(
            id=n.id,
            user_id=n.user_id,
            channel=n.channel,
            event=n.event_type,
            event_id=str(n.event_id) if n.event_id else None,
            booking_id=n.booking_id,
            reference=n.reference,
            subject=n.subject,
            message=n.message,
            status=n.status,
            attempts=n.attempts,
            created_at=n.created_at,
            sent_at=n.sent_at,
        )


class NotificationPage(CamelModel):
    items: list[NotificationOut]
    next_cursor: str | None
