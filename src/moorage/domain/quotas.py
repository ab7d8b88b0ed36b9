"""Per-project storage quotas: enforcement where blobs enter a project, the default limit of
new projects, QUOTA_WARNING / QUOTA_EXCEED events, the ``/quotas`` views and the recount.

Usage is the sum of the sizes of the project's unique blobs (``project_blobs``).  It changes
only inside the transactions that link or unlink blobs (``metadata.queries.blobs``), so it
never drifts; ``write()`` wraps such a transaction: it locks the quota row first (every linking
transaction takes the same lock first, so concurrent pushes queue instead of deadlocking or
both passing), lets the caller link, then refuses the whole transaction if the usage grew past
the limit.  Only pushes that add bytes are refused: re-linking a blob the project holds is free.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog

from moorage.core.errors import BadRequest, MoorageError, NotFound
from moorage.core.query import Page
from moorage.db.engine import Database, UnitOfWork
from moorage.domain.audit import SYSTEM, Actor, AuditEntry, AuditService
from moorage.domain.configuration import ConfigService
from moorage.domain.events import QUOTA_EXCEED, QUOTA_WARNING, EventLog
from moorage.metadata.queries import quotas as q
from moorage.metadata.queries.quotas import QuotaRow, Usage

log = structlog.get_logger(__name__)
UNLIMITED = -1
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_bytes(n: int) -> str:
    """Harbor's way of showing a size in messages: ``512 B``, ``17.5 MiB``."""
    if abs(n) < 1024:
        return f"{n} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if abs(value) < 1024 or unit == _UNITS[-1]:
            break
    return f"{value:.1f} {unit}"


def validate_limit(value: Any, what: str = "storage") -> int:
    """A storage limit: -1 (unlimited) or a number of bytes; BadRequest otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < UNLIMITED:
        raise BadRequest(f"invalid {what} limit {value!r}: give -1 (unlimited) or a number of bytes (0 or more)")
    return value


class QuotaExceeded(MoorageError):
    """A push would take the project's usage past its limit (403 DENIED, as Harbor answers)."""

    code = "DENIED"

    def __init__(self, project_id: int, usage: Usage, adding: int, repository: str, digest: str) -> None:
        self.project_id = project_id
        self.usage = usage
        self.adding = adding
        self.repository = repository
        self.digest = digest
        if adding:
            message = (f"quota exceeded when processing the request of adding {format_bytes(adding)} of storage "
                       f"resource, which when updated to current usage of {format_bytes(usage.used)} will exceed "
                       f"the configured upper limit of {format_bytes(usage.hard)} in project '{usage.project_name}'")
        else:  # refused before the size is known: the project is over its limit already
            message = (f"quota exceeded: the current usage of {format_bytes(usage.used)} already exceeds the "
                       f"configured upper limit of {format_bytes(usage.hard)} in project '{usage.project_name}'")
        super().__init__(message, detail={"project": usage.project_name, "hard": usage.hard, "used": usage.used,
                                          "adding": adding})


