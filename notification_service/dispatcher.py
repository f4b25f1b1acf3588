"""The loop that delivers queued notifications: every few seconds, or at once when woken."""

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notification_service import service
from notification_service.sender import Sender
from shared.background import Alarm, stop_if_cancelled

log = logging.getLogger("notification.dispatcher")


class Dispatcher:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: Sender,
        interval: float,
        max_attempts: int,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.sender = sender
        self.interval = interval
        self.max_attempts = max_attempts
        self._alarm = Alarm()

    def wake(self) -> None:
        self._alarm.wake()

    async def run_once(self) -> int:
        return await service.deliver_pending(
            sessionmaker=self.sessionmaker, sender=self.sender, max_attempts=self.max_attempts
        )

    async def run(self) -> None:
        while True:
            stop_if_cancelled()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification dispatch failed; retrying")
            await self._alarm.sleep(self.interval)
