"""The garbage collector at the domain level, on SQLite and PostgreSQL with filesystem storage:
what it deletes and keeps, dry runs, untagged artifacts, resuming after a kill, stopping and
continuing from a checkpoint, and the blob-state protocol seen by pushes."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from moorage.app import Components, build_components
from moorage.config.settings import load_settings
from moorage.core.errors import MoorageError
from moorage.domain import blobs as lifecycle
from moorage.domain.gc import GcParams, GcStats
from moorage.metadata.models import Blob
from moorage.metadata.queries import blobs as bq
from moorage.oci.digest import parse_digest
from moorage.storage.blobs import blob_path
from tests.common.databases import postgres_database

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "postgres":
        with postgres_database("moorage_gc") as url:
            yield url
    else:
        yield None


@pytest.fixture
async def c(db_url: str | None, tmp_path: Path) -> AsyncIterator[Components]:
    overrides: dict[str, Any] = {"data_dir": tmp_path, "admin_password": "Harbor12345",
                                 "gc": {"blob_time_window_hours": 0, "batch_size": 3}}
    if db_url:
        overrides["database"] = {"url": db_url}
    components = build_components(load_settings(None, **overrides))
    await components.db_ready()
    try:
        yield components
    finally:
        await components.close()


class Reporter:
    """Records what a run reports; ``stop_after`` batches it asks the run to stop."""

    def __init__(self, state: dict[str, Any] | None = None, stop_after: int | None = None) -> None:
        self.state: dict[str, Any] = state or {}
        self.lines: list[str] = []
        self.extra: dict[str, Any] = {}
        self.checkpoints = 0
        self.stop_after = stop_after

    async def log(self, line: str) -> None:
        self.lines.append(line)

    async def checkpoint(self, state: dict[str, Any]) -> None:
        self.state = state
        self.checkpoints += 1

    async def stopping(self) -> bool:
        return self.stop_after is not None and self.checkpoints >= self.stop_after

    async def update_extra(self, extra: dict[str, Any]) -> None:
        self.extra.update(extra)


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push_blob(c: Components, repo: str, data: bytes) -> str:
    await c.uploads.monolithic(repo, parse_digest(sha(data)), _body(data))
    return sha(data)


async def push_image(c: Components, repo: str, tag: str | None, layer: bytes | None = None) -> tuple[str, list[str]]:
    """Push a config, a layer and a manifest; (manifest digest, [config, layer] digests)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "nonce": uuid.uuid4().hex}).encode()
    layer = layer if layer is not None else os.urandom(64)
    blobs = [await push_blob(c, repo, config), await push_blob(c, repo, layer)]
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blobs[0],
                      "size": len(config)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": blobs[1],
                       "size": len(layer)}]}
    body = json.dumps(doc).encode()
    await c.manifests.put(repo, tag or sha(body), body, OCI_MANIFEST)
    return sha(body), blobs


async def push_index(c: Components, repo: str, tag: str | None, children: list[str]) -> str:
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": d, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}}
        for d in children]}
    body = json.dumps(doc).encode()
    await c.manifests.put(repo, tag or sha(body), body, OCI_INDEX)
    return sha(body)


def stored(c: Components, digest: str) -> bool:
    return (c.settings.storage_root / blob_path(digest)).is_file()


async def blob_row(c: Components, digest: str) -> tuple[int, bool] | None:
    async with c.db.read() as conn:
        row = (await conn.execute(select(Blob.size, Blob.deleting).where(Blob.digest == digest))).first()
    return (int(row[0]), bool(row[1])) if row else None


async def usage(c: Components, project: str = "library") -> int:
    async with c.db.read() as conn:
        return int((await conn.execute(text(
            "SELECT q.used_storage FROM project_quotas q JOIN projects p ON p.id = q.project_id WHERE p.name = :n"),
            {"n": project})).scalar_one())


async def run_gc(c: Components, reporter: Reporter | None = None, **params: Any) -> GcStats:
    return await c.collector.run(GcParams(**{"time_window": 0, **params}), reporter or Reporter())


