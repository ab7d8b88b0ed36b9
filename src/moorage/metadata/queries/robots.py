"""Robot account queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from moorage.core.errors import NotFound
from moorage.db.base import utcnow
from moorage.db.engine import Conn
from moorage.metadata.models import Robot
from moorage.metadata.queries.dialect import insert_for

# API sort field -> column
SORTABLE = {
    "id": "id",
    "name": "name",
    "creation_time": "created_at",
    "update_time": "updated_at",
    "expires_at": "expires_at",
    "duration": "duration",
    "level": "level",
    "disable": "disabled",
}


@dataclass(frozen=True, slots=True)
class RobotFilter:
    """``level`` "system" lists robots without a project; ``names`` matches any of the full names."""

    level: str | None = None
    project_id: int | None = None
    names: tuple[str, ...] = ()
    name_contains: str | None = None
    description_contains: str | None = None


async def find_robot_by_name(conn: Conn, name: str) -> Robot | None:
    row = (await conn.execute(select(Robot.__table__).where(Robot.name == name))).first()
    return Robot(**row._mapping) if row else None


async def find_robot(conn: Conn, robot_id: int) -> Robot | None:
    row = (await conn.execute(select(Robot.__table__).where(Robot.id == robot_id))).first()
    return Robot(**row._mapping) if row else None


async def get_robot(conn: Conn, robot_id: int) -> Robot:
    """The robot, or NotFound."""
    robot = await find_robot(conn, robot_id)
    if robot is None:
        raise NotFound(f"robot {robot_id} not found")
    return robot


async def create_robot(conn: Conn, **values: Any) -> int | None:
    """Insert a robot (``values`` are its columns); its id, or None if the name is taken."""
    now = utcnow()
    stmt = (
        insert_for(conn, Robot)
        .values(created_at=now, updated_at=now, **values)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Robot.id)
    )
    return (await conn.execute(stmt)).scalar()


async def update_robot(conn: Conn, robot_id: int, **values: Any) -> bool:
    """Set the given columns (and ``updated_at``); False if the robot is gone."""
    result = await conn.execute(update(Robot).where(Robot.id == robot_id).values(updated_at=utcnow(), **values))
    return bool(result.rowcount)


async def delete_robot(conn: Conn, robot_id: int) -> bool:
    result = await conn.execute(delete(Robot).where(Robot.id == robot_id))
    return bool(result.rowcount)


def _where(stmt: Any, f: RobotFilter) -> Any:
    if f.level == "system":
        stmt = stmt.where(Robot.level == "system", Robot.project_id.is_(None))
    elif f.level is not None:
        stmt = stmt.where(Robot.level == f.level)
    if f.project_id is not None:
        stmt = stmt.where(Robot.project_id == f.project_id)
    if f.names:
        stmt = stmt.where(or_(*(Robot.name == n for n in f.names)))
    if f.name_contains is not None:
        stmt = stmt.where(Robot.name.contains(f.name_contains, autoescape=True))
    if f.description_contains is not None:
        stmt = stmt.where(Robot.description.contains(f.description_contains, autoescape=True))
    return stmt


async def list_robots(conn: Conn, f: RobotFilter, offset: int, limit: int, sort: list[tuple[str, bool]]) -> list[Robot]:
    """Robots matching ``f``; ``sort`` holds (column, descending) pairs (default: newest first)."""
    order = [getattr(Robot, c).desc() if desc else getattr(Robot, c) for c, desc in sort]
    order = order or [Robot.created_at.desc(), Robot.id.desc()]
    if sort:
        order.append(Robot.id)
    rows = await conn.execute(_where(select(Robot.__table__), f).order_by(*order).offset(offset).limit(limit))
    return [Robot(**r._mapping) for r in rows]


async def count_robots(conn: Conn, f: RobotFilter) -> int:
    return int((await conn.execute(_where(select(func.count()).select_from(Robot), f))).scalar_one())


async def strip_project_permissions(conn: Conn, project_name: str) -> int:
    """Remove permissions naming ``project_name`` from system robots (a later project of the
    same name must not inherit them); returns how many robots changed."""
    rows = (await conn.execute(select(Robot.id, Robot.permissions).where(Robot.level == "system"))).all()
    changed = 0
    for robot_id, permissions in rows:
        kept = [p for p in permissions or [] if not (p.get("kind") == "project"
                                                     and p.get("namespace") == project_name)]
        if len(kept) != len(permissions or []):
            await conn.execute(update(Robot).where(Robot.id == robot_id).values(permissions=kept))
            changed += 1
    return changed
