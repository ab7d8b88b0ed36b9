"""The event outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from moorage.db.base import utcnow
from moorage.db.engine import Conn
from moorage.metadata.models import Event
from moorage.metadata.queries.dialect import insert_for


async def create_event(conn: Conn, event_type: str, project_id: int | None, operator: str,
                       data: dict[str, Any]) -> None:
    await conn.execute(insert_for(conn, Event).values(
        event_type=event_type, project_id=project_id, operator=operator, data=data, occur_at=utcnow()))


async def list_events(conn: Conn, limit: int) -> list[Event]:
    """The oldest undispatched events (PostgreSQL: rows another dispatcher holds are skipped)."""
    stmt = select(Event.__table__).order_by(Event.id).limit(limit)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [Event(**row._mapping) for row in await conn.execute(stmt)]


async def delete_events(conn: Conn, ids: list[int]) -> None:
    await conn.execute(delete(Event).where(Event.id.in_(ids)))
