"""Every migration runs on SQLite and PostgreSQL, and the models match the migrated schema."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from moorage.db.engine import Database
from moorage.db.migrate import check_drift, downgrade, upgrade
from tests.common.databases import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        with postgres_database("moorage_mig") as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"


def test_upgrade_creates_every_table_and_has_no_drift(db_url: str) -> None:
    async def run() -> tuple[set[str], list[object]]:
        db = Database(db_url)
        try:
            await upgrade(db)
            await upgrade(db)  # idempotent
            tables = set(await db.run_sync(lambda c: inspect(c).get_table_names()))
            return tables, await check_drift(db)
        finally:
            await db.dispose()

    tables, drift = asyncio.run(run())
    assert {"projects", "repositories", "blobs", "project_blobs", "repository_blobs", "artifacts",
            "artifact_references", "tags", "uploads", "alembic_version"} <= tables
    assert drift == []


def test_downgrade_to_base_and_back(db_url: str) -> None:
    async def run() -> set[str]:
        db = Database(db_url)
        try:
            await upgrade(db)
            await downgrade(db, "base")
            after_down = set(await db.run_sync(lambda c: inspect(c).get_table_names()))
            await upgrade(db)
            return after_down
        finally:
            await db.dispose()

    assert asyncio.run(run()) <= {"alembic_version"}
