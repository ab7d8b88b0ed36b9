"""Project and repository queries."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, select, update

from moorage.db.base import utcnow
from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import Project, Repository
from moorage.metadata.queries.dialect import insert_for, insert_on


async def list_projects(conn: Conn) -> list[Project]:
    rows = (await conn.execute(select(Project.__table__).order_by(Project.name))).all()
    return [Project(**r._mapping) for r in rows]


async def create_project(conn: Conn, name: str, public: bool) -> int | None:
    """Insert a project; return its id, or None if the name is taken."""
    now = utcnow()
    stmt = (
        insert_for(conn, Project)
        .values(name=name, public=public, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Project.id)
    )
    return (await conn.execute(stmt)).scalar()


_REPOSITORY_ID = Prepared(select(Repository.id).where(Repository.name == bindparam("name")))
_PROJECT_ID = Prepared(select(Project.id).where(Project.name == bindparam("name")))


_REF_BY_NAME = Prepared(select(Project.id, Project.name, Project.public).where(Project.name == bindparam("name")))
_REF_BY_ID = Prepared(select(Project.id, Project.name, Project.public).where(Project.id == bindparam("id")))


async def find_project_ref(conn: Conn, *, name: str | None = None, project_id: int | None = None
                           ) -> tuple[int, str, bool] | None:
    """(id, name, public) of a project by name or id, or None."""
    if name is not None:
        row = await conn.first(_REF_BY_NAME, {"name": name})
    else:
        row = await conn.first(_REF_BY_ID, {"id": project_id})
    return (int(row[0]), str(row[1]), bool(row[2])) if row else None


async def find_repository_id(conn: Conn, name: str) -> int | None:
    row = await conn.first(_REPOSITORY_ID, {"name": name})
    return int(row[0]) if row else None


async def find_project_id(conn: Conn, name: str) -> int | None:
    row = await conn.first(_PROJECT_ID, {"name": name})
    return int(row[0]) if row else None


@functools.cache
def _ensure_repository(dialect: str) -> Any:
    stmt = insert_on(dialect, Repository).values(
        project_id=bindparam("project_id"), name=bindparam("name"), description="", pull_count=0,
        created_at=bindparam("now"), updated_at=bindparam("now"),
    )
    return stmt.on_conflict_do_update(index_elements=["name"], set_={"updated_at": stmt.excluded.updated_at}
                                      ).returning(Repository.id)


async def ensure_repository(conn: Conn, project_id: int, name: str) -> int:
    """Return the repository's id, creating it on first push; marks it updated either way."""
    params = {"project_id": project_id, "name": name, "now": utcnow()}
    return int((await conn.execute(_ensure_repository(conn.dialect.name), params)).scalar_one())


async def list_repository_names(conn: Conn, last: str | None, limit: int | None) -> list[str]:
    """Repository names in lexical order after ``last``; ``limit`` None means all."""
    stmt = select(Repository.name).order_by(Repository.name)
    if last:
        stmt = stmt.where(Repository.name > last)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await conn.execute(stmt)).scalars())


async def add_repository_pulls(conn: Conn, counts: dict[int, int]) -> None:
    for repo_id, n in counts.items():
        await conn.execute(
            update(Repository).where(Repository.id == repo_id).values(pull_count=Repository.pull_count + n)
        )
