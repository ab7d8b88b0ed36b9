"""Migration 0005 keeps existing blobs and their links, dates ``touched_at`` from creation, and
fills ``artifact_blobs`` from the stored manifests (config and non-foreign layers only)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from tests.common.databases import postgres_database

NOW = "2025-01-02 03:04:05"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        with postgres_database("moorage_mig5") as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"


def _manifest(*digests: str, foreign: str | None = None) -> bytes:
    layers = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": 1} for d in digests[1:]]
    if foreign:
        layers.append({"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": foreign,
                       "size": 1})
    return json.dumps({"schemaVersion": 2, "config": {"mediaType": "x", "digest": digests[0], "size": 1},
                       "layers": layers}).encode()


def test_backfills_artifact_blobs_and_keeps_links(db_url: str) -> None:
    async def run() -> tuple[set[tuple[int, str]], list[tuple[str, bool]], int]:
        db = Database(db_url)
        try:
            await upgrade(db, "0004")

            def seed(conn: object) -> None:
                sql = conn.execute  # type: ignore[attr-defined]
                sql(text(f"INSERT INTO projects (id, name, public, created_at, updated_at) "
                         f"VALUES (1, 'p', true, '{NOW}', '{NOW}')"))
                sql(text(f"INSERT INTO repositories (id, project_id, name, description, pull_count, created_at, "
                         f"updated_at) VALUES (1, 1, 'p/r', '', 0, '{NOW}', '{NOW}')"))
                for i, d in enumerate(["sha256:c1", "sha256:l1", "sha256:l2", "sha256:x"], start=1):
                    sql(text(f"INSERT INTO blobs (id, digest, size, created_at) VALUES ({i}, '{d}', 1, '{NOW}')"))
                    sql(text(f"INSERT INTO project_blobs (project_id, blob_id, created_at) VALUES (1, {i}, '{NOW}')"))
                for i, body in enumerate([_manifest("sha256:c1", "sha256:l1", foreign="sha256:x"),
                                          _manifest("sha256:c1", "sha256:l2", "sha256:gone")], start=1):
                    sql(text("INSERT INTO artifacts (id, repository_id, project_id, digest, media_type, size, "
                             f"content, push_time, pull_count) VALUES (:i, 1, 1, :d, 'm', 1, :b, '{NOW}', 0)"),
                        {"i": i, "d": f"sha256:m{i}", "b": body})

            await db.run_sync(seed)
            await upgrade(db)

            def read(conn: object) -> tuple[set[tuple[int, str]], list[tuple[str, bool]], int]:
                sql = conn.execute  # type: ignore[attr-defined]
                refs = {(int(a), str(d)) for a, d in sql(text(
                    "SELECT ab.artifact_id, b.digest FROM artifact_blobs ab JOIN blobs b ON b.id = ab.blob_id"))}
                blobs = [(str(t)[:19], bool(x)) for t, x in sql(text(
                    "SELECT touched_at, deleting FROM blobs ORDER BY id"))]
                links = int(sql(text("SELECT count(*) FROM project_blobs")).scalar_one())
                return refs, blobs, links

            return await db.run_sync(read)
        finally:
            await db.dispose()

    refs, blobs, links = asyncio.run(run())
    assert refs == {(1, "sha256:c1"), (1, "sha256:l1"), (2, "sha256:c1"), (2, "sha256:l2")}
    assert blobs == [(NOW, False)] * 4
    assert links == 4
