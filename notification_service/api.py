"""HTTP routes of the notification service: thin handlers over `service`."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from notification_service import service
from notification_service.config import NotificationSettings
from notification_service.schemas import (
    Channel,
    NotificationOut,
    NotificationPage,
    SendRequest,
)
from notification_service.send_quota import SendQuota
from notification_service.sender import Sender
from shared.db import SessionDep
from shared.deps import from_state
from shared.ids import BIGINT_MAX
from shared.openapi import problems
from shared.security import CurrentUser

SenderDep = Annotated[Sender, from_state("sender")]
SendQuotaDep = Annotated[SendQuota, from_state("send_quota")]
SettingsDep = Annotated[NotificationSettings, from_state("settings")]


router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@router.post(
    "/send",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Message a user (yourself; admins: anyone) by mock email or SMS",
    responses=problems(
        (403, "userId is another user's (FORBIDDEN)"),
        (429, "Over the sender's quota (NOTIFICATION_RATE_LIMITED), with Retry-After"),
    ),
)
async def send(
    body: SendRequest,
    user: CurrentUser,
    session: SessionDep,
    sender: SenderDep,
    quota: SendQuotaDep,
    settings: SettingsDep,
) -> NotificationOut:
    n = await service.send_message(
        session=session,
        sender=sender,
        user=user,
        user_id=body.user_id,
        message=body.message,
        quota=quota,
        channel=body.channel,
        max_attempts=settings.notification_max_attempts,
    )
    return NotificationOut.of(n)


@router.get("", summary="My notifications, newest first (the automatic ones included)")
async def list_notifications(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
    channel: Channel | None = None,
    event: Annotated[
        str | None, Query(max_length=100, description="e.g. booking.confirmed")
    ] = None,
) -> NotificationPage:
    items, next_cursor = await service.list_notifications(
        session=session,
        user=user,
        limit=limit,
        cursor=int(cursor) if cursor else None,
        channel=channel,
        event=event,
    )
    return NotificationPage(items=[NotificationOut.of(n) for n in items], next_cursor=next_cursor)


@router.get(
    "/{notification_id:id}",
    summary="One of my notifications",
    responses=problems((404, "No such notification of mine (NOTIFICATION_NOT_FOUND)")),
)
async def get_notification(
    notification_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    user: CurrentUser,
    session: SessionDep,
) -> NotificationOut:
    n = await service.get_notification(session=session, user=user, notification_id=notification_id)
    return NotificationOut.of(n)
