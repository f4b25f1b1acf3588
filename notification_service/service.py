"""Notifications: recording them (from events or the API), delivering them, listing them.

Recording and delivering are two steps. An event's notifications are inserted as `queued` in
the consumer's transaction (the processed-event record and the unique (event_id, channel) key
make a repeat a no-op); the dispatcher then locks queued rows (`SKIP LOCKED`, so two
dispatchers never take the same row), hands each to the sender and marks it `sent` in the same
transaction, or counts a failed attempt (`failed` after `max_attempts`).
"""

import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notification_service import templates
from notification_service.models import (
    EMAIL,
    FAILED,
    MANUAL,
    QUEUED,
    SENT,
    Notification,
    outbox,
)
from notification_service.send_quota import SendQuota
from notification_service.sender import Sender
from shared import clock
from shared.contracts.events import EventPayload
from shared.contracts.notifications import (
    NotificationFailed,
    NotificationOutcome,
    NotificationSent,
)
from shared.errors import NotFound
from shared.events import publish_many
from shared.security import Principal, ensure_self_or_admin

log = logging.getLogger("notification.service")


class NotificationNotFound(NotFound):
    code, title = "NOTIFICATION_NOT_FOUND", "Notification not found"


# Recording ------------------------------------------------------------------------------------


_QUEUE = (
    pg_insert(Notification)
    .on_conflict_do_nothing(index_elements=[Notification.event_id, Notification.channel])
    .returning(Notification.id)
)


async def record_event(
    *, session: AsyncSession, event_id: uuid.UUID, event: EventPayload
) -> list[int]:
    """Queue the email and SMS of an event (`event_id`, its parsed contract `event`) in the
    caller's transaction; the ids newly queued.

    Nothing for an event without a template or naming no user; nothing new for an event
    already recorded.
    """
    rendered = templates.render(event)
    if rendered is None:
        log.info("%s %s: nobody to notify", event.type, event_id)
        return []
    rows = [
        {
            "user_id": rendered.user_id,
            "channel": draft.channel,
            "event_type": event.type,
            "event_id": event_id,
            "booking_id": rendered.booking_id,
            "reference": rendered.reference,
            "subject": draft.subject,
            "message": draft.message,
            "status": QUEUED,
        }
        for draft in rendered.drafts
    ]
    # executemany (one round trip, the statement compiled once and cached), not a multi-row
    # VALUES that SQLAlchemy would compile anew for every event.
    inserted = await session.scalars(_QUEUE, rows)
    return [i for i in inserted if i is not None]


async def send_message(
    *,
    session: AsyncSession,
    sender: Sender,
    user: Principal,
    user_id: int | None,
    message: str,
    quota: SendQuota | None,
    channel: str = EMAIL,
    max_attempts: int = 3,
) -> Notification:
    """A message to a user (the caller themself; admins: anyone), delivered right away.

    Counted against the caller's `quota` first (None: not limited, for the service's own
    callers). Recorded and delivered in one transaction: no dispatcher can see the row before
    this delivery attempt is over; if it fails with attempts left, the dispatcher retries it.
    """
    ensure_self_or_admin(user, user_id)
    if quota is not None:
        await quota.take(user)
    notification = Notification(
        user_id=user_id if user_id is not None else user.user_id,
        channel=channel,
        event_type=MANUAL,
        subject="Message from FlightBook" if channel == EMAIL else None,
        message=message,
        status=QUEUED,
        attempts=0,
    )
    async with session.begin():
        session.add(notification)
        await session.flush()
        await session.refresh(notification)  # created_at, from the database
        await _deliver_rows(session, sender, [notification], max_attempts=max_attempts)
    return notification


# Delivering -----------------------------------------------------------------------------------


async def deliver(
    *,
    session: AsyncSession,
    sender: Sender,
    ids: Sequence[int] | None = None,
    max_attempts: int = 3,
    limit: int = 100,
) -> int:
    """Deliver queued notifications (these `ids`, or the oldest `limit`); how many were sent.

    Rows another dispatcher holds are skipped; it delivers them.
    """
    query = select(Notification).where(Notification.status == QUEUED)
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    query = query.order_by(Notification.id).limit(limit).with_for_update(skip_locked=True)
    async with session.begin():
        rows = (await session.scalars(query.execution_options(populate_existing=True))).all()
        return await _deliver_rows(session, sender, rows, max_attempts=max_attempts)


async def _deliver_rows(
    session: AsyncSession, sender: Sender, rows: Sequence[Notification], *, max_attempts: int
) -> int:
    """Hand each (locked) row to the sender and record the outcome, in the open transaction."""
    sent = 0
    outcomes: list[NotificationOutcome] = []
    for n in rows:
        n.attempts += 1
        try:
            await sender.send(n)
        except Exception as exc:
            n.last_error = f"{type(exc).__name__}: {exc}"[:200]
            if n.attempts >= max_attempts:
                n.status = FAILED
                outcomes.append(_outcome(NotificationFailed, n))
                log.warning("notification %s failed after %s attempts", n.id, n.attempts)
            continue
        n.status = SENT
        n.sent_at = clock.utcnow()
        n.last_error = None
        sent += 1
        outcomes.append(_outcome(NotificationSent, n))
    await publish_many(session, outbox, outcomes)  # one insert for the whole batch
    return sent


async def deliver_pending(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    sender: Sender,
    max_attempts: int = 3,
    limit: int = 100,
) -> int:
    """The dispatcher's job: deliver queued notifications until none is left (or all failed)."""
    total = 0
    while True:
        async with sessionmaker() as session:
            sent = await deliver(
                session=session, sender=sender, max_attempts=max_attempts, limit=limit
            )
        total += sent
        if sent < limit:
            return total


def _outcome(contract: type[NotificationOutcome], n: Notification) -> NotificationOutcome:
    return contract(
        notification_id=n.id,
        user_id=n.user_id,
        channel=n.channel,
        event=n.event_type,
        event_id=n.event_id,
        booking_id=n.booking_id,
        status=n.status,
        attempts=n.attempts,
    )


# Reading --------------------------------------------------------------------------------------


async def list_notifications(
    *,
    session: AsyncSession,
    user: Principal,
    limit: int,
    cursor: int | None = None,
    channel: str | None = None,
    event: str | None = None,
) -> tuple[list[Notification], str | None]:
    """The caller's notifications, newest first; the cursor is the last id of the page before."""
    query = select(Notification).where(Notification.user_id == user.user_id)
    if cursor is not None:
        query = query.where(Notification.id < cursor)
    if channel is not None:
        query = query.where(Notification.channel == channel)
    if event is not None:
        query = query.where(Notification.event_type == event)
    rows = list(
        (await session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1))).all()
    )
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def get_notification(
    *, session: AsyncSession, user: Principal, notification_id: int
) -> Notification:
    """One of the caller's notifications (admins: anyone's); someone else's answers 404."""
    n = await session.get(Notification, notification_id)
    if n is None or (n.user_id != user.user_id and not user.is_admin):
        raise NotificationNotFound(f"Notification {notification_id} not found")
    return n
