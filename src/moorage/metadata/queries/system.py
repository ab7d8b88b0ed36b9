"""System-wide state: token signing keys and configuration overrides."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from moorage.db.base import utcnow
from moorage.db.engine import Conn
from moorage.metadata.models import ConfigItem, SigningKey
from moorage.metadata.queries.dialect import insert_for


async def list_signing_keys(conn: Conn) -> list[SigningKey]:
    """Every key, newest first."""
    rows = await conn.execute(select(SigningKey.__table__).order_by(SigningKey.created_at.desc()))
    return [SigningKey(**r._mapping) for r in rows]


async def add_signing_key(conn: Conn, kid: str, algorithm: str, private_pem: str) -> None:
    """Insert a key unless one with the same id exists (two replicas starting at once)."""
    stmt = insert_for(conn, SigningKey).values(kid=kid, algorithm=algorithm, private_pem=private_pem,
                                               created_at=utcnow())
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=["kid"]))


async def count_signing_keys(conn: Conn) -> int:
    return len((await conn.execute(select(SigningKey.kid))).all())


async def list_config(conn: Conn) -> dict[str, Any]:
    rows = await conn.execute(select(ConfigItem.key, ConfigItem.value))
    return {str(r[0]): r[1] for r in rows}


async def set_config(conn: Conn, values: dict[str, Any]) -> None:
    now = utcnow()
    for key, value in values.items():
        stmt = insert_for(conn, ConfigItem).values(key=key, value=value, updated_at=now)
        await conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value,
                                                                                     "updated_at": now}))
