"""Tag policy queries: immutability rules (with the one-lookup check on the push hot path),
retention policies and rules, and what a retention run reads (repositories in a project,
top-level artifacts of a repository with their tags)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, false, func, select, update
from sqlalchemy.orm import aliased

from moorage.core.errors import NotFound
from moorage.db.base import utcnow
from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import Artifact, ArtifactReference, Execution, Repository, Tag, Task
from moorage.metadata.models.policy import ImmutableRule, RetentionPolicy, RetentionRule
from moorage.metadata.queries.dialect import insert_for

# Immutability ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImmutableRuleRow:
    id: int
    project_id: int
    priority: int
    disabled: bool
    action: str
    template: str
    params: dict[str, Any]
    tag_selectors: list[dict[str, Any]]
    scope_selectors: dict[str, Any]


_IMMUTABLE_COLUMNS = (ImmutableRule.id, ImmutableRule.project_id, ImmutableRule.priority, ImmutableRule.disabled,
                      ImmutableRule.action, ImmutableRule.template, ImmutableRule.params,
                      ImmutableRule.tag_selectors, ImmutableRule.scope_selectors)
# The push hot path: one indexed lookup answers "does this project have any enabled rule?".
_HAS_ENABLED = Prepared(select(ImmutableRule.id).where(
    ImmutableRule.project_id == bindparam("project_id"), ImmutableRule.disabled == false()))


def _immutable_row(r: Any) -> ImmutableRuleRow:
    return ImmutableRuleRow(int(r[0]), int(r[1]), int(r[2]), bool(r[3]), str(r[4]), str(r[5]), dict(r[6] or {}),
                            list(r[7] or []), dict(r[8] or {}))


async def has_enabled_immutable_rules(conn: Conn, project_id: int) -> bool:
    return await conn.first(_HAS_ENABLED, {"project_id": project_id}) is not None


async def list_immutable_rules(conn: Conn, project_id: int, *, enabled_only: bool = False, offset: int = 0,
                               limit: int | None = None) -> list[ImmutableRuleRow]:
    """The project's rules by priority then id."""
    stmt = select(*_IMMUTABLE_COLUMNS).where(ImmutableRule.project_id == project_id)
    if enabled_only:
        stmt = stmt.where(ImmutableRule.disabled == false())
    stmt = stmt.order_by(ImmutableRule.priority, ImmutableRule.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_immutable_row(r) for r in await conn.execute(stmt)]


async def count_immutable_rules(conn: Conn, project_id: int) -> int:
    stmt = select(func.count()).select_from(ImmutableRule).where(ImmutableRule.project_id == project_id)
    return int((await conn.execute(stmt)).scalar_one())


async def get_immutable_rule(conn: Conn, project_id: int, rule_id: int) -> ImmutableRuleRow:
    row = (await conn.execute(select(*_IMMUTABLE_COLUMNS).where(
        ImmutableRule.project_id == project_id, ImmutableRule.id == rule_id))).first()
    if row is None:
        raise NotFound(f"immutable tag rule {rule_id} not found in project {project_id}")
    return _immutable_row(row)


async def create_immutable_rule(conn: Conn, project_id: int, values: dict[str, Any]) -> int:
    now = utcnow()
    stmt = insert_for(conn, ImmutableRule).values(project_id=project_id, creation_time=now, update_time=now,
                                                  **values).returning(ImmutableRule.id)
    return int((await conn.execute(stmt)).scalar_one())


async def update_immutable_rule(conn: Conn, rule_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(ImmutableRule).where(ImmutableRule.id == rule_id)
                       .values(update_time=utcnow(), **values))


async def delete_immutable_rule(conn: Conn, rule_id: int) -> bool:
    return bool((await conn.execute(delete(ImmutableRule).where(ImmutableRule.id == rule_id))).rowcount)


