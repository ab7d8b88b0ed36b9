"""Project and repository queries, project metadata, and the filtered project list of
``/api/v2.0/projects`` (visibility and ``q`` filters are applied in SQL)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, delete, false, func, or_, select, true, update

from moorage.core.errors import BadRequest, NotFound
from moorage.core.query import Condition
from moorage.db.base import utcnow
from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import Project, ProjectMember, ProjectMetadata, Repository, User
from moorage.metadata.models.quota import ProjectQuota
from moorage.metadata.queries.dialect import insert_for, insert_on


async def list_projects(conn: Conn) -> list[Project]:
    rows = (await conn.execute(select(Project.__table__).order_by(Project.name))).all()
    return [Project(**r._mapping) for r in rows]


async def create_project(conn: Conn, name: str, public: bool, owner_id: int | None = None,
                         storage_limit: int = -1) -> int | None:
    """Insert a project with its quota row (``storage_limit`` bytes, -1 unlimited); return its
    id, or None if the name is taken."""
    now = utcnow()
    stmt = (
        insert_for(conn, Project)
        .values(name=name, public=public, owner_id=owner_id, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Project.id)
    )
    project_id: int | None = (await conn.execute(stmt)).scalar()
    if project_id is not None:
        await conn.execute(insert_for(conn, ProjectQuota).values(
            project_id=project_id, hard_storage=storage_limit, used_storage=0, creation_time=now, update_time=now))
    return project_id


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


# The /api/v2.0 project list and project details ------------------------------------------

SORTABLE = {"name": "name", "creation_time": "created_at", "update_time": "updated_at", "project_id": "id"}


@dataclass(frozen=True, slots=True)
class ProjectFilter:
    """Which projects a list shows.  Visibility first: ``everything`` (system administrators,
    robots covering every project), else public projects, the projects ``member_user_id`` is a
    member of and the projects named in ``named`` (a robot's permissions).  Then the caller's
    filters: ``q`` conditions on ``name``, ``owner`` (a username), ``project_id`` and
    ``public``, Harbor's ``name`` parameter (a fuzzy match), and the ``public`` parameter."""

    everything: bool = False
    member_user_id: int | None = None
    named: tuple[str, ...] = ()
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    name_fuzzy: str | None = None
    public: bool | None = None
    owner: str | None = None


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "t"):
        return True
    if value in ("false", "0", "f"):
        return False
    raise BadRequest(f"invalid public {raw!r}: expected true or false")


def _match(column: Any, cond: Condition, convert: Any, text: bool) -> Any:
    """A ``q`` condition on one column, with Harbor's semantics (fuzzy: case-insensitive substring)."""
    if cond.kind == "fuzzy":
        if not text:
            raise BadRequest("fuzzy matching is only supported on text fields")
        return func.lower(column).contains((cond.value or "").lower(), autoescape=True)
    if cond.kind == "exact":
        return column == convert(cond.value or "")
    if cond.kind in ("or", "and"):
        values = [convert(v) for v in cond.values]
        if cond.kind == "and" and len(set(values)) > 1:
            return false()
        return column.in_(values)
    low = column >= convert(cond.low) if cond.low is not None else true()
    return and_(low, column <= convert(cond.high) if cond.high is not None else true())


def _int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"invalid project_id {raw!r}: expected an integer") from None
    if not -(2**31) <= value < 2**31:  # ids are 32-bit; PostgreSQL refuses larger parameters
        raise BadRequest(f"invalid project_id {raw!r}: out of range")
    return value


def _owner_ids(cond: Any) -> Any:
    return select(User.id).where(cond)


def _filtered(stmt: Any, f: ProjectFilter) -> Any:
    if not f.everything:
        visible = [Project.public.is_(True)]
        if f.member_user_id is not None:
            visible.append(Project.id.in_(
                select(ProjectMember.project_id).where(ProjectMember.user_id == f.member_user_id)))
        if f.named:
            visible.append(Project.name.in_(f.named))
        stmt = stmt.where(or_(*visible))
    for key, cond in f.conditions.items():  # Harbor ignores keys that are not fields of the model
        if key == "name":
            stmt = stmt.where(_match(Project.name, cond, str, True))
        elif key == "project_id":
            stmt = stmt.where(_match(Project.id, cond, _int, False))
        elif key == "public":
            stmt = stmt.where(_match(Project.public, cond, _bool, False))
        elif key == "owner":
            stmt = stmt.where(Project.owner_id.in_(_owner_ids(_match(User.username, cond, str, True))))
    if f.name_fuzzy:
        stmt = stmt.where(func.lower(Project.name).contains(f.name_fuzzy.lower(), autoescape=True))
    if f.public is not None:
        stmt = stmt.where(Project.public.is_(f.public))
    if f.owner:
        stmt = stmt.where(Project.owner_id.in_(_owner_ids(User.username == f.owner)))
    return stmt


