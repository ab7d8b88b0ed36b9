"""Robot account queries."""

from __future__ import annotations

from sqlalchemy import select

from moorage.db.engine import Conn
from moorage.metadata.models import Robot


async def find_robot_by_name(conn: Conn, name: str) -> Robot | None:
    row = (await conn.execute(select(Robot.__table__).where(Robot.name == name))).first()
    return Robot(**row._mapping) if row else None
