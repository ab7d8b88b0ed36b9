"""Events and the outbox: a change writes its event row in its own transaction; the job
service's dispatcher hands each committed event to the subscribers (webhooks now, event-based
replication and scan-on-push later).  Nothing here calls job code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moorage.db.engine import Conn, UnitOfWork
from moorage.metadata.queries import events as eq

PUSH_ARTIFACT = "PUSH_ARTIFACT"
PULL_ARTIFACT = "PULL_ARTIFACT"
DELETE_ARTIFACT = "DELETE_ARTIFACT"
QUOTA_EXCEED = "QUOTA_EXCEED"
QUOTA_WARNING = "QUOTA_WARNING"
TAG_RETENTION = "TAG_RETENTION"
REPLICATION = "REPLICATION"
EVENT_TYPES = (PUSH_ARTIFACT, PULL_ARTIFACT, DELETE_ARTIFACT, QUOTA_EXCEED, QUOTA_WARNING, TAG_RETENTION,
               REPLICATION)


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    event_type: str
    project_id: int | None
    operator: str
    data: dict[str, Any]
    occur_at: datetime


Subscriber = Callable[[UnitOfWork, EventRecord], Awaitable[None]]


class EventLog:
    """Writes outbox rows; ``wake`` (set by the job service) is told after a commit that
    there is something to dispatch, so events go out without waiting for the next tick."""

    def __init__(self) -> None:
        self.wake: Callable[[], None] | None = None

    async def emit(self, conn: Conn, event_type: str, project_id: int | None, operator: str,
                   data: dict[str, Any]) -> None:
        """Record an event inside the caller's transaction."""
        await eq.create_event(conn, event_type, project_id, operator, data)

    async def emit_in(self, uow: UnitOfWork, event_type: str, project_id: int | None, operator: str,
                      data: dict[str, Any]) -> None:
        """Like ``emit``, and wake the dispatcher once the transaction commits."""
        await self.emit(uow.conn, event_type, project_id, operator, data)
        if self.wake is not None:
            uow.after_commit(self.wake)
