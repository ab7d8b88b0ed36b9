"""Replication queries: policies, the registry rows a policy shows, what a run reads about
local artifacts (repository names, an artifact's type and labels), and replication
executions filtered by Harbor's query parameters with their task counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update

from moorage.core.errors import NotFound
from moorage.db.base import utcnow
from moorage.db.engine import Conn
from moorage.metadata.models import Artifact, Execution, Repository, Task
from moorage.metadata.models.label import ArtifactLabel, Label
from moorage.metadata.models.replication import RegistryEndpoint, ReplicationPolicy
from moorage.metadata.queries.dialect import insert_for

# Policies -------------------------------------------------------------------------------------


def _policy(row: Any) -> ReplicationPolicy:
    return ReplicationPolicy(**row._mapping)


async def find_policy(conn: Conn, policy_id: int, *, lock: bool = False) -> ReplicationPolicy | None:
    """The policy; ``lock`` holds its row for the rest of the write transaction."""
    stmt = select(ReplicationPolicy.__table__).where(ReplicationPolicy.id == policy_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return _policy(row) if row is not None else None


async def get_policy(conn: Conn, policy_id: int, *, lock: bool = False) -> ReplicationPolicy:
    found = await find_policy(conn, policy_id, lock=lock)
    if found is None:
        raise NotFound(f"replication policy {policy_id} not found")
    return found


async def find_policy_id_by_name(conn: Conn, name: str) -> int | None:
    found: int | None = (await conn.execute(select(ReplicationPolicy.id).where(ReplicationPolicy.name == name))
                         ).scalar()
    return found


def _named(stmt: Any, name: str | None, fuzzy: bool) -> Any:
    if name is None:
        return stmt
    if fuzzy:
        return stmt.where(func.lower(ReplicationPolicy.name).contains(name.lower(), autoescape=True))
    return stmt.where(ReplicationPolicy.name == name)


async def count_policies(conn: Conn, name: str | None = None, fuzzy: bool = False) -> int:
    stmt = _named(select(func.count()).select_from(ReplicationPolicy), name, fuzzy)
    return int((await conn.execute(stmt)).scalar_one())


async def list_policies(conn: Conn, name: str | None = None, fuzzy: bool = False, offset: int = 0,
                        limit: int | None = None) -> list[ReplicationPolicy]:
    stmt = _named(select(ReplicationPolicy.__table__), name, fuzzy).order_by(ReplicationPolicy.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_policy(r) for r in await conn.execute(stmt)]


async def list_enabled_policies(conn: Conn) -> list[ReplicationPolicy]:
    stmt = select(ReplicationPolicy.__table__).where(ReplicationPolicy.enabled.is_(True)).order_by(
        ReplicationPolicy.id)
    return [_policy(r) for r in await conn.execute(stmt)]


async def create_policy(conn: Conn, values: dict[str, Any], creator: str) -> int:
    now = utcnow()
    stmt = insert_for(conn, ReplicationPolicy).values(
        **values, creator=creator, creation_time=now, update_time=now).returning(ReplicationPolicy.id)
    return int((await conn.execute(stmt)).scalar_one())


async def update_policy(conn: Conn, policy_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(ReplicationPolicy).where(ReplicationPolicy.id == policy_id)
                       .values(**values, update_time=utcnow()))


async def delete_policy(conn: Conn, policy_id: int) -> None:
    await conn.execute(delete(ReplicationPolicy).where(ReplicationPolicy.id == policy_id))


# Registries (as a policy shows them) -----------------------------------------------------------


async def list_registries(conn: Conn, registry_ids: list[int]) -> dict[int, RegistryEndpoint]:
    if not registry_ids:
        return {}
    stmt = select(RegistryEndpoint.__table__).where(RegistryEndpoint.id.in_(registry_ids))
    return {int(r.id): RegistryEndpoint(**r._mapping) for r in await conn.execute(stmt)}


# Local artifacts --------------------------------------------------------------------------------


async def list_repository_names(conn: Conn) -> list[str]:
    return [str(n) for n in (await conn.execute(select(Repository.name).order_by(Repository.name))).scalars()]


@dataclass(frozen=True, slots=True)
class ArtifactFacts:
    media_type: str
    artifact_type: str | None
    labels: tuple[str, ...]
    subject_digest: str | None = None


async def find_artifact_facts(conn: Conn, artifact_id: int) -> ArtifactFacts | None:
    """What event-based replication judges: the artifact's type, label names and subject."""
    row = (await conn.execute(select(Artifact.media_type, Artifact.artifact_type, Artifact.config_media_type,
                                     Artifact.subject_digest).where(Artifact.id == artifact_id))).first()
    if row is None:
        return None
    labels = (await conn.execute(select(Label.name).join(ArtifactLabel, ArtifactLabel.label_id == Label.id)
                                 .where(ArtifactLabel.artifact_id == artifact_id))).scalars()
    return ArtifactFacts(str(row[0]), row[1] or row[2], tuple(sorted(str(n) for n in labels)), row[3])