_WITH_OWNER = (Project.__table__, User.username.label("owner_name"))


def _with_owner(rows: Any) -> list[tuple[Project, str | None]]:
    out = []
    for r in rows:
        values = dict(r._mapping)
        owner = values.pop("owner_name")
        out.append((Project(**values), owner))
    return out


async def list_projects_page(conn: Conn, f: ProjectFilter, offset: int, limit: int,
                             sort: list[tuple[str, bool]] | None = None) -> list[tuple[Project, str | None]]:
    """One page of (project, owner's username) matching ``f``; by name unless ``sort`` says otherwise."""
    order = [getattr(Project, c).desc() if desc else getattr(Project, c) for c, desc in sort or []]
    order += [Project.name, Project.id]
    stmt = select(*_WITH_OWNER).outerjoin(User, User.id == Project.owner_id)
    rows = await conn.execute(_filtered(stmt, f).order_by(*order).offset(offset).limit(limit))
    return _with_owner(rows)


async def count_projects(conn: Conn, f: ProjectFilter) -> int:
    return int((await conn.execute(_filtered(select(func.count()).select_from(Project), f))).scalar_one())


async def get_project(conn: Conn, project_id: int) -> tuple[Project, str | None]:
    """(project, owner's username); raises NotFound."""
    stmt = select(*_WITH_OWNER).outerjoin(User, User.id == Project.owner_id).where(Project.id == project_id)
    found = _with_owner(await conn.execute(stmt))
    if not found:
        raise NotFound(f"project {project_id} not found")
    return found[0]


async def lock_project(conn: Conn, project_id: int) -> bool:
    """Lock the project's row for the rest of the write transaction (PostgreSQL: a concurrent
    push's foreign-key check waits for it); False if the project does not exist."""
    stmt = select(Project.id).where(Project.id == project_id).with_for_update()
    return (await conn.execute(stmt)).first() is not None


async def update_project(conn: Conn, project_id: int, public: bool | None = None) -> None:
    """Mark the project updated, and set ``public`` when given."""
    values: dict[str, Any] = {"updated_at": utcnow()}
    if public is not None:
        values["public"] = public
    await conn.execute(update(Project).where(Project.id == project_id).values(**values))


async def delete_project(conn: Conn, project_id: int) -> bool:
    """Delete the project (members, metadata, robots and blob links go with it)."""
    result = await conn.execute(delete(Project).where(Project.id == project_id))
    return bool(result.rowcount)


async def count_repositories(conn: Conn, project_ids: list[int]) -> dict[int, int]:
    """Repository count per project id (projects without repositories are absent)."""
    if not project_ids:
        return {}
    stmt = (select(Repository.project_id, func.count()).where(Repository.project_id.in_(project_ids))
            .group_by(Repository.project_id))
    return {int(pid): int(n) for pid, n in await conn.execute(stmt)}


async def list_metadata(conn: Conn, project_ids: list[int]) -> dict[int, dict[str, str]]:
    """The stored metadata of each project (``public`` lives in ``projects.public``, not here)."""
    out: dict[int, dict[str, str]] = {pid: {} for pid in project_ids}
    if project_ids:
        stmt = select(ProjectMetadata.project_id, ProjectMetadata.name, ProjectMetadata.value).where(
            ProjectMetadata.project_id.in_(project_ids))
        for pid, name, value in await conn.execute(stmt):
            out[int(pid)][str(name)] = str(value)
    return out


async def set_metadata(conn: Conn, project_id: int, values: Mapping[str, str]) -> None:
    """Insert or replace metadata values."""
    for name, value in values.items():
        stmt = insert_for(conn, ProjectMetadata).values(project_id=project_id, name=name, value=value)
        await conn.execute(stmt.on_conflict_do_update(index_elements=["project_id", "name"],
                                                      set_={"value": stmt.excluded.value}))


async def delete_metadata(conn: Conn, project_id: int, name: str) -> bool:
    result = await conn.execute(delete(ProjectMetadata).where(
        ProjectMetadata.project_id == project_id, ProjectMetadata.name == name))
    return bool(result.rowcount)
