"""Online garbage collection: sweep the blobs no artifact names, optionally untagged artifacts,
stale blob links and abandoned uploads, in short batches, while pushes and pulls go on.

The blob-state protocol (every writer follows it; ``domain/blobs.py`` has the writers' side):

* ``artifact_blobs`` is the mark set: a blob row some artifact names cannot be collected, and
  cannot even be deleted (the foreign key RESTRICTs it).
* A collector marks a row ``deleting`` before deleting its bytes and deletes the row after
  them.  Marking is two statements in one transaction: lock the candidate rows (``FOR
  UPDATE SKIP LOCKED``), then in a *new* statement re-check that nothing names them and
  nothing touched them within the time window (READ COMMITTED gives each statement a fresh
  snapshot, so a reference committed before the lock was granted is seen).
* A manifest PUT (and a copy) share-locks the rows of the blobs it names inside its write
  transaction and refuses (MANIFEST_BLOB_UNKNOWN) rows marked ``deleting``: either it commits
  its references first (the collector's re-check sees them) or it waits and sees the mark.
* An upload claims the row (upsert, ``touched_at`` = now) *before* moving its bytes into the
  content-addressed path: an old copy being deleted is waited for, so a collector never deletes
  bytes a new upload just put there.  The transaction that links the upload re-checks the
  claim; if a collector took it meanwhile (a window shorter than the upload), the blob is
  linked only if its bytes are still there, else the upload fails and is pushed again.
* A mount refreshes ``touched_at`` and refuses rows marked ``deleting``.
* One lock order for everyone: the project's quota row, then blob rows, then artifact rows
  (a delete locks the blobs of the artifacts it deletes before deleting them), so pushes,
  deletes and the collector queue instead of deadlocking; the collector never waits (SKIP
  LOCKED).  SQLite serializes writers (``BEGIN IMMEDIATE``), so the same code is correct there.
* SQLite may give a deleted row's id to a new row: a claim is (id, created_at), never an id.

Resuming: a run first finishes the rows an interrupted run left marked (their bytes, then
the rows and their quota), then continues from its checkpoint (phase and cursor), so a
killed collector neither redoes nor loses work.  Freed quota: project links of blobs no
artifact of the project names are dropped with the usage (``unlink_project_blobs``).

Deviations from Harbor, on purpose: untagged artifacts are deleted in batches (not one v2
DELETE at a time) and only when pushed before the time window (an index whose children are
pushed first is not broken mid-push); manifests live in the database, so deleting them frees
rows, not storage.  The ``workers`` parameter multiplies ``gc.delete_workers`` (storage
deletes in flight).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from moorage.config.settings import GcSettings
from moorage.core.errors import BadRequest
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.domain import blobs as lifecycle
from moorage.domain.executions import GARBAGE_COLLECTION, ExecutionService
from moorage.domain.quotas import format_bytes
from moorage.domain.schedules import ScheduleService
from moorage.domain.systemjobs import SystemJob
from moorage.domain.uploads import UploadService
from moorage.metadata.queries import blobs as bq
from moorage.metadata.queries import gc as gq
from moorage.storage.blobs import BlobStore

log = structlog.get_logger(__name__)
JOB = GARBAGE_COLLECTION  # the job's name, as Harbor's job type
PHASES = ("uploads", "untagged", "project_links", "repository_links", "blobs")
MAX_UNTAGGED_PASSES = 8  # deleting an index or a subject frees its children / accessories for the next pass
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GcParams:
    """A run's parameters, as Harbor's API names them (``time_window`` in hours)."""

    delete_untagged: bool = False
    dry_run: bool = False
    workers: int = 1
    time_window: float | None = None  # None: ``gc.blob_time_window_hours``

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> GcParams:
        """From the API's ``parameters`` (unknown keys are ignored, as Harbor does); BadRequest."""
        raw = raw or {}
        out: dict[str, Any] = {}
        for key in ("delete_untagged", "dry_run"):
            if raw.get(key) is not None:
                if not isinstance(raw[key], bool):
                    raise BadRequest(f"invalid {key} {raw[key]!r}: give true or false")
                out[key] = raw[key]
        workers = raw.get("workers")
        if workers is not None:
            if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 10:
                raise BadRequest(f"invalid workers {workers!r}: give a number from 1 to 10")
            out["workers"] = workers
        window = raw.get("time_window")
        if window is not None:
            if isinstance(window, bool) or not isinstance(window, int | float) or window < 0:
                raise BadRequest(f"invalid time_window {window!r}: give a number of hours (0 or more)")
            out["time_window"] = float(window)
        return cls(**out)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"delete_untagged": self.delete_untagged, "dry_run": self.dry_run,
                               "workers": self.workers}
        if self.time_window is not None:
            out["time_window"] = self.time_window
        return out