# Executions -------------------------------------------------------------------------------------


def _executions(stmt: Any, vendor_type: str, policy_id: int | None, statuses: list[str] | None,
                trigger: str | None) -> Any:
    stmt = stmt.where(Execution.vendor_type == vendor_type)
    if policy_id is not None:
        stmt = stmt.where(Execution.vendor_id == policy_id)
    if statuses is not None:
        stmt = stmt.where(Execution.status.in_(statuses))
    if trigger is not None:
        stmt = stmt.where(Execution.trigger == trigger)
    return stmt


async def count_executions(conn: Conn, vendor_type: str, policy_id: int | None, statuses: list[str] | None,
                           trigger: str | None) -> int:
    stmt = _executions(select(func.count()).select_from(Execution), vendor_type, policy_id, statuses, trigger)
    return int((await conn.execute(stmt)).scalar_one())


async def list_execution_ids(conn: Conn, vendor_type: str, policy_id: int | None, statuses: list[str] | None,
                             trigger: str | None, offset: int, limit: int) -> list[int]:
    """Newest first."""
    stmt = _executions(select(Execution.id), vendor_type, policy_id, statuses, trigger)
    return [int(i) for i in (await conn.execute(stmt.order_by(Execution.id.desc()).offset(offset).limit(limit))
                             ).scalars()]


async def list_task_counts(conn: Conn, execution_ids: list[int], jobs: tuple[str, ...]
                           ) -> dict[int, dict[str, int]]:
    """execution id -> task status -> count, over the tasks of the given jobs."""
    if not execution_ids:
        return {}
    stmt = (select(Task.execution_id, Task.status, func.count())
            .where(Task.execution_id.in_(execution_ids), Task.job.in_(jobs))
            .group_by(Task.execution_id, Task.status))
    out: dict[int, dict[str, int]] = {}
    for execution_id, status, n in await conn.execute(stmt):
        out.setdefault(int(execution_id), {})[str(status)] = int(n)
    return out


async def count_unfinished_executions(conn: Conn, vendor_type: str, policy_id: int) -> int:
    stmt = select(func.count()).select_from(Execution).where(
        Execution.vendor_type == vendor_type, Execution.vendor_id == policy_id,
        Execution.status.in_(("Pending", "Running")))
    return int((await conn.execute(stmt)).scalar_one())


async def lock_execution(conn: Conn, execution_id: int) -> bool:
    """Hold a run's execution row for the rest of the write transaction (its tasks finish one
    after the other through it); False if it does not exist."""
    stmt = select(Execution.id).where(Execution.id == execution_id).with_for_update()
    return (await conn.execute(stmt)).first() is not None


async def count_pending_tasks(conn: Conn, execution_id: int, except_task: int) -> int:
    """Tasks of the run not started yet (other than ``except_task``)."""
    stmt = select(func.count()).select_from(Task).where(
        Task.execution_id == execution_id, Task.status == "Pending", Task.id != except_task)
    return int((await conn.execute(stmt)).scalar_one())


def _artifact_tasks(stmt: Any, execution_id: int, jobs: tuple[str, ...], statuses: list[str] | None) -> Any:
    stmt = stmt.where(Task.execution_id == execution_id, Task.job.in_(jobs))
    return stmt.where(Task.status.in_(statuses)) if statuses is not None else stmt


async def count_artifact_tasks(conn: Conn, execution_id: int, jobs: tuple[str, ...],
                               statuses: list[str] | None) -> int:
    stmt = _artifact_tasks(select(func.count()).select_from(Task), execution_id, jobs, statuses)
    return int((await conn.execute(stmt)).scalar_one())


async def list_artifact_tasks(conn: Conn, execution_id: int, jobs: tuple[str, ...], statuses: list[str] | None,
                              offset: int, limit: int) -> list[Task]:
    """A page of a run's tasks of the given jobs (and statuses), oldest first."""
    stmt = _artifact_tasks(select(Task.__table__), execution_id, jobs, statuses)
    return [Task(**row._mapping) for row in await conn.execute(stmt.order_by(Task.id).offset(offset).limit(limit))]
