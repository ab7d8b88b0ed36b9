"""Project membership queries."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import ProjectMember

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
