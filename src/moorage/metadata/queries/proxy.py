"""Proxy-cache projects: which project is bound to an upstream endpoint (``projects.registry_id``)
and its proxy options (``project_metadata`` keys such as ``proxy_speed_kb``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, select, update

from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import Project, ProjectMetadata

_BY_NAME = Prepared(select(Project.id, Project.name, Project.public, Project.registry_id)
                    .where(Project.name == bindparam("name")))


@dataclass(frozen=True, slots=True)
class ProxyProjectRow:
    id: int
    name: str
    public: bool
    registry_id: int | None
    metadata: dict[str, str] = field(default_factory=dict)


async def find_project(conn: Conn, name: str) -> ProxyProjectRow | None:
    """The project ``name`` with its endpoint binding and metadata; None if it does not exist."""
    row = await conn.first(_BY_NAME, {"name": name})
    if row is None:
        return None
    metadata: dict[str, str] = {}
    if row[3] is not None:
        rows = await conn.execute(select(ProjectMetadata.name, ProjectMetadata.value)
                                  .where(ProjectMetadata.project_id == int(row[0])))
        metadata = {str(k): str(v) for k, v in rows}
    return ProxyProjectRow(int(row[0]), str(row[1]), bool(row[2]), None if row[3] is None else int(row[3]),
                           metadata)


async def set_registry(conn: Conn, project_id: int, registry_id: int) -> None:
    """Bind a (new) project to its upstream endpoint: it becomes a proxy cache."""
    await conn.execute(update(Project).where(Project.id == project_id).values(registry_id=registry_id))


async def projects_using(conn: Conn, registry_id: int) -> list[str]:
    """Names of the proxy-cache projects bound to ``registry_id``."""
    rows = await conn.execute(select(Project.name).where(Project.registry_id == registry_id).order_by(Project.name))
    return [str(r[0]) for r in rows]
