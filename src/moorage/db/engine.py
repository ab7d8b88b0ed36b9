"""Engines and units of work.

``Database.read()`` yields a connection for queries; ``Database.write()`` a transaction
that commits on exit and then runs its after-commit hooks (used to enqueue work only once
the data it depends on is durable).  Query functions ``await conn.execute(stmt)`` on
either kind of connection.

SQLite (the embedded default) runs on the standard library driver *in the event-loop
thread*: a query on a local, page-cached file takes tens of microseconds, far less than
aiosqlite's hand-off to a worker thread and back (measured: manifest GET at c=16 went
from ~640 req/s on aiosqlite to several thousand).  All writes go through one connection
behind an asyncio lock, in ``BEGIN IMMEDIATE`` transactions: SQLite allows one writer
anyway, and a single writer never hits SQLITE_BUSY upgrade deadlocks.  WAL with
synchronous=NORMAL keeps every committed transaction across a killed process.
PostgreSQL uses asyncpg through SQLAlchemy's asyncio extension.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import CursorResult, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

AfterCommit = Callable[[], Awaitable[None]]
Rows = CursorResult[*tuple[Any, ...]]
T = TypeVar("T")


class Conn(Protocol):
    """What query functions need from a connection (AsyncConnection or InlineConnection)."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, statement: Any, parameters: Any = None) -> Rows: ...


class InlineConnection:
    """A synchronous connection driven from async code without leaving the event-loop thread."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Rows:
        if parameters is None:
            return self._conn.execute(statement)
        return self._conn.execute(statement, parameters)


class UnitOfWork:
    """A write transaction's connection plus hooks to run after it commits."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._hooks: list[AfterCommit] = []

    def after_commit(self, hook: AfterCommit) -> None:
        self._hooks.append(hook)

    async def run_hooks(self) -> None:
        for hook in self._hooks:
            await hook()


def _sqlite_pragmas(engine: Engine, writer: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is disabled so BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    if writer:  # readers run each statement in autocommit: no BEGIN/ROLLBACK round trips

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Owns the engines for one metadata database."""

    def __init__(self, url: str, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = asyncio.Lock()
        if self.is_sqlite:
            sync_url = url.replace("sqlite+aiosqlite://", "sqlite://")
            path = sync_url.split("///", 1)[1] if "///" in sync_url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            args = {"check_same_thread": False}
            self.sync_read = create_engine(sync_url, echo=echo, poolclass=QueuePool, pool_size=8,
                                           max_overflow=-1, connect_args=args)
            self.sync_write = create_engine(sync_url, echo=echo, poolclass=QueuePool, pool_size=1,
                                            max_overflow=0, connect_args=args)
            _sqlite_pragmas(self.sync_read, writer=False)
            _sqlite_pragmas(self.sync_write, writer=True)
        else:
            self.engine: AsyncEngine = create_async_engine(
                url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        if self.is_sqlite:
            with self.sync_read.connect() as sconn:
                yield InlineConnection(sconn)
        else:
            async with self.engine.connect() as aconn:
                yield aconn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[UnitOfWork]:
        if self.is_sqlite:
            async with self._write_lock:
                with self.sync_write.connect() as sconn, sconn.begin():
                    uow = UnitOfWork(InlineConnection(sconn))
                    yield uow
        else:
            async with self.engine.connect() as aconn, aconn.begin():
                uow = UnitOfWork(aconn)
                yield uow
        await uow.run_hooks()

    async def run_sync(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a plain synchronous connection and commit (migrations, inspection)."""
        if self.is_sqlite:
            async with self._write_lock:
                with self.sync_write.connect() as sconn:
                    result = work(sconn)
                    sconn.commit()
                    return result
        async with self.engine.connect() as aconn:
            result = await aconn.run_sync(work)
            await aconn.commit()
            return result

    async def dispose(self) -> None:
        if self.is_sqlite:
            self.sync_read.dispose()
            self.sync_write.dispose()
        else:
            await self.engine.dispose()


__all__ = ["AsyncConnection", "Conn", "Database", "InlineConnection", "UnitOfWork"]
