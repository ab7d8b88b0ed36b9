"""User queries (local accounts)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, false, func, select, true, update

from moorage.core.errors import BadRequest, NotFound
from moorage.core.query import Condition
from moorage.db.base import utcnow
from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import User
from moorage.metadata.queries.dialect import insert_for

_BY_NAME = Prepared(select(User.id, User.username, User.password_hash, User.sysadmin)
                    .where(User.username == bindparam("username")))

# API field name -> column, for ``q`` filters and ``sort``.
FIELDS: dict[str, Any] = {
    "user_id": User.id, "username": User.username, "email": User.email, "realname": User.realname,
    "creation_time": User.created_at, "update_time": User.updated_at,
}
SORTABLE = {name: name for name in FIELDS}
_TEXT = frozenset({"username", "email", "realname"})


async def find_credentials(conn: Conn, username: str) -> tuple[int, str, str, bool] | None:
    """(id, username, password_hash, sysadmin) of ``username``, or None."""
    row = await conn.first(_BY_NAME, {"username": username})
    return (int(row[0]), str(row[1]), str(row[2]), bool(row[3])) if row else None


async def find_user(conn: Conn, user_id: int) -> User | None:
    row = (await conn.execute(select(User.__table__).where(User.id == user_id))).first()
    return User(**row._mapping) if row else None


async def get_user(conn: Conn, user_id: int) -> User:
    """The user with ``user_id``; raises NotFound."""
    user = await find_user(conn, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def find_user_by_name(conn: Conn, username: str) -> User | None:
    row = (await conn.execute(select(User.__table__).where(User.username == username))).first()
    return User(**row._mapping) if row else None


async def find_user_id_by_email(conn: Conn, email: str) -> int | None:
    row = (await conn.execute(select(User.id).where(User.email == email))).first()
    return int(row[0]) if row else None


async def create_user(conn: Conn, *, username: str, email: str | None, realname: str, comment: str,
                      password_hash: str, sysadmin: bool) -> int | None:
    """Insert a user; return its id, or None when the username or email is taken."""
    now = utcnow()
    stmt = insert_for(conn, User).values(
        username=username, email=email, realname=realname, comment=comment, password_hash=password_hash,
        sysadmin=sysadmin, created_at=now, updated_at=now,
    ).on_conflict_do_nothing().returning(User.id)
    user_id = (await conn.execute(stmt)).scalar()
    return None if user_id is None else int(user_id)


async def set_password(conn: Conn, user_id: int, password_hash: str) -> bool:
    result = await conn.execute(update(User).where(User.id == user_id).values(
        password_hash=password_hash, updated_at=utcnow()))
    return bool(result.rowcount)


async def update_profile(conn: Conn, user_id: int, values: Mapping[str, str | None]) -> bool:
    """Set some of ``email``, ``realname``, ``comment``; False if the user does not exist."""
    result = await conn.execute(update(User).where(User.id == user_id).values(**values, updated_at=utcnow()))
    return bool(result.rowcount)


async def set_locale(conn: Conn, user_id: int, locale: str | None) -> bool:
    """Remember the user's portal language (None: follow the browser)."""
    result = await conn.execute(update(User).where(User.id == user_id).values(locale=locale))
    return bool(result.rowcount)


async def set_sysadmin(conn: Conn, user_id: int, sysadmin: bool) -> bool:
    result = await conn.execute(update(User).where(User.id == user_id).values(
        sysadmin=sysadmin, updated_at=utcnow()))
    return bool(result.rowcount)


async def delete_user(conn: Conn, user_id: int) -> bool:
    """Delete a user; memberships and browser sessions go with it (foreign-key cascade)."""
    result = await conn.execute(delete(User).where(User.id == user_id))
    return bool(result.rowcount)


def _value(name: str, raw: str) -> Any:
    """A ``q`` value converted to the column's type (BAD_REQUEST when it does not fit)."""
    if name in _TEXT:
        return raw
    try:
        return int(raw) if name == "user_id" else datetime.fromisoformat(raw)
    except ValueError:
        kind = "an integer" if name == "user_id" else "an ISO-8601 time"
        raise BadRequest(f"invalid {name} {raw!r}: expected {kind}") from None


def _condition(name: str, cond: Condition) -> Any:
    column = FIELDS[name]
    if cond.kind == "fuzzy":  # Harbor's fuzzy match is a case-insensitive substring
        if name not in _TEXT:
            raise BadRequest(f"{name} does not support fuzzy matching")
        return func.lower(column).contains((cond.value or "").lower(), autoescape=True)
    if cond.kind == "exact":
        return column == _value(name, cond.value or "")
    if cond.kind in ("or", "and"):
        values = [_value(name, v) for v in cond.values]
        if cond.kind == "and" and len(set(values)) > 1:
            return false()  # one value cannot equal two different ones
        return column.in_(values)
    low = column >= _value(name, cond.low) if cond.low is not None else true()
    return and_(low, column <= _value(name, cond.high) if cond.high is not None else true())


def _where(stmt: Any, conditions: Mapping[str, Condition]) -> Any:
    for name, cond in conditions.items():
        if name in FIELDS:  # Harbor ignores keys that are not fields of the model
            stmt = stmt.where(_condition(name, cond))
    return stmt


async def list_users(conn: Conn, conditions: Mapping[str, Condition], offset: int, limit: int,
                     sort: list[tuple[str, bool]] | None = None) -> list[User]:
    """One page of users matching the ``q`` conditions; newest first unless ``sort`` says otherwise."""
    order = [FIELDS[c].desc() if desc else FIELDS[c] for c, desc in sort or []]
    order += [User.created_at.desc(), User.id.desc()]
    stmt = _where(select(User.__table__), conditions).order_by(*order).offset(offset).limit(limit)
    return [User(**r._mapping) for r in await conn.execute(stmt)]


async def count_users(conn: Conn, conditions: Mapping[str, Condition]) -> int:
    stmt = _where(select(func.count()).select_from(User), conditions)
    return int((await conn.execute(stmt)).scalar_one())
