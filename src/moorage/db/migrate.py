"""Schema migrations: ``upgrade`` brings a database to the newest revision (run at start-up
and by ``moorage db upgrade``); ``check_drift`` compares models with the migrated schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from moorage.db.base import Base
from moorage.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    """Migrate to ``revision`` (default the newest)."""
    await _run(db, lambda conn: command.upgrade(alembic_config(conn), revision))


async def downgrade(db: Database, revision: str) -> None:
    """Migrate back to ``revision`` ("base" removes every table)."""
    await _run(db, lambda conn: command.downgrade(alembic_config(conn), revision))


async def _run(db: Database, work: Callable[[Connection], None]) -> None:
    await db.run_sync(work)


async def check_drift(db: Database) -> list[Any]:
    """Differences between the models and the migrated schema ([] when none)."""
    import moorage.metadata.models  # noqa: F401

    def diff(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))

    return await db.run_sync(diff)
