"""Engines and units of work.

``Database.read()`` yields a connection for queries; ``Database.write()`` a transaction
that commits on exit and then runs its after-commit hooks (used to enqueue work only once
the data it depends on is durable).  On SQLite all writes go through one connection in
``BEGIN IMMEDIATE`` transactions: SQLite allows one writer anyway, and a single writer
never hits SQLITE_BUSY upgrade deadlocks.  WAL with synchronous=NORMAL keeps every
committed transaction across a killed process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    """A write transaction's connection plus hooks to run after it commits."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._hooks: list[AfterCommit] = []

    def after_commit(self, hook: AfterCommit) -> None:
        self._hooks.append(hook)

    async def run_hooks(self) -> None:
        for hook in self._hooks:
            await hook()


def _sqlite_pragmas(engine: AsyncEngine, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is disabled so BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """Owns the engines for one metadata database."""

    def __init__(self, url: str, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.read_engine = create_async_engine(
                url, echo=echo, poolclass=AsyncAdaptedQueuePool, pool_size=4, max_overflow=4
            )
            self.write_engine = create_async_engine(
                url, echo=echo, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0,
                pool_timeout=60,
            )
            _sqlite_pragmas(self.read_engine, immediate=False)
            _sqlite_pragmas(self.write_engine, immediate=True)
        else:
            self.read_engine = create_async_engine(
                url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.write_engine = self.read_engine

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.read_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[UnitOfWork]:
        async with self.write_engine.connect() as conn:
            uow = UnitOfWork(conn)
            async with conn.begin():
                yield uow
        await uow.run_hooks()

    async def dispose(self) -> None:
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()
