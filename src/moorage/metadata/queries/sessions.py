"""Browser sessions and sign-in failure counters (shared by every replica)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update

from moorage.db.engine import Conn
from moorage.metadata.models import LoginFailure, WebSession
from moorage.metadata.queries.dialect import insert_for


async def create_session(conn: Conn, session_id: str, user_id: int, csrf_token: str, now: datetime,
                         expires_at: datetime) -> None:
    await conn.execute(insert(WebSession).values(
        id=session_id, user_id=user_id, csrf_token=csrf_token, created_at=now, expires_at=expires_at))


async def find_session(conn: Conn, session_id: str, now: datetime) -> tuple[int, str, datetime] | None:
    """(user_id, csrf_token, expires_at) of a live session, or None."""
    row = (await conn.execute(select(WebSession.user_id, WebSession.csrf_token, WebSession.expires_at).where(
        WebSession.id == session_id, WebSession.expires_at > now))).first()
    return (int(row[0]), str(row[1]), row[2]) if row else None


async def touch_session(conn: Conn, session_id: str, expires_at: datetime) -> None:
    await conn.execute(update(WebSession).where(WebSession.id == session_id).values(
        expires_at=expires_at))


async def delete_session(conn: Conn, session_id: str) -> None:
    await conn.execute(delete(WebSession).where(WebSession.id == session_id))


async def delete_user_sessions(conn: Conn, user_id: int) -> None:
    await conn.execute(delete(WebSession).where(WebSession.user_id == user_id))


async def delete_expired_sessions(conn: Conn, now: datetime) -> int:
    return int((await conn.execute(delete(WebSession).where(WebSession.expires_at <= now))).rowcount)


async def find_lock(conn: Conn, keys: list[str], now: datetime) -> datetime | None:
    """The latest ``locked_until`` still in the future among ``keys``, or None."""
    rows = await conn.execute(select(LoginFailure.locked_until).where(
        LoginFailure.key.in_(keys), LoginFailure.locked_until > now))
    times = [r[0] for r in rows if r[0] is not None]
    return max(times) if times else None


async def record_failure(conn: Conn, key: str, now: datetime, window_start: datetime) -> int:
    """Count one failure for ``key`` (restarting the count when the last window has passed);
    return the count in the current window."""
    row = (await conn.execute(select(LoginFailure.failures, LoginFailure.first_at).where(
        LoginFailure.key == key))).first()
    if row is None or row[1] < window_start:
        stmt = insert_for(conn, LoginFailure).values(key=key, failures=1, first_at=now, locked_until=None)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["key"], set_={"failures": 1, "first_at": now, "locked_until": None}))
        return 1
    await conn.execute(update(LoginFailure).where(LoginFailure.key == key).values(
        failures=LoginFailure.failures + 1))
    return int(row[0]) + 1


async def lock(conn: Conn, key: str, until: datetime) -> None:
    await conn.execute(update(LoginFailure).where(LoginFailure.key == key).values(locked_until=until))


async def clear_failures(conn: Conn, key: str) -> None:
    await conn.execute(delete(LoginFailure).where(LoginFailure.key == key))