# Retention policies ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetentionRuleRow:
    id: int
    policy_id: int
    position: int
    priority: int
    disabled: bool
    action: str
    template: str
    params: dict[str, Any]
    tag_selectors: list[dict[str, Any]]
    scope_selectors: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RetentionPolicyRow:
    id: int
    project_id: int
    algorithm: str
    trigger: dict[str, Any]
    creation_time: datetime
    update_time: datetime
    rules: tuple[RetentionRuleRow, ...] = ()


_POLICY_COLUMNS = (RetentionPolicy.id, RetentionPolicy.project_id, RetentionPolicy.algorithm, RetentionPolicy.trigger,
                   RetentionPolicy.creation_time, RetentionPolicy.update_time)
_RULE_COLUMNS = (RetentionRule.id, RetentionRule.policy_id, RetentionRule.position, RetentionRule.priority,
                 RetentionRule.disabled, RetentionRule.action, RetentionRule.template, RetentionRule.params,
                 RetentionRule.tag_selectors, RetentionRule.scope_selectors)


async def _policy(conn: Conn, where: Any, lock: bool = False) -> RetentionPolicyRow | None:
    stmt = select(*_POLICY_COLUMNS).where(where)
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    rules = await conn.execute(select(*_RULE_COLUMNS).where(RetentionRule.policy_id == row[0])
                               .order_by(RetentionRule.position, RetentionRule.id))
    return RetentionPolicyRow(int(row[0]), int(row[1]), str(row[2]), dict(row[3] or {}), row[4], row[5], tuple(
        RetentionRuleRow(int(r[0]), int(r[1]), int(r[2]), int(r[3]), bool(r[4]), str(r[5]), str(r[6]),
                         dict(r[7] or {}), list(r[8] or []), dict(r[9] or {})) for r in rules))


async def find_retention_policy(conn: Conn, policy_id: int, *, lock: bool = False) -> RetentionPolicyRow | None:
    """The policy with its rules; ``lock`` holds its row for the rest of the write transaction."""
    return await _policy(conn, RetentionPolicy.id == policy_id, lock)


async def get_retention_policy(conn: Conn, policy_id: int, *, lock: bool = False) -> RetentionPolicyRow:
    found = await find_retention_policy(conn, policy_id, lock=lock)
    if found is None:
        raise NotFound(f"retention policy {policy_id} not found")
    return found


async def find_project_retention_policy(conn: Conn, project_id: int) -> RetentionPolicyRow | None:
    return await _policy(conn, RetentionPolicy.project_id == project_id)


async def create_retention_policy(conn: Conn, project_id: int, algorithm: str, trigger: dict[str, Any]) -> int:
    now = utcnow()
    stmt = insert_for(conn, RetentionPolicy).values(
        project_id=project_id, algorithm=algorithm, trigger=trigger, creation_time=now, update_time=now,
    ).returning(RetentionPolicy.id)
    return int((await conn.execute(stmt)).scalar_one())


async def update_retention_policy(conn: Conn, policy_id: int, algorithm: str, trigger: dict[str, Any]) -> None:
    await conn.execute(update(RetentionPolicy).where(RetentionPolicy.id == policy_id)
                       .values(algorithm=algorithm, trigger=trigger, update_time=utcnow()))


async def create_retention_rules(conn: Conn, policy_id: int, rules: list[dict[str, Any]]) -> None:
    """Store ``rules`` (in order) as the policy's rules, replacing any it had."""
    await conn.execute(delete(RetentionRule).where(RetentionRule.policy_id == policy_id))
    if rules:
        await conn.execute(insert_for(conn, RetentionRule),
                           [{"policy_id": policy_id, "position": i, **r} for i, r in enumerate(rules)])


async def delete_retention_policy(conn: Conn, policy_id: int) -> bool:
    await conn.execute(delete(RetentionRule).where(RetentionRule.policy_id == policy_id))
    return bool((await conn.execute(delete(RetentionPolicy).where(RetentionPolicy.id == policy_id))).rowcount)


# What a retention run reads -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CandidateTag:
    name: str
    push_time: datetime
    pull_time: datetime | None


