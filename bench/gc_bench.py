#!/usr/bin/env python3
"""Garbage-collection benchmark: how long Moorage's online GC takes to mark and sweep many
unreferenced blobs (Harbor's pain point: a large GC runs for days, one blob at a time).

Builds a throwaway data directory (SQLite, or a throwaway PostgreSQL database with
``--postgres``) and filesystem storage, inserts the blob rows and small blob files directly
(uploading 100,000 blobs over HTTP would measure the upload path, not GC), plus referenced
blobs that must survive, then runs ``GarbageCollector`` in-process and reports:

* dry run: finding and counting every candidate (what a mark costs without changing anything);
* mark: the lock-then-recheck statements that flag each batch ``deleting``;
* sweep: deleting the bytes (``gc.delete_workers`` in flight) and then the rows and links;
* total, and blobs per second.

Usage::

    python bench/gc_bench.py [--blobs 100000] [--referenced 10000] [--batch-size 1000]
                             [--delete-workers 8] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from moorage.app import Components, build_components  # noqa: E402
from moorage.config.settings import load_settings  # noqa: E402
from moorage.domain import gc as gc_module  # noqa: E402
from moorage.domain.gc import GcParams  # noqa: E402
from moorage.metadata.queries import gc as gq  # noqa: E402

CHUNK = 5000


class Quiet:
    state: dict[str, Any] = {}

    async def log(self, line: str) -> None:
        return None

    async def checkpoint(self, state: dict[str, Any]) -> None:
        return None

    async def stopping(self) -> bool:
        return False

    async def update_extra(self, extra: dict[str, Any]) -> None:
        return None


def timed(totals: dict[str, float], key: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - start
    return wrapper


async def seed(c: Components, storage: Path, garbage: int, referenced: int) -> list[str]:
    """Insert ``garbage`` unreferenced blobs and ``referenced`` ones named by artifacts (ten per
    artifact) with their files; the garbage digests."""
    old = "2000-01-01 00:00:00"
    digests = [f"sha256:{hashlib.sha256(f'g{i}'.encode()).hexdigest()}" for i in range(garbage)]
    kept = [f"sha256:{hashlib.sha256(f'k{i}'.encode()).hexdigest()}" for i in range(referenced)]
    for digest in digests + kept:
        hexpart = digest.split(":")[1]
        path = storage / "blobs" / "sha256" / hexpart[:2] / hexpart / "data"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(hexpart.encode())
    async with c.db.write() as uow:
        conn = uow.conn
        for start in range(0, len(digests + kept), CHUNK):
            await conn.execute(text(
                "INSERT INTO blobs (digest, size, created_at, touched_at, deleting) "
                f"VALUES (:d, 64, '{old}', '{old}', false)"),
                [{"d": d} for d in (digests + kept)[start:start + CHUNK]])
        project_id = (await conn.execute(text("SELECT id FROM projects WHERE name = 'library'"))).scalar_one()
        await conn.execute(text(
            "INSERT INTO repositories (project_id, name, description, pull_count, created_at, updated_at) "
            f"VALUES (:p, 'library/bench', '', 0, '{old}', '{old}')"), {"p": project_id})
        repo_id = (await conn.execute(text("SELECT id FROM repositories WHERE name = 'library/bench'"))).scalar_one()
        for _ in range(referenced // 10):
            await conn.execute(text(
                "INSERT INTO artifacts (repository_id, project_id, digest, media_type, size, content, push_time, "
                f"pull_count) VALUES (:r, :p, :d, 'application/vnd.oci.image.manifest.v1+json', 1, :b, '{old}', 0)"),
                {"r": repo_id, "p": project_id, "d": f"sha256:{uuid.uuid4().hex * 2}", "b": b"{}"})
        await conn.execute(text(
            "INSERT INTO artifact_blobs (artifact_id, blob_id) SELECT a.id, b.id FROM blobs b "
            "JOIN artifacts a ON a.id = (SELECT min(id) FROM artifacts) + (b.id - :first) / 10 "
            "WHERE b.id >= :first"),
            {"first": (await conn.execute(text("SELECT id FROM blobs WHERE digest = :d"), {"d": kept[0]})).scalar_one()}
            if kept else {"first": 1 << 60})
    return digests


async def bench(args: argparse.Namespace, data_dir: Path, db_url: str | None) -> None:
    overrides: dict[str, Any] = {
        "data_dir": data_dir, "admin_password": "Harbor12345",
        "gc": {"batch_size": args.batch_size, "delete_workers": args.delete_workers},
        "log": {"level": "warning"},
    }
    if db_url:
        overrides["database"] = {"url": db_url}
    c = build_components(load_settings(None, **overrides))
    await c.db_ready()
    try:
        start = time.perf_counter()
        garbage = await seed(c, c.settings.storage_root, args.blobs, args.referenced)
        print(f"seeded {len(garbage)} unreferenced + {args.referenced} referenced blobs "
              f"in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        dry = await c.collector.run(GcParams(dry_run=True, time_window=0), Quiet())
        dry_s = time.perf_counter() - start
        totals: dict[str, float] = {}
        gq.lock_blob_candidates = timed(totals, "mark", gq.lock_blob_candidates)  # type: ignore[assignment]
        gq.mark_deleting = timed(totals, "mark", gq.mark_deleting)  # type: ignore[assignment]
        sweep = gc_module.GarbageCollector._sweep
        gc_module.GarbageCollector._sweep = timed(totals, "sweep", sweep)  # type: ignore[method-assign]
        c.store.delete = timed(totals, "bytes", c.store.delete)  # type: ignore[method-assign]
        start = time.perf_counter()
        stats = await c.collector.run(GcParams(time_window=0), Quiet())
        total_s = time.perf_counter() - start
        async with c.db.read() as conn:
            left = (await conn.execute(text("SELECT count(*) FROM blobs"))).scalar_one()
        on_disk = sum(1 for _ in (c.settings.storage_root / "blobs").rglob("data"))
        backend = "postgresql" if db_url else "sqlite"
        print(f"backend {backend}, batch {args.batch_size}, delete workers {args.delete_workers}")
        print(f"dry run : {dry.deleted_blobs} candidates found in {dry_s:.2f} s")
        print(f"mark    : {totals.get('mark', 0):.2f} s")
        print(f"sweep   : {totals.get('sweep', 0):.2f} s (storage deletes: {totals.get('bytes', 0):.1f} s summed "
              f"over {args.delete_workers} in flight)")
        print(f"total   : {stats.deleted_blobs} blobs deleted in {total_s:.2f} s "
              f"({stats.deleted_blobs / total_s:,.0f} blobs/s)")
        assert stats.deleted_blobs == len(garbage), stats
        assert left == args.referenced and on_disk == args.referenced, (left, on_disk)
        print(f"check   : {left} referenced blobs and their files remain")
    finally:
        await c.close()


async def _pg_admin(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blobs", type=int, default=100_000, help="unreferenced blobs to collect")
    parser.add_argument("--referenced", type=int, default=10_000, help="referenced blobs that must stay")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--delete-workers", type=int, default=8)
    parser.add_argument("--postgres", metavar="DSN", help="run on a throwaway database of this PostgreSQL server")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="moorage-gc-bench-"))
    db_url = None
    name = f"moorage_gcbench_{uuid.uuid4().hex[:8]}"
    try:
        if args.postgres:
            asyncio.run(_pg_admin(args.postgres, f'CREATE DATABASE "{name}"'))
            base = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            db_url = f"{base}/{name}"
        asyncio.run(bench(args, data_dir, db_url))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.postgres:
            asyncio.run(_pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    os.environ.setdefault("MOORAGE_LOG__LEVEL", "warning")
    main()
