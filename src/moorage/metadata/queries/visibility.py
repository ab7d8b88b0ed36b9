"""Which projects a caller can see: public ones, the ones they are a member of, and the
ones a robot's permissions name; and the catalog restricted to them."""

from __future__ import annotations

from sqlalchemy import or_, select

from moorage.db.engine import Conn
from moorage.metadata.models import Project, ProjectMember, Repository


async def list_visible_project_ids(conn: Conn, user_id: int | None, project_names: list[str]) -> set[int]:
    """Public projects, plus the user's memberships, plus projects named in ``project_names``."""
    conditions = [Project.public.is_(True)]
    if user_id is not None:
        conditions.append(Project.id.in_(select(ProjectMember.project_id).where(ProjectMember.user_id == user_id)))
    if project_names:
        conditions.append(Project.name.in_(project_names))
    rows = await conn.execute(select(Project.id).where(or_(*conditions)))
    return {int(r[0]) for r in rows}


async def list_repository_names_in(conn: Conn, project_ids: set[int], last: str | None,
                                   limit: int | None) -> list[str]:
    """Repository names of the given projects in lexical order after ``last``."""
    stmt = select(Repository.name).where(Repository.project_id.in_(project_ids)).order_by(Repository.name)
    if last:
        stmt = stmt.where(Repository.name > last)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await conn.execute(stmt)).scalars())
