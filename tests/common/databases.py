"""Throwaway PostgreSQL databases on the local server (127.0.0.1:5432, trust auth)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

PG_DSN = os.environ.get("MOORAGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def postgres_database(prefix: str = "moorage") -> Iterator[str]:
    """Create a fresh database, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def server_sql(server: object, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Run one SQL statement on a test server's metadata database (SQLite file or PostgreSQL),
    for tests that must simulate what the API cannot do (time passing, a stolen key).
    Placeholders are ``$1, $2…`` (rewritten to ``?`` for SQLite)."""
    import re
    import sqlite3

    env: dict[str, str] = getattr(server, "env")  # noqa: B009 - tests.common.servers.Server
    url = env.get("MOORAGE_DATABASE__URL")
    if url is None:
        db = sqlite3.connect(str(getattr(server, "data_dir") / "moorage.db"))  # noqa: B009
        try:
            rows = db.execute(re.sub(r"\$\d+", "?", sql), args).fetchall()
            db.commit()
            return [tuple(r) for r in rows]
        finally:
            db.close()

    async def run() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())
