"""QUOTA_WARNING when a push crosses the warning share, QUOTA_EXCEED when one is refused:
outbox rows written by the domain services on a real database (SQLite, PostgreSQL), read
before any dispatcher could take them (the components are built but not started)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from moorage.app import Components, build_components
from moorage.config import Settings
from moorage.domain.audit import Actor
from moorage.domain.quotas import QuotaExceeded
from moorage.metadata.models import Event
from moorage.metadata.queries import quotas as qq
from moorage.oci.digest import parse_digest
from tests.common.databases import postgres_database
from tests.common.oci import sha256

ALICE = Actor("alice")


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    with ExitStack() as stack:
        database: dict[str, Any] = {}
        if backend != "sqlite":
            database["url"] = stack.enter_context(postgres_database("moorage_quota"))
        yield Settings(data_dir=tmp_path, database=database, admin_password="Harbor12345")


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _push(c: Components, repository: str, size: int) -> str:
    data = os.urandom(size)
    await c.uploads.monolithic(repository, parse_digest(sha256(data)), _body(data), actor=ALICE)
    return sha256(data)


async def _events(c: Components) -> list[tuple[str, int | None, str, dict[str, Any]]]:
    async with c.db.read() as conn:
        rows = await conn.execute(select(Event.event_type, Event.project_id, Event.operator, Event.data)
                                  .where(Event.event_type.like("QUOTA_%")).order_by(Event.id))
        return [(str(r[0]), r[1], str(r[2]), dict(r[3])) for r in rows]


def _run(settings: Settings, scenario: Any) -> Any:
    async def main() -> Any:
        c = build_components(settings)
        try:
            await c.db_ready()
            return await scenario(c)
        finally:
            await c.close()

    return asyncio.run(main())


def test_warning_once_when_crossing_and_exceed_when_refused(settings: Settings) -> None:
    async def scenario(c: Components) -> None:
        pid = await c.projects.create("events", storage_limit=1000)
        await _push(c, "events/app", 500)
        assert await _events(c) == []
        crossing = await _push(c, "events/app", 400)  # 900 of 1000: crosses 85 %
        await _push(c, "events/app", 50)  # still above: no second warning
        with pytest.raises(QuotaExceeded) as refused:
            await _push(c, "events/app", 100)
        events = await _events(c)
        assert [e[:3] for e in events] == [("QUOTA_WARNING", pid, "alice"), ("QUOTA_EXCEED", pid, "alice")]
        warning, exceed = events[0][3], events[1][3]
        assert warning == {"repository": "events/app", "digest": crossing, "used": 900, "hard": 1000,
                           "message": "quota usage reached 85% of the limit in project 'events': 900 B of 1000 B used"}
        assert {k: v for k, v in exceed.items() if k != "digest"} == {
            "repository": "events/app", "used": 950, "hard": 1000, "message": refused.value.message}
        assert exceed["digest"].startswith("sha256:")
        assert "adding 100 B" in refused.value.message

    _run(settings, scenario)


def test_no_events_for_unlimited_projects_or_when_quotas_are_disabled(settings: Settings) -> None:
    async def scenario(c: Components) -> None:
        await c.projects.create("free")
        await _push(c, "free/app", 5000)
        await c.projects.create("off", storage_limit=100)
        await c.config.update({"quota_per_project_enable": False}, ALICE)
        await _push(c, "off/app", 90)
        await _push(c, "off/app", 5000)
        assert await _events(c) == []

    _run(settings, scenario)


def test_recount_finds_and_repairs_drift(settings: Settings) -> None:
    async def scenario(c: Components) -> None:
        pid = await c.projects.create("drift")
        await _push(c, "drift/app", 300)
        assert await c.quotas.recount(pid) == {}
        async with c.db.write() as uow:  # simulate a counter broken by hand
            await qq.update_used(uow.conn, pid, 7)
        assert await c.quotas.recount(None, fix=False) == {pid: (7, 300)}
        assert await c.quotas.recount() == {pid: (7, 300)}
        assert (await c.quotas.get(pid)).used == 300
        assert await c.quotas.recount() == {}

    _run(settings, scenario)
