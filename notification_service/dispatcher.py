"""The loop that delivers queued notifications: every few seconds, or at once when woken."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notification_service import service
from notification_service.sender import Sender
from shared.background import Periodic


class Dispatcher(Periodic):
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: Sender,
        interval: float,
        max_attempts: int,
    ) -> None:
        super().__init__(self.run_once, interval=interval, name="notification-dispatch")
        self.sessionmaker = sessionmaker
        self.sender = sender
        self.max_attempts = max_attempts

    async def run_once(self) -> int:
        return await service.deliver_pending(
            sessionmaker=self.sessionmaker, sender=self.sender, max_attempts=self.max_attempts
        )
