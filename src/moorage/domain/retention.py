"""Tag retention policies (one per project, Harbor's ``/retentions`` shape; the project's
``retention_id`` metadata names it) and their runs: an execution (vendor RETENTION) whose
planner task spawns one task per repository in scope.  Each repository task judges its
artifacts (``retention_rules``), deletes the rest through the API's deletion path (quotas,
audit and DELETE_ARTIFACT events apply) unless it is a dry run, and logs the table.  The last
task of a real run to finish emits one TAG_RETENTION event for the whole run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from moorage.auth.rbac import ProjectRef
from moorage.core.errors import BadRequest, Conflict, MoorageError, NotFound
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.domain.audit import Actor, AuditEntry, AuditService
from moorage.domain.events import TAG_RETENTION, EventLog
from moorage.domain.executions import (
    ERROR,
    MANUAL,
    RETENTION,
    STOPPED,
    SUCCESS,
    ExecutionRecord,
    ExecutionService,
    TaskRecord,
    TaskSpec,
    task_record,
)
from moorage.domain.immutability import ImmutabilityService
from moorage.domain.repositories import RepositoryService
from moorage.domain.retention_rules import DELETE, FAILED, Candidate, Decision, Rule, evaluate, parse_rule
from moorage.domain.schedules import ScheduleService, cron_for
from moorage.domain.selectors import repository_path
from moorage.metadata.queries import jobs as jq
from moorage.metadata.queries import policies as q
from moorage.metadata.queries import projects as pq
from moorage.metadata.queries.policies import RetentionPolicyRow

log = structlog.get_logger(__name__)
ALGORITHM = "or"
MAX_RULES = 15  # Harbor's limit
KEEP_EXECUTIONS = 50  # runs kept per policy, as Harbor
TRIGGER_KIND = "Schedule"
PLAN_JOB = "RETENTION"  # the planner (also what the schedule submits)
REPOSITORY_JOB = "RETENTION_REPOSITORY"
FINAL = frozenset({SUCCESS, ERROR, STOPPED})


@dataclass(frozen=True, slots=True)
class Policy:
    id: int
    project_id: int
    rules: tuple[Rule, ...]
    cron: str
    algorithm: str = ALGORITHM

    @classmethod
    def from_row(cls, row: RetentionPolicyRow) -> Policy:
        cron = str((row.trigger.get("settings") or {}).get("cron") or "")
        return cls(row.id, row.project_id, tuple(Rule.from_row(r) for r in row.rules), cron, row.algorithm)

    def to_json(self) -> dict[str, Any]:
        """Harbor's RetentionPolicy."""
        return {"id": self.id, "algorithm": self.algorithm, "rules": [r.to_json() for r in self.rules],
                "trigger": {"kind": TRIGGER_KIND, "settings": {"cron": self.cron}, "references": {}},
                "scope": {"level": "project", "ref": self.project_id}}

    def covers(self, repository: str) -> bool:
        path = repository_path(repository)
        return any(r.applies_to(path) for r in self.rules)


@dataclass(frozen=True, slots=True)
class RepositoryPlan:
    """One repository's decisions (empty when no rule covers it any more)."""

    policy_id: int
    repository: str
    decisions: list[Decision]
    rules: list[str]  # what each rule covering the repository retains


@dataclass(frozen=True, slots=True)
class RunTotals:
    """What a run's repository tasks judged so far: artifacts in all, and how many were kept."""

    judged: int
    retained: int


@dataclass(frozen=True, slots=True)
class PlanResult:
    repositories: int
    stopped: bool = False
    policy_gone: bool = False


