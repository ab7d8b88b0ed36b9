"""The audit log: who did what to which resource, when, and whether it worked.  Changes are
recorded in the same transaction as the change itself, so the log never claims an
operation that rolled back (or misses one that committed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from moorage.db.base import utcnow
from moorage.db.engine import Conn, Database
from moorage.metadata.models import AuditLog
from moorage.metadata.queries import audit as q


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a domain operation, as the audit log names it."""

    username: str
    client_ip: str = ""


SYSTEM = Actor("system")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    operation: str  # create | update | delete | pull | login | logout
    resource_type: str  # user | project | member | robot | repository | artifact | tag | configuration
    resource: str
    project_id: int | None = None
    description: str = ""
    success: bool = True


class AuditService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, conn: Conn, actor: Actor, entry: AuditEntry, at: datetime | None = None) -> None:
        """Record inside the caller's transaction."""
        await q.add_entries(conn, [_row(actor, entry, at or utcnow())])

    async def record_now(self, actor: Actor, entry: AuditEntry) -> None:
        """Record in a transaction of its own (sign-in results, denied operations)."""
        async with self.db.write() as uow:
            await self.record(uow.conn, actor, entry)

    async def record_many(self, conn: Conn, entries: list[tuple[Actor, AuditEntry, datetime]]) -> None:
        """Record a batch inside the caller's transaction (pulls are flushed this way)."""
        if entries:
            await q.add_entries(conn, [_row(a, e, t) for a, e, t in entries])

    async def list(self, filters: q.AuditFilter, offset: int, limit: int,
                   sort: list[tuple[str, bool]]) -> tuple[list[AuditLog], int]:
        async with self.db.read() as conn:
            return await q.list_entries(conn, filters, offset, limit, sort), await q.count_entries(conn, filters)


def _row(actor: Actor, entry: AuditEntry, at: datetime) -> dict[str, object]:
    return {
        "project_id": entry.project_id, "username": actor.username, "resource": entry.resource[:1024],
        "resource_type": entry.resource_type, "operation": entry.operation,
        "operation_description": entry.description, "success": entry.success, "client_ip": actor.client_ip,
        "op_time": at,
    }