async def test_collects_unreferenced_blobs_and_keeps_referenced_ones(c: Components) -> None:
    _, kept = await push_image(c, "library/app", "v1")
    lone = await push_blob(c, "library/app", b"nobody names me")
    before = await usage(c)
    reporter = Reporter()
    stats = await run_gc(c, reporter)
    assert (stats.deleted_blobs, stats.freed_bytes) == (1, len(b"nobody names me"))
    assert not stored(c, lone) and await blob_row(c, lone) is None
    assert all(stored(c, d) for d in kept) and all([await blob_row(c, d) for d in kept])
    assert await usage(c) == before - len(b"nobody names me")
    assert "1 blobs and 0 manifests are actually deleted" in reporter.lines
    assert reporter.extra["deleted_blobs"] == 1 and reporter.extra["freed_bytes"] == len(b"nobody names me")


async def test_dry_run_reports_and_changes_nothing(c: Components) -> None:
    digests = [await push_blob(c, "library/app", os.urandom(100)) for _ in range(4)]
    reporter = Reporter()
    stats = await run_gc(c, reporter, dry_run=True)
    assert (stats.deleted_blobs, stats.freed_bytes) == (4, 400)
    assert "4 blobs and 0 manifests eligible for deletion" in reporter.lines
    assert all([stored(c, d) and await blob_row(c, d) == (100, False) for d in digests])


async def test_the_time_window_protects_fresh_blobs(c: Components) -> None:
    digest = await push_blob(c, "library/app", b"fresh")
    stats = await run_gc(c, time_window=1)
    assert stats.deleted_blobs == 0 and stored(c, digest) and await blob_row(c, digest)


async def test_deleting_an_artifact_releases_its_links_and_gc_frees_the_bytes(c: Components) -> None:
    digest, blobs = await push_image(c, "library/app", "v1")
    _, shared = await push_image(c, "library/other", "v1", layer=b"shared layer")
    await push_image(c, "library/app", "v2", layer=b"shared layer")
    before = await usage(c)
    sizes = [(await blob_row(c, d) or (0, False))[0] for d in blobs]
    await c.manifests.delete("library/app", digest)
    assert await usage(c) == before - sum(sizes)  # at once, not at the next GC
    stats = await run_gc(c)
    assert stats.deleted_blobs == 2 and not any(stored(c, d) for d in blobs)
    assert stored(c, shared[1])


async def test_untagged_artifacts_go_in_batches_with_their_orphaned_children(c: Components) -> None:
    tagged, tagged_blobs = await push_image(c, "library/app", "keep")
    for _ in range(4):
        await push_image(c, "library/app", None)
    child, child_blobs = await push_image(c, "library/app", None)
    index = await push_index(c, "library/app", None, [child, tagged])
    stats = await run_gc(c, delete_untagged=True)
    # the loose ones and the untagged index first; then its child, which no index lists any more
    assert stats.deleted_manifests == 6
    async with c.db.read() as conn:
        left = set((await conn.execute(text("SELECT digest FROM artifacts"))).scalars())
    assert left == {tagged} and index not in left
    assert all(stored(c, d) for d in tagged_blobs) and not any(stored(c, d) for d in child_blobs)


async def test_an_index_keeps_its_untagged_children(c: Components) -> None:
    child, blobs = await push_image(c, "library/app", None)
    await push_index(c, "library/app", "multi", [child])
    stats = await run_gc(c, delete_untagged=True)
    assert stats.deleted_manifests == 0 and all(stored(c, d) for d in blobs)


