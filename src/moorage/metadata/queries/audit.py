"""Audit log queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, false, func, insert, not_, or_, select, true

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


# Purging (the PURGE_AUDIT_LOG job) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PurgeSelection:
    """Which entries a purge takes: every one (``everything``), else those whose
    (operation, resource_type) is in ``pairs``, whose operation is in ``operations``, or — when
    ``others_than`` is set — whose pair is none of ``others_than``."""

    everything: bool = False
    pairs: tuple[tuple[str, str], ...] = ()
    operations: tuple[str, ...] = ()
    others_than: tuple[tuple[str, str], ...] | None = None


def _pair(pair: tuple[str, str]) -> Any:
    return and_(AuditLog.operation == pair[0], AuditLog.resource_type == pair[1])


def _purgeable(stmt: Any, before: datetime, sel: PurgeSelection) -> Any:
    stmt = stmt.where(AuditLog.op_time < before)
    if sel.everything:
        return stmt
    clauses = [_pair(p) for p in sel.pairs]
    if sel.operations:
        clauses.append(AuditLog.operation.in_(sel.operations))
    if sel.others_than is not None:
        clauses.append(not_(or_(*(_pair(p) for p in sel.others_than))) if sel.others_than else true())
    return stmt.where(or_(*clauses) if clauses else false())


async def count_purgeable(conn: Conn, before: datetime, sel: PurgeSelection) -> int:
    """How many entries older than ``before`` the selection takes."""
    stmt = _purgeable(select(func.count()).select_from(AuditLog), before, sel)
    return int((await conn.execute(stmt)).scalar_one())


async def delete_purgeable(conn: Conn, before: datetime, sel: PurgeSelection, limit: int) -> int:
    """Delete up to ``limit`` of the oldest entries the selection takes; how many went."""
    oldest = _purgeable(select(AuditLog.id), before, sel).order_by(AuditLog.op_time, AuditLog.id).limit(limit)
    result = await conn.execute(delete(AuditLog).where(AuditLog.id.in_(oldest.scalar_subquery())))
    return int(result.rowcount or 0)