class GcReporter(Protocol):
    """Where a run reports (the GC job's task context, in a server, a worker or ``moorage gc``)."""

    @property
    def state(self) -> dict[str, Any]:
        """The last checkpoint ({} on a first attempt)."""
        ...

    async def log(self, line: str) -> None: ...

    async def checkpoint(self, state: dict[str, Any]) -> None:
        """Persist progress: an interrupted run resumes from it."""
        ...

    async def stopping(self) -> bool:
        """True once someone asked the run to stop (checked between batches)."""
        ...

    async def update_extra(self, extra: dict[str, Any]) -> None:
        """Publish counters (the execution's ``extra_attrs``)."""
        ...


@dataclass
class GcStats:
    deleted_blobs: int = 0
    freed_bytes: int = 0
    deleted_manifests: int = 0
    purged_uploads: int = 0
    unlinked_blobs: int = 0  # project/repository links dropped (quota given back)
    resumed_blobs: int = 0  # finished for an interrupted run
    stopped: bool = False

    def extra(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "stopped"}


@dataclass
class _Run:
    params: GcParams
    reporter: GcReporter
    before: datetime
    stats: GcStats
    phase: str = PHASES[0]
    cursor: list[int] = field(default_factory=list)
    passes: int = 0
    total: int = 0  # candidate blobs found when the blob phase began (for progress displays)

    def state(self) -> dict[str, Any]:
        return {"phase": self.phase, "cursor": self.cursor, "pass": self.passes, "before": self.before.isoformat(),
                "stats": self.stats.extra()}


