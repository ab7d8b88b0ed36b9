"""Pull statistics and pull audit entries, batched: a pull never writes to the database on
the hot path.

Each process buffers pull counts and times and flushes them in one transaction every
``registry.pull_stats_flush_seconds`` (and at shutdown).  Replicas each flush their own
buffer, so nothing depends on a single process.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime
from typing import Any

import structlog

from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.domain.audit import Actor, AuditEntry, AuditService
from moorage.domain.events import PULL_ARTIFACT, EventLog
from moorage.metadata.queries import artifacts as aq
from moorage.metadata.queries import projects as pq

log = structlog.get_logger(__name__)
MAX_PENDING_AUDIT = 5000  # flush early rather than hold more than this many distinct pull entries
PullKey = tuple[str, str, str, int | None]  # username, client address, resource, project id


class PullRecorder:
    def __init__(self, db: Database, audit: AuditService, events: EventLog) -> None:
        self.db = db
        self.audit = audit
        self.events = events
        # PULL_ARTIFACT events, one per (caller, resource) per flush window, like the audit entries.
        self._pulled: dict[tuple[str, str], tuple[int | None, dict[str, Any]]] = {}
        # Pulls of one resource by one caller within a flush window are one audit entry
        # ("pulled N times"): a busy CI fleet would otherwise write a row per manifest GET.
        self._audit: dict[PullKey, tuple[int, datetime]] = {}
        self._early_flush: asyncio.Task[None] | None = None
        self._artifacts: dict[int, tuple[int, datetime]] = {}
        self._tags: dict[int, datetime] = {}
        self._repositories: dict[int, int] = defaultdict(int)

    def record(self, repository_id: int, artifact_id: int, tag_id: int | None,
               pulled: tuple[Actor, AuditEntry] | None = None, event: dict[str, Any] | None = None) -> None:
        now = utcnow()
        if pulled is not None:
            actor, entry = pulled
            if event is not None:
                self._pulled.setdefault((actor.username, entry.resource), (entry.project_id, event))
            key = (actor.username, actor.client_ip, entry.resource, entry.project_id)
            seen = self._audit.get(key)
            self._audit[key] = (seen[0] + 1, seen[1]) if seen else (1, now)
            if len(self._audit) >= MAX_PENDING_AUDIT and (self._early_flush is None or self._early_flush.done()):
                self._early_flush = asyncio.create_task(self.flush())
        count = self._artifacts.get(artifact_id, (0, now))[0]
        self._artifacts[artifact_id] = (count + 1, now)
        if tag_id is not None:
            self._tags[tag_id] = now
        self._repositories[repository_id] += 1

    @property
    def pending(self) -> int:
        return sum(c for c, _ in self._artifacts.values())

    async def flush(self) -> None:
        if not self._artifacts and not self._audit:
            return
        artifacts, tags, repos = self._artifacts, self._tags, dict(self._repositories)
        entries, pulled = self._audit, self._pulled
        self._artifacts, self._tags, self._repositories, self._audit = {}, {}, defaultdict(int), {}
        self._pulled = {}
        async with self.db.write() as uow:
            for (username, _), (project_id, data) in pulled.items():
                await self.events.emit_in(uow, PULL_ARTIFACT, project_id, username, data)
            await aq.record_pulls(uow.conn, artifacts, tags)
            await pq.add_repository_pulls(uow.conn, repos)
            await self.audit.record_many(uow.conn, [
                (Actor(user, ip), AuditEntry("pull", "artifact", resource, project_id,
                                             f"pulled {n} times" if n > 1 else ""), first)
                for (user, ip, resource, project_id), (n, first) in entries.items()
            ])
        log.debug("pull_stats_flushed", artifacts=len(artifacts))
