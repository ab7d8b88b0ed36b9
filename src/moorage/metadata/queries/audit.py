"""Audit log queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from moorage.db.engine import Conn
from moorage.metadata.models import AuditLog

SORTABLE = {"op_time": "op_time", "username": "username", "resource": "resource", "operation": "operation",
            "resource_type": "resource_type", "id": "id"}


@dataclass(frozen=True, slots=True)
class AuditFilter:
    project_id: int | None = None
    username: str | None = None
    username_fuzzy: bool = False
    resource: str | None = None
    resource_fuzzy: bool = False
    resource_type: str | None = None
    operation: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def add_entries(conn: Conn, rows: list[dict[str, Any]]) -> None:
    await conn.execute(insert(AuditLog), rows)


def _where(stmt: Any, f: AuditFilter) -> Any:
    if f.project_id is not None:
        stmt = stmt.where(AuditLog.project_id == f.project_id)
    if f.username is not None:
        stmt = stmt.where(AuditLog.username.contains(f.username, autoescape=True) if f.username_fuzzy
                          else AuditLog.username == f.username)
    if f.resource is not None:
        stmt = stmt.where(AuditLog.resource.contains(f.resource, autoescape=True) if f.resource_fuzzy
                          else AuditLog.resource == f.resource)
    if f.resource_type is not None:
        stmt = stmt.where(AuditLog.resource_type == f.resource_type)
    if f.operation is not None:
        stmt = stmt.where(AuditLog.operation == f.operation)
    if f.since is not None:
        stmt = stmt.where(AuditLog.op_time >= f.since)
    if f.until is not None:
        stmt = stmt.where(AuditLog.op_time <= f.until)
    return stmt


async def list_entries(conn: Conn, f: AuditFilter, offset: int, limit: int,
                       sort: list[tuple[str, bool]]) -> list[AuditLog]:
    order = [getattr(AuditLog, SORTABLE[c]).desc() if desc else getattr(AuditLog, SORTABLE[c])
             for c, desc in sort] or [AuditLog.op_time.desc(), AuditLog.id.desc()]
    rows = await conn.execute(_where(select(AuditLog.__table__), f).order_by(*order).offset(offset).limit(limit))
    return [AuditLog(**r._mapping) for r in rows]


async def count_entries(conn: Conn, f: AuditFilter) -> int:
    return int((await conn.execute(_where(select(func.count()).select_from(AuditLog), f))).scalar_one())
