"""Audit-log rotation (Harbor's PURGE_AUDIT_LOG): its parameters, runs now or on a schedule
(one at a time), their history and logs, and the batched deletion the job performs.

``include_event_types`` takes Harbor's event types (``create_artifact,pull_artifact``…),
bare operations (``create,delete,pull``, Harbor's older ``include_operations``) and
``other`` (every event type outside Harbor's list).  As in Harbor, an empty string purges
nothing; leaving the parameter out purges every event type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moorage.core.errors import BadRequest
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.domain.executions import PURGE_AUDIT_LOG, ExecutionService
from moorage.domain.schedules import ScheduleService
from moorage.domain.systemjobs import SystemJob, require_parameters
from moorage.metadata.queries import audit as q
from moorage.metadata.queries.audit import PurgeSelection

JOB = PURGE_AUDIT_LOG  # the job's name, as Harbor's job type
MAX_RETENTION_HOURS = 240000
BATCH_SIZE = 10_000  # entries deleted per transaction
# Harbor's event types (auditext model.EventTypes) in Moorage's names; "other" is the rest.
HARBOR_EVENT_TYPES = (
    ("create", "artifact"), ("delete", "artifact"), ("pull", "artifact"), ("create", "project"),
    ("delete", "project"), ("delete", "repository"), ("login", "user"), ("logout", "user"), ("create", "user"),
    ("delete", "user"), ("update", "user"), ("create", "robot"), ("delete", "robot"), ("update", "configuration"),
)
RESOURCE_ALIASES = {"configure": "configuration"}
_TOKEN = re.compile(r"^[a-z]+(?:_[a-z][a-z_-]*)?$")


@dataclass(frozen=True, slots=True)
class PurgeParams:
    retention_hours: int
    include_event_types: str | None  # None: every event type
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Harbor's parameter names (what the job, the schedule and the history carry)."""
        out: dict[str, Any] = {"audit_retention_hour": self.retention_hours, "dry_run": self.dry_run}
        if self.include_event_types is not None:
            out["include_event_types"] = self.include_event_types
        return out


def parse_params(raw: Mapping[str, Any] | None) -> PurgeParams:
    """Validate Harbor's purge parameters; BadRequest names what is wrong."""
    raw = raw or {}
    hours = raw.get("audit_retention_hour")
    if isinstance(hours, str) and hours.strip().isdigit():
        hours = int(hours)
    if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= MAX_RETENTION_HOURS:
        raise BadRequest(f"audit_retention_hour must be an integer from 1 to {MAX_RETENTION_HOURS}")
    dry_run = raw.get("dry_run", False)
    if isinstance(dry_run, str) and dry_run.lower() in ("true", "false"):
        dry_run = dry_run.lower() == "true"
    if not isinstance(dry_run, bool):
        raise BadRequest("dry_run must be true or false")
    include = raw.get("include_event_types", raw.get("include_operations"))
    if isinstance(include, list) and all(isinstance(i, str) for i in include):
        include = ",".join(include)
    if include is not None and not isinstance(include, str):
        raise BadRequest("include_event_types must be a comma-separated string, e.g. create_artifact,pull_artifact")
    if include is not None:
        include = ",".join(t.strip().lower() for t in include.split(",") if t.strip())
        selection_of(include)  # validates every token
    return PurgeParams(hours, include, dry_run)


def selection_of(include: str | None) -> PurgeSelection:
    """The audit entries ``include_event_types`` names (see the module docstring)."""
    if include is None:
        return PurgeSelection(everything=True)
    pairs: list[tuple[str, str]] = []
    operations: list[str] = []
    other = False
    for token in (t.strip().lower() for t in include.split(",") if t.strip()):
        if not _TOKEN.match(token):
            raise BadRequest(f"invalid event type {token!r}: use e.g. create_artifact, pull_artifact, delete or other")
        if token == "other":
            other = True
        elif "_" in token:
            operation, _, resource = token.partition("_")
            pairs.append((operation, RESOURCE_ALIASES.get(resource, resource)))
        else:
            operations.append(token)
    return PurgeSelection(pairs=tuple(dict.fromkeys(pairs)), operations=tuple(dict.fromkeys(operations)),
                          others_than=HARBOR_EVENT_TYPES if other else None)


def cutoff(retention_hours: int, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(hours=retention_hours)


class AuditPurgeService(SystemJob):
    def __init__(self, db: Database, executions: ExecutionService, schedules: ScheduleService) -> None:
        super().__init__(executions, schedules, PURGE_AUDIT_LOG, JOB, "purge job")
        self.db = db

    def parse(self, raw: dict[str, Any] | None) -> dict[str, Any]:
        return parse_params(require_parameters(raw, "audit_retention_hour")).as_dict()

    # The work ----------------------------------------------------------------------------------

    async def count(self, before: datetime, selection: PurgeSelection) -> int:
        async with self.db.read() as conn:
            return await q.count_purgeable(conn, before, selection)

    async def delete_batch(self, before: datetime, selection: PurgeSelection, limit: int = BATCH_SIZE) -> int:
        """Delete up to ``limit`` of the oldest selected entries in one transaction."""
        async with self.db.write() as uow:
            return await q.delete_purgeable(uow.conn, before, selection, limit)
