"""Replication policies, their executions and triggers.  A run is an execution (vendor
REPLICATION) whose planner task lists the source side's artifacts, applies the policy's
filters and namespace rule, and spawns one copy task per artifact; a pushed or deleted local
artifact (event-based policies) gets an execution with one copy or deletion task directly.
Failed tasks can be re-run on their own (a new execution holding copies of them), which
Harbor cannot do; a copy resumes a partly copied blob from the task's checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson
import structlog

from moorage.config.settings import ReplicationSettings
from moorage.core.errors import BadRequest, Conflict, MoorageError, NotFound, PreconditionFailed
from moorage.db.engine import Database, UnitOfWork
from moorage.domain.audit import Actor, AuditEntry, AuditService
from moorage.domain.copier import ArtifactCopier, SourceArtifact
from moorage.domain.events import DELETE_ARTIFACT, PUSH_ARTIFACT, REPLICATION, EventLog, EventRecord
from moorage.domain.executions import (
    ERROR,
    EVENT,
    MANUAL,
    PENDING,
    RUNNING,
    STOPPED,
    SUCCESS,
    ExecutionRecord,
    ExecutionService,
    TaskRecord,
    TaskSpec,
    task_record,
)
from moorage.domain.registries import RegistryService
from moorage.domain.remote import Endpoint, RemoteRegistry
from moorage.domain.replication_rules import (
    FILTER_RESOURCE,
    FILTER_TAG,
    RESOURCE_ARTIFACT,
    RESOURCE_IMAGE,
    TRIGGER_EVENT,
    TRIGGER_SCHEDULED,
    Candidate,
    Filters,
    destination_repository,
    is_image,
    parse_filters,
    parse_policy,
    replication_event_data,
)
from moorage.domain.schedules import ScheduleService
from moorage.metadata.models.replication import ReplicationPolicy
from moorage.metadata.queries import jobs as jq
from moorage.metadata.queries import projects as pq
from moorage.metadata.queries import replication as q
from moorage.oci import mediatypes as mt

log = structlog.get_logger(__name__)
VENDOR = "REPLICATION"
PLAN_JOB = "REPLICATION"  # the planner (also what the schedule submits)
COPY_JOB = "REPLICATION_COPY"
DELETE_JOB = "REPLICATION_DELETE"
ARTIFACT_JOBS = (COPY_JOB, DELETE_JOB)
FAILED = frozenset({ERROR, STOPPED})
FINAL = frozenset({SUCCESS, ERROR, STOPPED})


@dataclass(frozen=True, slots=True)
class ExecutionView:
    """An execution with the counts of its artifact tasks (the planner is not one)."""

    record: ExecutionRecord
    counts: dict[str, int]
    status_text: str


@dataclass(frozen=True, slots=True)
class PlanResult:
    tasks: int
    listed: int = 0
    stopped: bool = False
    policy_gone: bool = False
    disabled: bool = False


def policy_filters(policy: ReplicationPolicy) -> Filters:
    return parse_filters(list(policy.filters or []))


def is_push(policy: ReplicationPolicy) -> bool:
    return policy.dest_registry_id is not None


class ReplicationService:
    def __init__(self, db: Database, registries: RegistryService, executions: ExecutionService,
                 schedules: ScheduleService, events: EventLog, audit: AuditService, copier: ArtifactCopier,
                 settings: ReplicationSettings) -> None:
        self.db = db
        self.registries = registries
        self.executions = executions
        self.schedules = schedules
        self.events = events
        self.audit = audit
        self.copier = copier
        self.settings = settings

    # Policies ----------------------------------------------------------------------------------

    async def get(self, policy_id: int) -> ReplicationPolicy:
        async with self.db.read() as conn:
            return await q.get_policy(conn, policy_id)

    async def page(self, name: str | None, fuzzy: bool, offset: int, limit: int
                   ) -> tuple[list[ReplicationPolicy], int]:
        async with self.db.read() as conn:
            return (await q.list_policies(conn, name, fuzzy, offset, limit),
                    await q.count_policies(conn, name, fuzzy))

    async def _validated(self, uow: UnitOfWork, body: Mapping[str, Any], policy_id: int | None) -> dict[str, Any]:
        policy = parse_policy(body)
        registry_id = policy.src_registry_id or policy.dest_registry_id
        assert registry_id is not None
        if not await q.list_registries(uow.conn, [registry_id]):
            raise BadRequest(f"registry {registry_id} not found")
        other = await q.find_policy_id_by_name(uow.conn, policy.name)
        if other is not None and other != policy_id:
            raise Conflict(f"a replication policy named {policy.name!r} already exists")
        return policy.values()

    async def create(self, body: Mapping[str, Any], actor: Actor) -> int:
        async with self.db.write() as uow:
            values = await self._validated(uow, body, None)
            policy_id = await q.create_policy(uow.conn, values, actor.username)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "create", "replication_policy", values["name"], None, f"created replication policy {policy_id}"))
        await self._schedule(policy_id, values)
        return policy_id

    async def update(self, policy_id: int, body: Mapping[str, Any], actor: Actor) -> None:
        async with self.db.write() as uow:
            await q.get_policy(uow.conn, policy_id, lock=True)
            values = await self._validated(uow, body, policy_id)
            await q.update_policy(uow.conn, policy_id, values)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "replication_policy", values["name"], None, f"updated replication policy {policy_id}"))
        await self._schedule(policy_id, values)

    async def delete(self, policy_id: int, actor: Actor) -> None:
        """PreconditionFailed while a run of the policy is unfinished; its runs go with it."""
        async with self.db.write() as uow:
            policy = await q.get_policy(uow.conn, policy_id, lock=True)
            if await q.count_unfinished_executions(uow.conn, VENDOR, policy_id):
                raise PreconditionFailed(f"replication policy {policy_id} has a running execution: stop it first")
            await q.delete_policy(uow.conn, policy_id)
            await jq.delete_old_executions(uow.conn, VENDOR, policy_id, 0)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "delete", "replication_policy", policy.name, None, f"deleted replication policy {policy_id}"))
        await self.schedules.delete(VENDOR, policy_id)

    async def _schedule(self, policy_id: int, values: Mapping[str, Any]) -> None:
        trigger = values["trigger"]
        if values["enabled"] and trigger["type"] == TRIGGER_SCHEDULED:
            await self.schedules.set(VENDOR, policy_id, "Custom", trigger["trigger_settings"]["cron"], PLAN_JOB,
                                     {"policy_id": policy_id})
        else:
            await self.schedules.delete(VENDOR, policy_id)

    # Executions --------------------------------------------------------------------------------

    async def start(self, policy_id: int, operator: str) -> int:
        """A manual run: BadRequest when the policy is disabled; Conflict while another run is
        active and the policy has ``single_active_replication``."""
        policy = await self.get(policy_id)
        if not policy.enabled:
            raise BadRequest(f"replication policy {policy_id} is disabled")
        params = {"policy_id": policy_id}
        try:
            return await self.executions.start(VENDOR, policy_id, MANUAL, [TaskSpec(PLAN_JOB, params)],
                                               extra_attrs={**params, "operator": operator},
                                               exclusive=policy.single_active_replication)
        except Conflict:
            raise Conflict(f"replication policy {policy_id} allows one active execution and one is running"
                           ) from None

    async def execution(self, execution_id: int) -> ExecutionRecord:
        return await self.executions.get(execution_id, VENDOR)

    async def view(self, execution_id: int) -> ExecutionView:
        return (await self._views([await self.execution(execution_id)]))[0]

    async def page_executions(self, policy_id: int | None, statuses: list[str] | None, trigger: str | None,
                              offset: int, limit: int) -> tuple[list[ExecutionView], int]:
        async with self.db.read() as conn:
            total = await q.count_executions(conn, VENDOR, policy_id, statuses, trigger)
            ids = await q.list_execution_ids(conn, VENDOR, policy_id, statuses, trigger, offset, limit)
        records = [await self.executions.get(i) for i in ids]
        return await self._views(records), total

    async def _views(self, records: list[ExecutionRecord]) -> list[ExecutionView]:
        async with self.db.read() as conn:
            counts = await q.list_task_counts(conn, [r.id for r in records], ARTIFACT_JOBS)
            failed_plans = {r.id: t.status_message for r in records if r.status == ERROR
                            for t in await jq.list_tasks(conn, r.id) if t.job == PLAN_JOB and t.status == ERROR}
        views = []
        for r in records:
            c = counts.get(r.id, {})
            text = r.status_message
            if r.id in failed_plans:
                text = f"listing the source failed: {failed_plans[r.id]}"
            elif r.status == ERROR:
                text = f"{c.get(ERROR, 0)} of {sum(c.values())} task(s) failed"
            views.append(ExecutionView(r, c, text))
        return views

    async def stop(self, execution_id: int) -> None:
        await self.execution(execution_id)
        await self.executions.stop(execution_id)

    async def retry(self, execution_id: int, operator: str) -> int:
        """A new execution holding copies of the finished execution's failed (Error or Stopped)
        tasks (a partly copied blob resumes where it stopped); Conflict while it is unfinished,
        422 when nothing failed."""
        old = await self.execution(execution_id)
        if old.status in (PENDING, RUNNING):
            raise Conflict(f"execution {execution_id} is still running: stop it or wait for it to finish")
        failed = [t for t in await self.executions.tasks(execution_id) if t.status in FAILED]
        if not failed:
            raise MoorageError(f"execution {execution_id} has no failed task to retry", code="UNPROCESSABLE_ENTITY")
        policy = await self.get(old.vendor_id)
        try:
            return await self.executions.start(
                VENDOR, policy.id, MANUAL, [TaskSpec(t.job, _retried(t)) for t in failed],
                extra_attrs={"policy_id": policy.id, "operator": operator, "retry_of": execution_id},
                exclusive=policy.single_active_replication)
        except Conflict:
            raise Conflict(f"replication policy {policy.id} allows one active execution and one is running"
                           ) from None

    async def tasks(self, execution_id: int, statuses: list[str] | None, resource_type: str | None
                    ) -> list[TaskRecord]:
        """The artifact tasks of a run (the planner is not one), oldest first."""
        await self.execution(execution_id)
        return [t for t in await self.executions.tasks(execution_id)
                if t.job in ARTIFACT_JOBS and (statuses is None or t.status in statuses)
                and (resource_type is None or t.params.get("resource_type") == resource_type)]

    async def page_tasks(self, execution_id: int, statuses: list[str] | None, offset: int, limit: int
                         ) -> tuple[list[TaskRecord], int]:
        """A page of the artifact tasks of a run (oldest first) and how many there are, read
        with offset/limit (a run may hold thousands; the portal polls this every 2 s)."""
        await self.execution(execution_id)
        async with self.db.read() as conn:
            total = await q.count_artifact_tasks(conn, execution_id, ARTIFACT_JOBS, statuses)
            rows = await q.list_artifact_tasks(conn, execution_id, ARTIFACT_JOBS, statuses, offset, limit
                                               ) if total > offset else []
        return [task_record(r) for r in rows], total

    async def task_log(self, execution_id: int, task_id: int) -> str:
        await self.execution(execution_id)
        task = await self.executions.task(task_id)
        if task.execution_id != execution_id:
            raise NotFound(f"task {task_id} of execution {execution_id} not found")
        return await self.executions.log(task_id)

    # What the jobs call ------------------------------------------------------------------------

    def client(self, endpoint: Endpoint, policy: Mapping[str, Any]) -> RemoteRegistry:
        speed = int(policy.get("speed") or 0)
        return self.registries.client(endpoint, speed_kib=max(speed, 0),
                                      rate_limit_wait=self.settings.rate_limit_wait_seconds)

    async def plan(self, policy_id: int, execution_id: int, task_id: int) -> PlanResult:
        """List the source, judge every artifact, and spawn one copy task per selected artifact
        (marking the planner done in the same transaction); nothing once the run was asked to
        stop, the policy is gone or disabled."""
        async with self.db.read() as conn:
            policy = await q.find_policy(conn, policy_id)
        if policy is None:
            return PlanResult(0, policy_gone=True)
        if not policy.enabled:
            return PlanResult(0, disabled=True)
        filters = policy_filters(policy)
        snapshot = _snapshot(policy)
        candidates = await self._source_artifacts(policy, filters)
        specs = []
        for c, digest in candidates:
            tags = filters.select(c)
            if tags is None:
                continue
            dst = destination_repository(c.repository, policy.dest_namespace, policy.dest_namespace_replace_count)
            specs.append(TaskSpec(COPY_JOB, {
                **snapshot, "operation": "copy", "src_repo": c.repository, "dst_repo": dst, "digest": digest,
                "tags": tags, "resource_type": RESOURCE_IMAGE if is_image(c.media_type, c.artifact_type)
                else RESOURCE_ARTIFACT}))
        async with self.db.write() as uow:
            # The planner's row first, the execution's after: the order a stop request takes them in.
            await jq.save_task_state(uow.conn, task_id, {"done": True, "tasks": 0})
            if (await jq.get_task(uow.conn, task_id)).stop_requested:
                return PlanResult(0, len(candidates), stopped=True)
            await self.executions.spawn(uow, execution_id, specs)
            await jq.save_task_state(uow.conn, task_id, {"done": True, "tasks": len(specs)})
        async with self.db.read() as conn:
            stopped = (await jq.get_task(conn, task_id)).stop_requested
        if stopped:  # a stop committed while the tasks were being spawned: stop them too
            await self.executions.stop(execution_id)
        await self.executions.delete_old(VENDOR, policy_id, self.settings.execution_retention)
        return PlanResult(len(specs), len(candidates), stopped=stopped)

    async def _source_artifacts(self, policy: ReplicationPolicy, filters: Filters
                                ) -> list[tuple[Candidate, str]]:
        """Every artifact of the source side in a repository the name filter keeps."""
        if policy.src_registry_id is None:
            async with self.db.read() as conn:
                names = [n for n in await q.list_repository_names(conn) if filters.select_repository(n)]
            found = await self.copier.list_artifacts(self.copier.local(), names) if names else []
        else:
            endpoint = await self.registries.endpoint(policy.src_registry_id)
            async with self.client(endpoint, {"speed": policy.speed}) as client:
                names = [n for n in await client.catalog() if filters.select_repository(n)]
                found = await self.copier.list_artifacts(self.copier.remote(client), names) if names else []
                if filters.has(FILTER_RESOURCE):  # a remote listing has no config media types: read them
                    found = [await _with_config_type(client, a) for a in found]
        return [(Candidate(a.repository, tuple(a.tags), tuple(a.labels), a.media_type, a.artifact_type), a.digest)
                for a in found]

    async def stop_requested(self, execution_id: int) -> bool:
        return await self.executions.stop_requested(execution_id)

    async def finish(self, execution_id: int, task_id: int, outcome: str) -> int:
        """Once every task of the run is over (this one ending with ``outcome``), emit one
        REPLICATION event per local project the run touched (webhooks); once per run, however
        many tasks end together (they are serialised on the execution row).  How many were emitted."""
        async with self.db.read() as conn:  # the cheap answer for all but the last few tasks of a big run
            if await q.count_pending_tasks(conn, execution_id, task_id):
                return 0
        async with self.db.write() as uow:
            if not await q.lock_execution(uow.conn, execution_id):
                return 0
            execution = await jq.get_execution(uow.conn, execution_id)
            extra = dict(execution.extra_attrs or {})
            tasks = await jq.list_tasks(uow.conn, execution_id)
            if extra.get("event_emitted") or not all(
                    t.id == task_id or t.status in FINAL or (t.state or {}).get("done") for t in tasks):
                return 0
            policy = await q.find_policy(uow.conn, execution.vendor_id)
            if policy is None:
                return 0
            outcomes = {t.id: outcome if t.id == task_id else SUCCESS if t.status not in FINAL else t.status
                        for t in tasks}
            work = [t for t in tasks if t.job in ARTIFACT_JOBS]
            registry = (await q.list_registries(uow.conn, [policy.src_registry_id or policy.dest_registry_id or 0])
                        ).get(policy.src_registry_id or policy.dest_registry_id or 0)
            by_project: dict[str, list[Any]] = {}
            for t in work:
                local = str(t.params.get("src_repo" if is_push(policy) else "dst_repo") or "")
                by_project.setdefault(local.split("/", 1)[0], []).append(t)
            status = ("Failed" if ERROR in outcomes.values() else "Stopped" if STOPPED in outcomes.values()
                      else "Success")
            await jq.update_execution_extra(uow.conn, execution_id, {"event_emitted": True})
            emitted = 0
            for project, project_tasks in sorted(by_project.items()):
                ref = await pq.find_project_ref(uow.conn, name=project)
                if ref is None:
                    continue
                data = replication_event_data(policy, execution.trigger, execution.start_time.timestamp(), status,
                                         registry, project, [(t.params, outcomes[t.id]) for t in project_tasks])
                await self.events.emit_in(uow, REPLICATION, ref[0], str(extra.get("operator") or policy.creator),
                                          {"replication": data, "execution_id": execution_id})
                emitted += 1
        return emitted

    # Events ------------------------------------------------------------------------------------

    async def on_event(self, uow: UnitOfWork, event: EventRecord) -> None:
        """PUSH_ARTIFACT: replicate the artifact for each enabled event-based push policy whose
        filters select it; DELETE_ARTIFACT: delete it at the destination for those that also
        replicate deletions.  Runs inside the transaction that consumes the event."""
        if event.event_type not in (PUSH_ARTIFACT, DELETE_ARTIFACT):
            return
        repository, digest = str(event.data.get("repository") or ""), str(event.data.get("digest") or "")
        if not repository or not digest.startswith("sha256:"):
            return
        policies = [p for p in await q.list_enabled_policies(uow.conn)
                    if is_push(p) and (p.trigger or {}).get("type") == TRIGGER_EVENT]
        if event.event_type == DELETE_ARTIFACT:
            policies = [p for p in policies if p.replicate_deletion]
        if not policies:
            return
        candidate, subject = await self._event_candidate(uow, event, repository)
        if event.event_type == PUSH_ARTIFACT and not candidate.tags and subject is None:
            # An untagged manifest that refers to nothing: an index's child pushed before the
            # index (it travels with it) or an image pushed by digest (a manual run copies it).
            return
        for policy in policies:
            spec = self._event_task(policy, event, candidate, digest, referrer=subject is not None)
            if spec is None:
                continue
            if policy.single_active_replication and await q.count_unfinished_executions(uow.conn, VENDOR, policy.id):
                log.info("replication_skipped_active", policy_id=policy.id, repository=repository, digest=digest)
                continue
            await self.executions.submit(uow, VENDOR, policy.id, EVENT, [spec], extra_attrs={
                "policy_id": policy.id, "operator": event.operator, "event_type": event.event_type})
            await jq.delete_old_executions(uow.conn, VENDOR, policy.id, self.settings.execution_retention)
            log.info("replication_event_submitted", policy_id=policy.id, repository=repository, digest=digest,
                     event=event.event_type)

    async def _event_candidate(self, uow: UnitOfWork, event: EventRecord, repository: str
                               ) -> tuple[Candidate, str | None]:
        """The artifact as the filters see it, and its subject (for a referrer)."""
        tags: list[str] = [str(t) for t in event.data.get("tags") or []]
        if event.data.get("tag"):
            tags.append(str(event.data["tag"]))
        media_type, artifact_type = str(event.data.get("media_type") or ""), None
        labels: tuple[str, ...] = ()
        artifact_id = event.data.get("artifact_id")
        facts = await q.find_artifact_facts(uow.conn, int(artifact_id)) if isinstance(artifact_id, int) else None
        subject = None
        if facts is not None:
            media_type, artifact_type, labels = facts.media_type, facts.artifact_type, facts.labels
            subject = facts.subject_digest
        return Candidate(repository, tuple(tags), labels, media_type, artifact_type), subject

    def _event_task(self, policy: ReplicationPolicy, event: EventRecord, c: Candidate, digest: str, *,
                    referrer: bool = False) -> TaskSpec | None:
        filters = policy_filters(policy)
        try:
            dst = destination_repository(c.repository, policy.dest_namespace, policy.dest_namespace_replace_count)
        except BadRequest as exc:
            log.warning("replication_event_unmapped", policy_id=policy.id, reason=exc.message)
            return None
        resource_type = RESOURCE_IMAGE if is_image(c.media_type, c.artifact_type) else RESOURCE_ARTIFACT
        common = {**_snapshot(policy), "src_repo": c.repository, "dst_repo": dst, "digest": digest,
                  "resource_type": resource_type}
        if event.event_type == DELETE_ARTIFACT:
            # The deleted artifact's type and labels are gone with it: judge its name (and its
            # tags when the event names them).
            if not filters.select_repository(c.repository):
                return None
            if c.tags and filters.has(FILTER_TAG) and filters.select_tags(c.tags) is None:
                return None
            return TaskSpec(DELETE_JOB, {**common, "operation": "deletion", "tags": list(c.tags)})
        if referrer and not c.tags:
            # A signature or SBOM pushed after its subject: it follows the subject, so only the
            # repository is judged (tag, label and resource filters are about the subject).
            tags: list[str] | None = [] if filters.select_repository(c.repository) else None
        else:
            tags = filters.select(c)
        if tags is None:
            return None
        return TaskSpec(COPY_JOB, {**common, "operation": "copy", "tags": tags})


def _retried(task: TaskRecord) -> dict[str, Any]:
    """A failed task's parameters for its retry, with its last checkpoint (where its blob
    uploads got to: the copy resumes there if the destination still holds them)."""
    params = {k: v for k, v in task.params.items() if k != "resume"}
    state = {k: v for k, v in task.state.items() if k != "done"} or task.params.get("resume")
    return {**params, "resume": state} if state else params


def _snapshot(policy: ReplicationPolicy) -> dict[str, Any]:
    """What a task needs of its policy, fixed when the task is made (a retry repeats it)."""
    return {"policy_id": policy.id, "src_registry_id": policy.src_registry_id,
            "dest_registry_id": policy.dest_registry_id, "override": policy.override,
            "chunked": policy.copy_by_chunk, "speed": policy.speed}


async def _with_config_type(client: RemoteRegistry, artifact: SourceArtifact) -> SourceArtifact:
    """The artifact with its config media type as its type (what the resource filter judges)."""
    if artifact.artifact_type or artifact.media_type in mt.INDEXES:
        return artifact
    manifest = await client.get_manifest(artifact.repository, artifact.digest)
    try:
        doc = orjson.loads(manifest.content)
    except orjson.JSONDecodeError:
        return artifact
    config = doc.get("config") if isinstance(doc, dict) else None
    kind = doc.get("artifactType") or (config.get("mediaType") if isinstance(config, dict) else None)
    return replace(artifact, artifact_type=str(kind)) if kind else artifact
