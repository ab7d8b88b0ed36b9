"""Engines and units of work.

``Database.read()`` yields a connection for queries; ``Database.write()`` a transaction
that commits on exit.  Query functions ``await conn.execute(stmt)`` on
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
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import CursorResult, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

Rows = CursorResult[*tuple[Any, ...]]
T = TypeVar("T")


class Prepared:
    """A hot-path SELECT: on SQLite it is compiled once and run straight on the driver
    (SQLAlchemy's per-execution bookkeeping costs ~10x SQLite's own work for a point
    lookup); elsewhere it runs through SQLAlchemy as usual.  Only for columns whose driver
    values need no conversion (integers, strings, bytes)."""

    __slots__ = ("statement", "_sql", "_names")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._sql: str | None = None
        self._names: tuple[str, ...] = ()

    def sqlite(self, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
        if self._sql is None:
            compiled = self.statement.compile(dialect=dialect)
            self._names = tuple(compiled.positiontup or ())
            self._sql = str(compiled)
        return self._sql, self._names


class Conn(Protocol):
    """What query functions need from a connection."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, statement: Any, parameters: Any = None) -> Rows: ...

    async def first(self, prepared: Prepared, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a prepared SELECT, or None."""
        ...


class InlineConnection:
    """A synchronous SQLite connection driven from async code without leaving the loop thread."""

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

    async def first(self, prepared: Prepared, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
        sql, names = prepared.sqlite(self._conn.dialect)
        raw = self._conn.connection.driver_connection
        assert raw is not None
        row: tuple[Any, ...] | None = raw.execute(sql, [parameters[n] for n in names]).fetchone()
        return row

    def close(self) -> None:
        self._conn.close()


class AsyncConn:
    """An asyncio SQLAlchemy connection (PostgreSQL) with the same small surface."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Rows:
        if parameters is None:
            return await self._conn.execute(statement)
        return await self._conn.execute(statement, parameters)

    async def first(self, prepared: Prepared, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
        row = (await self._conn.execute(prepared.statement, parameters)).first()
        return tuple(row) if row is not None else None


class UnitOfWork:
    """A write transaction's connection (commits when the ``Database.write()`` block ends).

    ``after_commit`` callbacks run once the transaction has committed (never if it rolls
    back): work is enqueued only for changes that exist."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._after: list[Callable[[], Any]] = []

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` (a plain or async function) after the commit."""
        self._after.append(callback)

    async def run_after_commit(self) -> None:
        for callback in self._after:
            try:
                result = callback()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # the change is committed; a failed notification is retried by polling
                logging.getLogger(__name__).exception("after_commit_failed")


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
        self._reader: InlineConnection | None = None
        if self.is_sqlite:
            sync_url = url.replace("sqlite+aiosqlite://", "sqlite://")
            path = sync_url.split("///", 1)[1] if "///" in sync_url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            args = {"check_same_thread": False}
            self.sync_read = create_engine(sync_url, echo=echo, poolclass=QueuePool, pool_size=1,
                                           max_overflow=0, connect_args=args)
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
            # One autocommit connection serves every read: queries run to completion in the
            # loop thread and their results are consumed at once, so nothing interleaves.
            if self._reader is None:
                self._reader = InlineConnection(self.sync_read.connect())
            yield self._reader
        else:
            async with self.engine.connect() as aconn:
                yield AsyncConn(aconn)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[UnitOfWork]:
        if self.is_sqlite:
            async with self._write_lock:
                with self.sync_write.connect() as sconn, sconn.begin():
                    uow = UnitOfWork(InlineConnection(sconn))
                    yield uow
        else:
            async with self.engine.connect() as aconn, aconn.begin():
                uow = UnitOfWork(AsyncConn(aconn))
                yield uow
        if uow._after:
            await uow.run_after_commit()

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
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            self.sync_read.dispose()
            self.sync_write.dispose()
        else:
            await self.engine.dispose()


__all__ = ["AsyncConn", "Conn", "Database", "InlineConnection", "Prepared", "UnitOfWork"]