class QuotaService:
    def __init__(self, db: Database, config: ConfigService, events: EventLog, audit: AuditService,
                 warning_percent: int) -> None:
        self.db = db
        self.config = config
        self.events = events
        self.audit = audit
        self.warning_percent = warning_percent

    # Enforcement -------------------------------------------------------------------------

    @asynccontextmanager
    async def write(self, project_id: int, repository: str, digest: str = "", actor: Actor = SYSTEM
                    ) -> AsyncIterator[UnitOfWork]:
        """A write transaction that links blobs to ``project_id``: raises QuotaExceeded (and
        rolls everything back, then records QUOTA_EXCEED) when what the block linked takes
        the usage over the limit; records QUOTA_WARNING when it crosses the warning share."""
        try:
            async with self.db.write() as uow:
                before = await q.lock_quota(uow.conn, project_id)
                yield uow
                if before is not None:
                    after = await q.find_usage(uow.conn, project_id)
                    if after is not None and after.used > before.used:
                        await self._settle(uow, project_id, before, after, repository, digest, actor)
        except QuotaExceeded as exc:
            await self._record_exceeded(exc, actor)
            raise

    async def check_room(self, project_id: int, repository: str, size: int, digest: str = "",
                         actor: Actor = SYSTEM) -> None:
        """Refuse early (QuotaExceeded, without locking) a blob of ``size`` bytes that cannot
        fit: an upload whose bytes already exceed the limit.  A blob the project already holds
        fits.  The transaction that links it checks again under the lock."""
        async with self.db.read() as conn:
            usage = await q.find_usage(conn, project_id)
            if usage is None or usage.hard < 0 or usage.used + size <= usage.hard:
                return
            if digest and await q.find_blob_in_project(conn, project_id, digest):
                return
        if await self.enabled():
            exc = QuotaExceeded(project_id, usage, size, repository, digest)
            await self._record_exceeded(exc, actor)
            raise exc

    async def enabled(self) -> bool:
        """``quota_per_project_enable``: when off, limits are not enforced (usage is still counted)."""
        return bool(await self.config.value("quota_per_project_enable"))

    async def _settle(self, uow: UnitOfWork, project_id: int, before: Usage, after: Usage, repository: str,
                      digest: str, actor: Actor) -> None:
        hard = before.hard
        if hard < 0:
            return
        threshold = hard * self.warning_percent / 100
        exceeds = after.used > hard
        warns = not exceeds and before.used < threshold <= after.used
        if not (exceeds or warns) or not await self.enabled():
            return
        if exceeds:
            raise QuotaExceeded(project_id, before, after.used - before.used, repository, digest)
        message = (f"quota usage reached {self.warning_percent}% of the limit in project '{before.project_name}': "
                   f"{format_bytes(after.used)} of {format_bytes(hard)} used")
        await self.events.emit_in(uow, QUOTA_WARNING, project_id, actor.username, {
            "repository": repository, "digest": digest, "used": after.used, "hard": hard, "message": message})
        log.info("quota_warning", project=before.project_name, used=after.used, hard=hard)

    async def _record_exceeded(self, exc: QuotaExceeded, actor: Actor) -> None:
        """QUOTA_EXCEED in its own transaction: the refused push's one rolled back."""
        try:
            async with self.db.write() as uow:
                await self.events.emit_in(uow, QUOTA_EXCEED, exc.project_id, actor.username, {
                    "repository": exc.repository, "digest": exc.digest, "used": exc.usage.used,
                    "hard": exc.usage.hard, "message": exc.message})
        except Exception:  # the refusal stands even if its event cannot be written
            log.exception("quota_event_failed", project_id=exc.project_id)
        log.info("quota_exceeded", project=exc.usage.project_name, used=exc.usage.used, hard=exc.usage.hard,
                 adding=exc.adding)

    # Defaults ----------------------------------------------------------------------------

    async def limit_for_new_project(self, requested: int | None, sysadmin: bool) -> int:
        """The limit a new project gets, as Harbor decides it: a system administrator's
        ``storage_limit`` (0 or absent means the default), else ``storage_per_project``."""
        if requested is not None:
            validate_limit(requested, "storage")
        if sysadmin and requested:
            return requested
        return int(await self.config.value("storage_per_project"))

    # The /quotas API ---------------------------------------------------------------------

    async def usages(self, project_ids: list[int]) -> dict[int, q.Usage]:
        """Limit and usage per project (those without a quota row are absent)."""
        async with self.db.read() as conn:
            return await q.list_usages(conn, project_ids)

    async def get(self, quota_id: int) -> QuotaRow:
        """A quota by id (the project id); raises NotFound."""
        async with self.db.read() as conn:
            return await q.get_quota(conn, quota_id)

    async def page(self, project_id: int | None, page: Page, sort: list[tuple[str, bool]]
                   ) -> tuple[list[QuotaRow], int]:
        async with self.db.read() as conn:
            total = await q.count_quotas(conn, project_id)
            rows = await q.list_quotas(conn, project_id, page.offset, page.limit, sort) if total > page.offset else []
        return rows, total

    async def set_limit(self, quota_id: int, hard: int, actor: Actor) -> None:
        """Change a project's limit (it may go below the usage: then only pushes that add bytes fail)."""
        validate_limit(hard)
        async with self.db.write() as uow:
            usage = await q.lock_quota(uow.conn, quota_id)
            if usage is None:
                raise NotFound(f"quota {quota_id} not found")
            await q.update_hard(uow.conn, quota_id, hard)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "quota", usage.project_name, quota_id,
                f"set the storage limit of project {usage.project_name} to {hard}"))

    # Recount -----------------------------------------------------------------------------

    async def recount(self, project_id: int | None = None, fix: bool = True) -> dict[int, tuple[int, int]]:
        """Compare each stored usage (one project's, or all) with the sum of its blobs' sizes;
        returns the projects that differ as id -> (stored, recounted), corrected when ``fix``."""
        async with self.db.read() as conn:
            counts = await q.list_recounts(conn, project_id)
        drifted = {pid: pair for pid, pair in counts.items() if pair[0] != pair[1]}
        if not fix:
            return drifted
        for pid in drifted:
            async with self.db.write() as uow:  # under the lock, so no push lands in between
                if await q.lock_quota(uow.conn, pid) is None:
                    continue
                stored, actual = (await q.list_recounts(uow.conn, pid))[pid]
                if stored != actual:
                    await q.update_used(uow.conn, pid, actual)
                    log.warning("quota_usage_corrected", project_id=pid, stored=stored, recounted=actual)
        return drifted
