"""Project membership queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from moorage.db.base import utcnow
from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import ProjectMember, User
from moorage.metadata.queries.dialect import insert_for

_ROLE = Prepared(select(ProjectMember.role).where(
    ProjectMember.project_id == bindparam("project_id"), ProjectMember.user_id == bindparam("user_id")))


async def find_role(conn: Conn, project_id: int, user_id: int) -> int | None:
    """The user's role id in the project, or None for a non-member."""
    row = await conn.first(_ROLE, {"project_id": project_id, "user_id": user_id})
    return int(row[0]) if row else None


async def list_user_project_ids(conn: Conn, user_id: int) -> list[int]:
    """Ids of the projects the user is a member of."""
    rows = await conn.execute(select(ProjectMember.project_id).where(ProjectMember.user_id == user_id))
    return [int(r[0]) for r in rows]


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A membership with the member's username."""

    id: int
    project_id: int
    user_id: int
    username: str
    role: int


_COLUMNS = (ProjectMember.id, ProjectMember.project_id, ProjectMember.user_id, User.username, ProjectMember.role)


def _members(project_id: int, name_contains: str | None) -> tuple[Any, ...]:
    conditions: list[Any] = [ProjectMember.project_id == project_id]
    if name_contains:
        conditions.append(func.lower(User.username).contains(name_contains.lower(), autoescape=True))
    return tuple(conditions)


def _row(r: Any) -> MemberRow:
    return MemberRow(int(r[0]), int(r[1]), int(r[2]), str(r[3]), int(r[4]))


async def list_members(conn: Conn, project_id: int, name_contains: str | None, offset: int,
                       limit: int) -> list[MemberRow]:
    """One page of the project's members (optionally whose username contains ``name_contains``), by name."""
    stmt = (select(*_COLUMNS).join(User, User.id == ProjectMember.user_id)
            .where(*_members(project_id, name_contains))
            .order_by(User.username, ProjectMember.id).offset(offset).limit(limit))
    return [_row(r) for r in await conn.execute(stmt)]


async def count_members(conn: Conn, project_id: int, name_contains: str | None) -> int:
    stmt = (select(func.count()).select_from(ProjectMember).join(User, User.id == ProjectMember.user_id)
            .where(*_members(project_id, name_contains)))
    return int((await conn.execute(stmt)).scalar_one())


async def find_member(conn: Conn, project_id: int, member_id: int) -> MemberRow | None:
    stmt = (select(*_COLUMNS).join(User, User.id == ProjectMember.user_id)
            .where(ProjectMember.project_id == project_id, ProjectMember.id == member_id))
    row = (await conn.execute(stmt)).first()
    return _row(row) if row else None


async def create_member(conn: Conn, project_id: int, user_id: int, role: int) -> int | None:
    """Add a membership; its id, or None if the user already is a member."""
    now = utcnow()
    stmt = (insert_for(conn, ProjectMember)
            .values(project_id=project_id, user_id=user_id, role=role, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["project_id", "user_id"])
            .returning(ProjectMember.id))
    found = (await conn.execute(stmt)).scalar()
    return int(found) if found is not None else None


async def update_member_role(conn: Conn, project_id: int, member_id: int, role: int) -> bool:
    result = await conn.execute(update(ProjectMember).where(
        ProjectMember.project_id == project_id, ProjectMember.id == member_id).values(role=role, updated_at=utcnow()))
    return bool(result.rowcount)


async def delete_member(conn: Conn, project_id: int, member_id: int) -> bool:
    result = await conn.execute(delete(ProjectMember).where(
        ProjectMember.project_id == project_id, ProjectMember.id == member_id))
    return bool(result.rowcount)


async def count_members_by_role(conn: Conn, project_id: int) -> dict[int, int]:
    """Role id -> number of members holding it."""
    stmt = (select(ProjectMember.role, func.count()).where(ProjectMember.project_id == project_id)
            .group_by(ProjectMember.role))
    return {int(role): int(n) for role, n in await conn.execute(stmt)}


async def list_roles(conn: Conn, user_id: int, project_ids: list[int]) -> dict[int, int]:
    """The user's role in each of ``project_ids`` they are a member of."""
    if not project_ids:
        return {}
    stmt = select(ProjectMember.project_id, ProjectMember.role).where(
        ProjectMember.user_id == user_id, ProjectMember.project_id.in_(project_ids))
    return {int(pid): int(role) for pid, role in await conn.execute(stmt)}