def parse_policy(body: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """Validate a RetentionPolicy: (project id of its scope, rule values, trigger)."""
    algorithm = body.get("algorithm") or ALGORITHM
    if algorithm != ALGORITHM:
        raise BadRequest(f"retention policy: algorithm must be {ALGORITHM!r}, not {algorithm!r}")
    scope = body.get("scope") or {}
    if scope.get("level") != "project" or not isinstance(scope.get("ref"), int) or scope["ref"] <= 0:
        raise BadRequest("retention policy: scope must be {\"level\": \"project\", \"ref\": <project id>}")
    rules = body.get("rules") or []
    if len(rules) > MAX_RULES:
        raise BadRequest(f"retention policy: at most {MAX_RULES} rules, not {len(rules)}")
    values = [parse_rule(r, f"rule {i + 1}") for i, r in enumerate(rules)]
    for i, v in enumerate(values):
        for j in range(i):
            if {k: x for k, x in v.items() if k != "priority"} == {k: x for k, x in values[j].items()
                                                                    if k != "priority"}:
                raise Conflict(f"retention policy: rule {i + 1} is the same as rule {j + 1}")
    trigger = body.get("trigger") or {"kind": TRIGGER_KIND, "settings": {}}
    if trigger.get("kind", TRIGGER_KIND) != TRIGGER_KIND:
        raise BadRequest(f"retention policy: trigger kind must be {TRIGGER_KIND!r}")
    cron = str((trigger.get("settings") or {}).get("cron") or "").strip()
    if cron:
        cron_for("Custom", cron)  # BadRequest for an invalid one
    return int(scope["ref"]), values, {"kind": TRIGGER_KIND, "settings": {"cron": cron}}


class RetentionService:
    def __init__(self, db: Database, audit: AuditService, events: EventLog, executions: ExecutionService,
                 schedules: ScheduleService, repositories: RepositoryService,
                 immutability: ImmutabilityService) -> None:
        self.db = db
        self.audit = audit
        self.events = events
        self.executions = executions
        self.schedules = schedules
        self.repositories = repositories
        self.immutability = immutability

    # Policies ----------------------------------------------------------------------------------

    async def get(self, policy_id: int) -> Policy:
        async with self.db.read() as conn:
            return Policy.from_row(await q.get_retention_policy(conn, policy_id))

    async def create(self, project: ProjectRef, body: Mapping[str, Any], actor: Actor) -> int:
        """BadRequest when the project already has a policy (update that one instead)."""
        _, rules, trigger = parse_policy(body)
        async with self.db.write() as uow:
            if not await pq.lock_project(uow.conn, project.id):
                raise NotFound(f"project {project.name} not found")
            existing = await q.find_project_retention_policy(uow.conn, project.id)
            if existing is not None:
                raise BadRequest(f"project {project.name} already has retention policy {existing.id}: update it")
            policy_id = await q.create_retention_policy(uow.conn, project.id, ALGORITHM, trigger)
            await q.create_retention_rules(uow.conn, policy_id, rules)
            await pq.set_metadata(uow.conn, project.id, {"retention_id": str(policy_id)})
            await self.audit.record(uow.conn, actor, AuditEntry(
                "create", "tag_retention", f"{project.name}/{policy_id}", project.id,
                f"created retention policy {policy_id} with {len(rules)} rule(s)"))
        await self._schedule(policy_id, project.id, trigger)
        return policy_id

    async def update(self, policy_id: int, project: ProjectRef, body: Mapping[str, Any], actor: Actor) -> None:
        ref, rules, trigger = parse_policy({**body, "scope": body.get("scope") or {"level": "project",
                                                                                    "ref": project.id}})
        if ref != project.id:
            raise BadRequest("retention policy: the scope of a policy cannot change")
        async with self.db.write() as uow:
            await q.get_retention_policy(uow.conn, policy_id, lock=True)
            await q.update_retention_policy(uow.conn, policy_id, ALGORITHM, trigger)
            await q.create_retention_rules(uow.conn, policy_id, rules)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "tag_retention", f"{project.name}/{policy_id}", project.id,
                f"updated retention policy {policy_id}: {len(rules)} rule(s)"))
        await self._schedule(policy_id, project.id, trigger)

    async def delete(self, policy_id: int, project: ProjectRef, actor: Actor) -> None:
        async with self.db.write() as uow:
            await q.get_retention_policy(uow.conn, policy_id, lock=True)
            await q.delete_retention_policy(uow.conn, policy_id)
            stored = (await pq.list_metadata(uow.conn, [project.id]))[project.id]
            if stored.get("retention_id") == str(policy_id):
                await pq.delete_metadata(uow.conn, project.id, "retention_id")
            await self.audit.record(uow.conn, actor, AuditEntry(
                "delete", "tag_retention", f"{project.name}/{policy_id}", project.id,
                f"deleted retention policy {policy_id}"))
        await self.schedules.delete(RETENTION, policy_id)

    async def _schedule(self, policy_id: int, project_id: int, trigger: dict[str, Any]) -> None:
        cron = trigger["settings"]["cron"]
        params = {"policy_id": policy_id, "project_id": project_id, "dry_run": False, "operator": "schedule"}
        await self.schedules.set(RETENTION, policy_id, "Custom" if cron else "None", cron, PLAN_JOB, params)

    # Runs --------------------------------------------------------------------------------------

    async def trigger(self, policy: Policy, dry_run: bool, operator: str) -> int:
        """Start a run (Conflict while another run of the policy is unfinished); its execution id."""
        params = {"policy_id": policy.id, "project_id": policy.project_id, "dry_run": dry_run, "operator": operator}
        return await self.executions.start(RETENTION, policy.id, MANUAL, [TaskSpec(PLAN_JOB, params)],
                                           extra_attrs=dict(params), exclusive=True)

    async def execution(self, policy_id: int, execution_id: int) -> ExecutionRecord:
        found = await self.executions.get(execution_id, RETENTION)
        if found.vendor_id != policy_id:
            raise NotFound(f"execution {execution_id} of retention policy {policy_id} not found")
        return found

    async def repository_tasks(self, policy_id: int, execution_id: int) -> list[TaskRecord]:
        """The per-repository tasks of a run (the planner is not one)."""
        await self.execution(policy_id, execution_id)
        return [t for t in await self.executions.tasks(execution_id) if t.job == REPOSITORY_JOB]

    async def repository_tasks_page(self, policy_id: int, execution_id: int, offset: int, limit: int
                                    ) -> tuple[list[TaskRecord], int, RunTotals]:
        """One page of a run's per-repository tasks, how many there are, and what the run has
        judged so far over all of them (NotFound unless the run is the policy's)."""
        await self.execution(policy_id, execution_id)
        async with self.db.read() as conn:
            total = await q.count_retention_tasks(conn, execution_id, REPOSITORY_JOB)
            rows = await q.list_retention_tasks(conn, execution_id, REPOSITORY_JOB, offset, limit) \
                if total > offset else []
            states = await q.list_retention_task_states(conn, execution_id, REPOSITORY_JOB)
        totals = RunTotals(sum(int(s.get("total", 0)) for s in states), sum(int(s.get("retained", 0)) for s in states))
        return [task_record(r) for r in rows], total, totals

    async def task_log(self, policy_id: int, execution_id: int, task_id: int) -> str:
        await self.execution(policy_id, execution_id)
        task = await self.executions.task(task_id)
        if task.execution_id != execution_id:
            raise NotFound(f"task {task_id} of execution {execution_id} not found")
        return await self.executions.log(task_id)

    # What the jobs call ------------------------------------------------------------------------

    async def plan(self, policy_id: int, params: dict[str, Any], execution_id: int, task_id: int) -> PlanResult:
        """Spawn one task per repository some enabled rule covers, and mark the planner done, in
        one transaction; nothing once the run was asked to stop or the policy is gone."""
        async with self.db.write() as uow:
            # The planner's row first, the execution's (the tasks' foreign key) after: the order
            # a stop request takes them in, so the two wait for each other instead of deadlocking.
            await jq.save_task_state(uow.conn, task_id, {"done": True, "repositories": 0})
            if (await jq.get_task(uow.conn, task_id)).stop_requested:
                return PlanResult(0, stopped=True)
            row = await q.find_retention_policy(uow.conn, policy_id)
            if row is None:
                return PlanResult(0, policy_gone=True)
            policy = Policy.from_row(row)
            repositories = [(i, n) for i, n in await q.list_project_repositories(uow.conn, policy.project_id)
                            if policy.covers(n)]
            specs = [TaskSpec(REPOSITORY_JOB, {**params, "repository_id": i, "repository": n})
                     for i, n in repositories]
            await self.executions.spawn(uow, execution_id, specs)
            await jq.save_task_state(uow.conn, task_id, {"done": True, "repositories": len(specs)})
        async with self.db.read() as conn:
            stopped = (await jq.get_task(conn, task_id)).stop_requested
        if stopped:  # a stop committed while the tasks were being spawned: stop them too
            await self.executions.stop(execution_id)
        await self.executions.delete_old(RETENTION, policy_id, KEEP_EXECUTIONS)
        return PlanResult(len(specs), stopped=stopped)

    async def stop_requested(self, execution_id: int) -> bool:
        return await self.executions.stop_requested(execution_id)

    async def plan_repository(self, policy_id: int, repository: str) -> RepositoryPlan | None:
        """The decisions for one repository now; None if the policy or the repository is gone."""
        async with self.db.read() as conn:
            row = await q.find_retention_policy(conn, policy_id)
            repo_id = await pq.find_repository_id(conn, repository)
            if row is None or repo_id is None:
                return None
            policy = Policy.from_row(row)
            candidates = [Candidate.from_row(c) for c in await q.list_retention_candidates(conn, repo_id)]
            immutable = await self.immutability.immutable_tags(
                conn, policy.project_id, repository, [t for c in candidates for t in c.tags])
        path = repository_path(repository)
        decisions = evaluate(policy.rules, path, candidates, immutable, utcnow())
        return RepositoryPlan(policy_id, repository, decisions,
                              [r.describe() for r in policy.rules if r.applies_to(path)])

    async def delete_candidate(self, repository: str, decision: Decision, operator: str) -> Decision:
        """Delete a DEL candidate (only if its tags are still the judged ones); the outcome."""
        c = decision.candidate
        try:
            await self.repositories.delete_artifact(repository, c.digest, Actor(operator),
                                                    expect_tags=frozenset(c.tags))
        except MoorageError as exc:
            log.info("retention_delete_skipped", repository=repository, digest=c.digest, reason=exc.message)
            return Decision(c, FAILED, exc.message)
        return decision

    async def finish(self, execution_id: int) -> bool:
        """Emit the run's TAG_RETENTION event if every task has done its work and it was not a
        dry run (once: tasks finishing together are serialised on the execution row)."""
        async with self.db.write() as uow:
            if not await q.lock_execution(uow.conn, execution_id):
                return False
            execution = await jq.get_execution(uow.conn, execution_id)
            extra = dict(execution.extra_attrs or {})
            if extra.get("dry_run") or extra.get("event_emitted"):
                return False
            tasks = await jq.list_tasks(uow.conn, execution_id)
            if not all(t.status in FINAL or (t.state or {}).get("done") for t in tasks):
                return False
            states = [dict(t.state or {}) for t in tasks if t.job == REPOSITORY_JOB]
            status = ("ERROR" if any(t.status == ERROR for t in tasks) else "STOPPED"
                      if any(t.status == STOPPED or (t.state or {}).get("stopped") for t in tasks) else "SUCCESS")
            data = {"execution_id": execution_id, "policy_id": execution.vendor_id, "status": status,
                    "total": sum(int(s.get("total", 0)) for s in states),
                    "retained": sum(int(s.get("retained", 0)) for s in states),
                    "deleted": [d for s in states for d in s.get("deleted", [])]}
            await jq.update_execution_extra(uow.conn, execution_id, {"event_emitted": True})
            await self.events.emit_in(uow, TAG_RETENTION, extra.get("project_id"),
                                      str(extra.get("operator") or ""), data)
        return True


def deletion_record(repository: str, decision: Decision) -> dict[str, Any]:
    return {"repository": repository, "digest": decision.candidate.digest, "tags": list(decision.candidate.tags)}


def summary(decisions: list[Decision]) -> tuple[int, int, list[Decision]]:
    """(total, retained, deleted) of a repository's outcome."""
    deleted = [d for d in decisions if d.action == DELETE]
    return len(decisions), len(decisions) - len(deleted), deleted