async def test_a_killed_run_is_finished_by_the_next_one(c: Components, monkeypatch: pytest.MonkeyPatch) -> None:
    _, kept = await push_image(c, "library/app", "v1")
    doomed = [await push_blob(c, "library/app", os.urandom(10)) for _ in range(7)]
    calls = 0
    real_delete = c.store.delete

    async def dying_delete(digest: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise RuntimeError("killed")
        await real_delete(digest)

    monkeypatch.setattr(c.store, "delete", dying_delete)
    with pytest.raises(ExceptionGroup):
        await run_gc(c)
    marked = [d for d in doomed if (await blob_row(c, d) or (0, False))[1]]
    assert marked, "the killed run left marked rows"
    monkeypatch.setattr(c.store, "delete", real_delete)
    reporter = Reporter()
    stats = await run_gc(c, reporter)
    assert stats.resumed_blobs == len(marked)
    assert not any([stored(c, d) or await blob_row(c, d) for d in doomed])
    assert all([stored(c, d) and await blob_row(c, d) for d in kept])
    assert any("an interrupted run had marked" in line for line in reporter.lines)


async def test_a_stopped_run_continues_from_its_checkpoint(c: Components) -> None:
    doomed = [await push_blob(c, "library/app", os.urandom(10)) for _ in range(8)]
    first = Reporter(stop_after=3)  # uploads, then two blob batches of 3
    stats = await run_gc(c, first)
    assert stats.stopped and stats.deleted_blobs == 6
    second = Reporter(state=first.state)
    stats = await run_gc(c, second)
    assert not stats.stopped and stats.deleted_blobs == 8  # the running total came back with the checkpoint
    assert second.checkpoints == 1  # only the last batch was left
    assert not any(stored(c, d) for d in doomed)


async def test_manifest_put_refuses_a_blob_being_collected(c: Components) -> None:
    config = await push_blob(c, "library/app", b"{}x")
    layer = await push_blob(c, "library/app", b"layer")
    async with c.db.write() as uow:
        await uow.conn.execute(update(Blob).where(Blob.digest == layer).values(deleting=True))
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 3},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 5}]}
    with pytest.raises(MoorageError) as exc:
        await c.manifests.put("library/app", "v1", json.dumps(doc).encode(), OCI_MANIFEST)
    assert exc.value.code == "MANIFEST_BLOB_UNKNOWN"


async def test_an_upload_waits_for_the_collector_then_stores_afresh(c: Components,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    digest = await push_blob(c, "library/app", b"again")
    async with c.db.write() as uow:
        await uow.conn.execute(update(Blob).where(Blob.digest == digest).values(deleting=True))
    monkeypatch.setattr(lifecycle, "CLAIM_WAIT_SECONDS", 0.3)
    with pytest.raises(MoorageError) as exc:  # the collector never finishes: the push gives up
        await push_blob(c, "library/app", b"again")
    assert exc.value.code == "BLOB_UPLOAD_INVALID"
    await run_gc(c)  # finishes the marked row
    assert await blob_row(c, digest) is None and not stored(c, digest)
    await push_blob(c, "library/app", b"again")
    assert stored(c, digest) and await blob_row(c, digest) == (5, False)


async def test_a_referenced_blob_row_cannot_be_deleted(c: Components) -> None:
    _, blobs = await push_image(c, "library/app", "v1")
    with pytest.raises(Exception, match="(?i)foreign key|violates"):
        async with c.db.write() as uow:
            await uow.conn.execute(text("DELETE FROM blobs WHERE digest = :d"), {"d": blobs[1]})


async def test_a_mount_refuses_a_blob_being_collected(c: Components) -> None:
    digest = await push_blob(c, "library/app", b"mount me")
    async with c.db.write() as uow:
        await uow.conn.execute(update(Blob).where(Blob.digest == digest).values(deleting=True))
    assert not await c.uploads.mount("library/other", digest, "library/app")
    async with c.db.write() as uow:
        await uow.conn.execute(update(Blob).where(Blob.digest == digest).values(deleting=False))
    assert await c.uploads.mount("library/other", digest, "library/app")


async def test_a_claim_never_settles_a_newer_row_with_its_id(c: Components) -> None:
    """SQLite gives a deleted row's id to the next row: a claim names the row's generation."""
    first = await lifecycle.claim(c.db, sha(b"first"))
    async with c.db.write() as uow:
        await uow.conn.execute(text("DELETE FROM blobs WHERE id = :i"), {"i": first.id})
    second = await lifecycle.claim(c.db, sha(b"second"))
    async with c.db.write() as uow:
        assert not await bq.settle_blob(uow.conn, first, 5)
        assert await bq.settle_blob(uow.conn, second, 6)