class GarbageCollector:
    def __init__(self, db: Database, store: BlobStore, uploads: UploadService, settings: GcSettings,
                 upload_expiry_hours: float) -> None:
        self.db = db
        self.store = store
        self.uploads = uploads
        self.settings = settings
        self.upload_expiry_hours = upload_expiry_hours

    async def run(self, params: GcParams, reporter: GcReporter) -> GcStats:
        """One collection; resumes from ``reporter.state`` when it holds a checkpoint."""
        run = self._resume(params, reporter)
        window = params.time_window if params.time_window is not None else self.settings.blob_time_window_hours
        await reporter.log(f"start to run gc in job: delete_untagged={params.delete_untagged}, "
                           f"dry_run={params.dry_run}, time window {window:g} h (blobs touched before "
                           f"{run.before.isoformat(timespec='seconds')} may go)"
                           + (f", resuming at {run.phase}" if reporter.state else ""))
        if params.dry_run:
            await self._dry_run(run)
            return run.stats
        await self._finish_marked(run)
        steps = {"uploads": self._purge_uploads, "untagged": self._untagged, "project_links": self._project_links,
                 "repository_links": self._repository_links, "blobs": self._blobs}
        for phase in PHASES[PHASES.index(run.phase):]:
            if run.phase != phase:
                run.phase, run.cursor, run.passes = phase, [], 0
            if phase == "untagged" and not params.delete_untagged:
                continue
            if not await steps[phase](run):
                run.stats.stopped = True
                await reporter.log("stopped; the next run continues from here")
                await reporter.update_extra(self._extra(run))
                return run.stats
        s = run.stats
        await reporter.log(f"{s.deleted_blobs} blob(s) and {s.deleted_manifests} manifest(s) deleted, "
                           f"{format_bytes(s.freed_bytes)} freed, {s.unlinked_blobs} blob link(s) released, "
                           f"{s.purged_uploads} abandoned upload(s) purged")
        await reporter.log(f"{s.deleted_blobs} blobs and {s.deleted_manifests} manifests are actually deleted")
        await reporter.log(f"The GC job actual frees up {s.freed_bytes // MIB} MB space.")
        run.phase = "done"
        await reporter.update_extra(self._extra(run))
        await reporter.log("success to run gc in job.")
        return s

    def _resume(self, params: GcParams, reporter: GcReporter) -> _Run:
        state = reporter.state or {}
        window = params.time_window if params.time_window is not None else self.settings.blob_time_window_hours
        if state.get("phase") in PHASES and not params.dry_run:
            stats = GcStats()
            for key, value in (state.get("stats") or {}).items():
                if key != "stopped" and hasattr(stats, key):
                    setattr(stats, key, int(value))
            return _Run(params, reporter, datetime.fromisoformat(state["before"]), stats, state["phase"],
                        list(state.get("cursor") or []), int(state.get("pass") or 0))
        return _Run(params, reporter, lifecycle.window_start(window), GcStats())

    async def _checkpoint(self, run: _Run) -> bool:
        """Save progress and publish counters (with the phase and the blob phase's total, which
        ``moorage gc`` shows as a progress bar); False when a stop was asked for."""
        await run.reporter.checkpoint(run.state())
        await run.reporter.update_extra(self._extra(run))
        return not await run.reporter.stopping()

    @staticmethod
    def _extra(run: _Run) -> dict[str, Any]:
        return {**run.stats.extra(), "phase": run.phase, "candidate_blobs": run.total}

    # Sweeping marked rows ----------------------------------------------------------------------

    async def _sweep(self, rows: list[gq.BlobRow], workers: int) -> None:
        """Delete the bytes of marked rows (concurrently; a missing path is fine), then the rows,
        taking each blob off the usage of every project that still held it."""
        if not rows:
            return
        limit = asyncio.Semaphore(min(self.settings.delete_workers * max(1, workers), 256))

        async def delete(digest: str) -> None:
            async with limit:
                await self.store.delete(digest)

        async with asyncio.TaskGroup() as group:
            for _, digest, _ in rows:
                group.create_task(delete(digest))
        ids = [r[0] for r in rows]
        async with self.db.write() as uow:
            for project_id, held in (await gq.list_blob_projects(uow.conn, ids)).items():
                await bq.unlink_project_blobs(uow.conn, project_id, held)
            await gq.delete_marked_blobs(uow.conn, ids)

    async def _finish_marked(self, run: _Run) -> None:
        """The resume: rows an interrupted run marked are finished before anything else."""
        after, done = 0, 0
        while True:
            async with self.db.read() as conn:
                rows = await gq.list_deleting(conn, after, self.settings.batch_size)
            if not rows:
                break
            await self._sweep(rows, run.params.workers)
            after = rows[-1][0]
            done += len(rows)
            run.stats.deleted_blobs += len(rows)
            run.stats.resumed_blobs += len(rows)
            run.stats.freed_bytes += sum(r[2] for r in rows)
        if done:
            await run.reporter.log(f"finished {done} blob(s) an interrupted run had marked")

    # Phases (each returns False when stopped) ----------------------------------------------------

    async def _purge_uploads(self, run: _Run) -> bool:
        purged = await self.uploads.purge_expired(self.upload_expiry_hours)
        run.stats.purged_uploads += purged
        await run.reporter.log(f"purged {purged} abandoned upload(s) older than {self.upload_expiry_hours:g} h")
        return await self._checkpoint(run)

    async def _untagged(self, run: _Run) -> bool:
        after = run.cursor[0] if run.cursor else 0
        deleted_this_pass = bool(run.cursor[1]) if len(run.cursor) > 1 else False
        while True:
            async with self.db.write() as uow:
                ids = await gq.list_untagged(uow.conn, after, run.before, self.settings.batch_size)
                locked = await gq.lock_artifacts(uow.conn, ids)
                deleted = await gq.delete_untagged(uow.conn, locked, run.before)
            if not ids:
                if not deleted_this_pass or run.passes + 1 >= MAX_UNTAGGED_PASSES:
                    return True
                run.passes, after, deleted_this_pass = run.passes + 1, 0, False
                continue
            after = ids[-1]
            deleted_this_pass = deleted_this_pass or bool(deleted)
            run.stats.deleted_manifests += len(deleted)
            if deleted:
                await run.reporter.log("\n".join(f"delete untagged manifest {repo}@{digest} ({media_type})"
                                                 for repo, digest, media_type in deleted))
            run.cursor = [after, int(deleted_this_pass)]
            if not await self._checkpoint(run):
                return False

    async def _project_links(self, run: _Run) -> bool:
        after = (run.cursor[0], run.cursor[1]) if len(run.cursor) == 2 else (0, 0)
        while True:
            async with self.db.read() as conn:
                pairs = await gq.list_stale_project_links(conn, after, run.before, self.settings.batch_size)
            if not pairs:
                return True
            by_project: dict[int, list[int]] = {}
            for blob_id, project_id in pairs:
                by_project.setdefault(project_id, []).append(blob_id)
            for project_id, blob_ids in sorted(by_project.items()):
                async with self.db.write() as uow:
                    await lifecycle.lock_quota(uow.conn, project_id)
                    locked = await gq.lock_blob_ids_skipping(uow.conn, blob_ids)
                    gone = await bq.list_unreferenced_project_blobs(uow.conn, project_id, locked, run.before)
                    await bq.unlink_project_blobs(uow.conn, project_id, gone)
                run.stats.unlinked_blobs += len(gone)
            after = pairs[-1]
            run.cursor = list(after)
            if not await self._checkpoint(run):
                return False

    async def _repository_links(self, run: _Run) -> bool:
        after = (run.cursor[0], run.cursor[1]) if len(run.cursor) == 2 else (0, 0)
        while True:
            async with self.db.read() as conn:
                pairs = await gq.list_stale_repository_links(conn, after, run.before, self.settings.batch_size)
            if not pairs:
                return True
            by_repository: dict[int, list[int]] = {}
            for blob_id, repository_id in pairs:
                by_repository.setdefault(repository_id, []).append(blob_id)
            for repository_id, blob_ids in sorted(by_repository.items()):
                async with self.db.write() as uow:
                    locked = await gq.lock_blob_ids_skipping(uow.conn, blob_ids)
                    await bq.delete_unreferenced_repository_links(uow.conn, repository_id, locked, run.before)
            after = pairs[-1]
            run.cursor = list(after)
            if not await self._checkpoint(run):
                return False

    async def _blobs(self, run: _Run) -> bool:
        after = run.cursor[0] if run.cursor else 0
        async with self.db.read() as conn:
            run.total = (await gq.count_blob_candidates(conn, run.before))[0] + run.stats.deleted_blobs
        await run.reporter.update_extra(self._extra(run))
        while True:
            async with self.db.write() as uow:
                ids = await gq.lock_blob_candidates(uow.conn, after, run.before, self.settings.batch_size)
                marked = await gq.mark_deleting(uow.conn, ids, run.before)
            if not ids:
                return True
            await self._sweep(marked, run.params.workers)
            after = ids[-1]
            freed = sum(r[2] for r in marked)
            run.stats.deleted_blobs += len(marked)
            run.stats.freed_bytes += freed
            await run.reporter.log(f"{len(marked)} blob(s) marked and deleted, {format_bytes(freed)} freed "
                                   f"({run.stats.deleted_blobs} so far)")
            run.cursor = [after]
            if not await self._checkpoint(run):
                return False

    # Dry run -----------------------------------------------------------------------------------

    async def _dry_run(self, run: _Run) -> None:
        """Count what a run would do; change nothing."""
        s = run.stats
        before_uploads = utcnow() - timedelta(hours=self.upload_expiry_hours)
        async with self.db.read() as conn:
            marked = len(await gq.list_deleting(conn, 0, 1_000_000))
            s.purged_uploads = len(await bq.list_expired_uploads(conn, before_uploads))
            if run.params.delete_untagged:
                s.deleted_manifests = await gq.count_untagged(conn, run.before)
            s.deleted_blobs, s.freed_bytes = await gq.count_blob_candidates(
                conn, run.before, with_untagged=run.params.delete_untagged)
        if marked:
            await run.reporter.log(f"{marked} blob(s) left marked by an interrupted run would be finished")
        await run.reporter.log(f"{s.purged_uploads} abandoned upload(s) would be purged")
        await run.reporter.log(f"{s.deleted_blobs} blobs and {s.deleted_manifests} manifests eligible for deletion")
        await run.reporter.log(f"The GC could free up {s.freed_bytes // MIB} MB space, the size is a rough estimate.")
        await run.reporter.log(f"dry run: {s.deleted_blobs} blob(s) and {s.deleted_manifests} manifest(s) marked, "
                               f"{format_bytes(s.freed_bytes)} would be freed; nothing was changed")
        run.phase, run.total = "done", s.deleted_blobs
        await run.reporter.update_extra(self._extra(run))
        await run.reporter.log("success to run gc in job.")


class GcService(SystemJob):
    """Runs (one at a time), the schedule, history, stop and logs, for the API and the CLI."""

    def __init__(self, executions: ExecutionService, schedules: ScheduleService, settings: GcSettings) -> None:
        super().__init__(executions, schedules, GARBAGE_COLLECTION, JOB, "garbage collection")
        self.settings = settings

    def parse(self, raw: dict[str, Any] | None) -> dict[str, Any]:
        return GcParams.parse(raw).to_dict()

    def attrs(self, params: dict[str, Any]) -> dict[str, Any]:
        """Harbor's execution attributes: the parameters, with the effective time window."""
        window = params.get("time_window")
        return {**params, "time_window": window if window is not None else self.settings.blob_time_window_hours}
