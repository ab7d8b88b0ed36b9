"""User queries (local accounts)."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update

from moorage.db.base import utcnow
from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import User

_BY_NAME = Prepared(select(User.id, User.username, User.password_hash, User.sysadmin)
                    .where(User.username == bindparam("username")))


async def find_credentials(conn: Conn, username: str) -> tuple[int, str, str, bool] | None:
    """(id, username, password_hash, sysadmin) of ``username``, or None."""
    row = await conn.first(_BY_NAME, {"username": username})
    return (int(row[0]), str(row[1]), str(row[2]), bool(row[3])) if row else None


async def find_user(conn: Conn, user_id: int) -> User | None:
    row = (await conn.execute(select(User.__table__).where(User.id == user_id))).first()
    return User(**row._mapping) if row else None


async def find_user_by_name(conn: Conn, username: str) -> User | None:
    row = (await conn.execute(select(User.__table__).where(User.username == username))).first()
    return User(**row._mapping) if row else None


async def create_user(conn: Conn, *, username: str, email: str | None, realname: str, comment: str,
                      password_hash: str, sysadmin: bool) -> int:
    now = utcnow()
    result = await conn.execute(insert(User).values(
        username=username, email=email, realname=realname, comment=comment, password_hash=password_hash,
        sysadmin=sysadmin, created_at=now, updated_at=now,
    ).returning(User.id))
    return int(result.scalar_one())


async def set_password(conn: Conn, user_id: int, password_hash: str) -> bool:
    result = await conn.execute(update(User).where(User.id == user_id).values(
        password_hash=password_hash, updated_at=utcnow()))
    return bool(result.rowcount)
