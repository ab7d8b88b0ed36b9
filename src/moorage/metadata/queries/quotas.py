"""Project quota queries: locking and reading a project's limit and usage, the ``/quotas``
list, limit changes, and the recount of usage from ``project_blobs``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from moorage.core.errors import NotFound
from moorage.db.base import utcnow
from moorage.db.engine import Conn
from moorage.metadata.models import Blob, Project, ProjectBlob, User
from moorage.metadata.models.quota import ProjectQuota

# API sort keys (Harbor's ``hard.storage`` / ``used.storage``) -> columns.
SORTABLE = {
    "hard.storage": "hard_storage", "used.storage": "used_storage", "creation_time": "creation_time",
    "update_time": "update_time", "id": "project_id",
}


@dataclass(frozen=True, slots=True)
class QuotaRow:
    """A project's quota with what its ``ref`` object shows (the quota id is the project id)."""

    project_id: int
    project_name: str
    owner_name: str | None
    hard: int
    used: int
    creation_time: datetime
    update_time: datetime


@dataclass(frozen=True, slots=True)
class Usage:
    """A project's limit (-1: unlimited) and usage in bytes, and its name (for messages)."""

    project_name: str
    hard: int
    used: int


def _usage(project_id: int) -> Any:
    return (select(Project.name, ProjectQuota.hard_storage, ProjectQuota.used_storage)
            .join(Project, Project.id == ProjectQuota.project_id)
            .where(ProjectQuota.project_id == project_id))


async def lock_quota(conn: Conn, project_id: int) -> Usage | None:
    """Lock the project's quota row for the rest of the write transaction (PostgreSQL
    ``FOR UPDATE``; SQLite serializes writers anyway) and return it; None if it has none.
    Every transaction that links blobs to a project takes this lock first, so concurrent
    pushes check and update the usage one after the other, always in the same lock order."""
    row = (await conn.execute(_usage(project_id).with_for_update(of=ProjectQuota))).first()
    return Usage(str(row[0]), int(row[1]), int(row[2])) if row else None


async def find_usage(conn: Conn, project_id: int) -> Usage | None:
    """The project's limit and usage without locking (a pre-check; the locked one decides)."""
    row = (await conn.execute(_usage(project_id))).first()
    return Usage(str(row[0]), int(row[1]), int(row[2])) if row else None


async def list_usages(conn: Conn, project_ids: list[int]) -> dict[int, Usage]:
    """Limit and usage of each of the projects that has a quota row (a page of a list)."""
    if not project_ids:
        return {}
    stmt = (select(ProjectQuota.project_id, Project.name, ProjectQuota.hard_storage, ProjectQuota.used_storage)
            .join(Project, Project.id == ProjectQuota.project_id)
            .where(ProjectQuota.project_id.in_(project_ids)))
    return {int(r[0]): Usage(str(r[1]), int(r[2]), int(r[3])) for r in (await conn.execute(stmt)).all()}


async def find_blob_in_project(conn: Conn, project_id: int, digest: str) -> bool:
    """Whether the project already holds the blob (adding it again costs nothing)."""
    stmt = (select(ProjectBlob.blob_id).join(Blob, Blob.id == ProjectBlob.blob_id)
            .where(ProjectBlob.project_id == project_id, Blob.digest == digest))
    return (await conn.execute(stmt)).first() is not None


_ROW = (ProjectQuota.project_id, Project.name, User.username, ProjectQuota.hard_storage, ProjectQuota.used_storage,
        ProjectQuota.creation_time, ProjectQuota.update_time)


def _rows(stmt: Any) -> Any:
    return (stmt.join(Project, Project.id == ProjectQuota.project_id)
            .outerjoin(User, User.id == Project.owner_id))


def _quota(row: Any) -> QuotaRow:
    return QuotaRow(int(row[0]), str(row[1]), row[2], int(row[3]), int(row[4]), row[5], row[6])


async def get_quota(conn: Conn, project_id: int) -> QuotaRow:
    """The quota of a project; raises NotFound."""
    row = (await conn.execute(_rows(select(*_ROW)).where(ProjectQuota.project_id == project_id))).first()
    if row is None:
        raise NotFound(f"quota {project_id} not found")
    return _quota(row)


async def list_quotas(conn: Conn, project_id: int | None, offset: int, limit: int,
                      sort: list[tuple[str, bool]]) -> list[QuotaRow]:
    """A page of quotas (only ``project_id``'s when given), ordered by ``sort`` then id."""
    order = [getattr(ProjectQuota, c).desc() if desc else getattr(ProjectQuota, c) for c, desc in sort]
    stmt = _rows(select(*_ROW))
    if project_id is not None:
        stmt = stmt.where(ProjectQuota.project_id == project_id)
    rows = await conn.execute(stmt.order_by(*order, ProjectQuota.project_id).offset(offset).limit(limit))
    return [_quota(r) for r in rows]


async def count_quotas(conn: Conn, project_id: int | None) -> int:
    stmt = select(func.count()).select_from(ProjectQuota)
    if project_id is not None:
        stmt = stmt.where(ProjectQuota.project_id == project_id)
    return int((await conn.execute(stmt)).scalar_one())


async def update_hard(conn: Conn, project_id: int, hard: int) -> bool:
    """Set the project's limit; False if it has no quota."""
    result = await conn.execute(update(ProjectQuota).where(ProjectQuota.project_id == project_id)
                                .values(hard_storage=hard, update_time=utcnow()))
    return bool(result.rowcount)


async def list_recounts(conn: Conn, project_id: int | None) -> dict[int, tuple[int, int]]:
    """project id -> (stored usage, Σ size of its blobs), for one project or all."""
    recount = (select(func.coalesce(func.sum(Blob.size), 0))
               .select_from(ProjectBlob).join(Blob, Blob.id == ProjectBlob.blob_id)
               .where(ProjectBlob.project_id == ProjectQuota.project_id)
               .scalar_subquery())
    stmt = select(ProjectQuota.project_id, ProjectQuota.used_storage, recount)
    if project_id is not None:
        stmt = stmt.where(ProjectQuota.project_id == project_id)
    return {int(pid): (int(used), int(total)) for pid, used, total in await conn.execute(stmt)}


async def update_used(conn: Conn, project_id: int, used: int) -> None:
    """Overwrite the stored usage (the recount's repair)."""
    await conn.execute(update(ProjectQuota).where(ProjectQuota.project_id == project_id)
                       .values(used_storage=used, update_time=utcnow()))