@dataclass(frozen=True, slots=True)
class CandidateRow:
    """A top-level artifact of a repository with all its tags."""

    id: int
    digest: str
    media_type: str
    push_time: datetime
    pull_time: datetime | None
    tags: tuple[CandidateTag, ...]


async def list_project_repositories(conn: Conn, project_id: int) -> list[tuple[int, str]]:
    """(id, full name) of every repository of the project, by name."""
    stmt = select(Repository.id, Repository.name).where(Repository.project_id == project_id).order_by(Repository.name)
    return [(int(r[0]), str(r[1])) for r in await conn.execute(stmt)]


def _top_level() -> Any:
    """Neither an index's child nor an accessory (they follow their parent or subject)."""
    parent = aliased(Artifact)
    referenced = exists(
        select(ArtifactReference.id)
        .join(parent, parent.id == ArtifactReference.parent_id)
        .where(parent.repository_id == Artifact.repository_id, ArtifactReference.child_digest == Artifact.digest)
    )
    return and_(Artifact.subject_digest.is_(None), ~referenced)


async def list_retention_candidates(conn: Conn, repository_id: int) -> list[CandidateRow]:
    """Every top-level artifact of the repository with its tags (newest push first)."""
    stmt = (select(Artifact.id, Artifact.digest, Artifact.media_type, Artifact.push_time, Artifact.pull_time)
            .where(Artifact.repository_id == repository_id, _top_level())
            .order_by(Artifact.push_time.desc(), Artifact.id.desc()))
    artifacts = (await conn.execute(stmt)).all()
    tags: dict[int, list[CandidateTag]] = {}
    tag_stmt = (select(Tag.artifact_id, Tag.name, Tag.push_time, Tag.pull_time)
                .where(Tag.repository_id == repository_id).order_by(Tag.name))
    for r in await conn.execute(tag_stmt):
        tags.setdefault(int(r[0]), []).append(CandidateTag(str(r[1]), r[2], r[3]))
    return [CandidateRow(int(a[0]), str(a[1]), str(a[2]), a[3], a[4], tuple(tags.get(int(a[0]), ())))
            for a in artifacts]


async def list_repository_tag_names(conn: Conn, repository_id: int) -> list[str]:
    stmt = select(Tag.name).where(Tag.repository_id == repository_id).order_by(Tag.name)
    return [str(n) for n in (await conn.execute(stmt)).scalars()]


async def list_artifact_tag_names(conn: Conn, artifact_id: int) -> list[str]:
    stmt = select(Tag.name).where(Tag.artifact_id == artifact_id).order_by(Tag.name)
    return [str(n) for n in (await conn.execute(stmt)).scalars()]


async def lock_execution(conn: Conn, execution_id: int) -> bool:
    """Hold a run's execution row for the rest of the write transaction (its tasks finish one
    after the other through it); False if it does not exist."""
    stmt = select(Execution.id).where(Execution.id == execution_id).with_for_update()
    return (await conn.execute(stmt)).first() is not None


async def count_retention_tasks(conn: Conn, execution_id: int, job: str) -> int:
    """How many tasks of job ``job`` (the per-repository ones) a retention run has."""
    stmt = select(func.count()).select_from(Task).where(Task.execution_id == execution_id, Task.job == job)
    return int((await conn.execute(stmt)).scalar_one())


async def list_retention_tasks(conn: Conn, execution_id: int, job: str, offset: int, limit: int) -> list[Task]:
    """One page of a retention run's tasks of job ``job``, in creation order."""
    stmt = (select(Task.__table__).where(Task.execution_id == execution_id, Task.job == job)
            .order_by(Task.id).offset(offset).limit(limit))
    return [Task(**row._mapping) for row in await conn.execute(stmt)]


async def list_retention_task_states(conn: Conn, execution_id: int, job: str) -> list[dict[str, Any]]:
    """The saved state of every task of job ``job`` of a run (their totals make the run's)."""
    stmt = select(Task.state).where(Task.execution_id == execution_id, Task.job == job)
    return [dict(state or {}) for state in (await conn.execute(stmt)).scalars()]
