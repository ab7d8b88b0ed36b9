"""Project webhook policies: create, read, update and delete them (targets checked by the SSRF
guard), and the event subscriber that turns each committed event into one delivery execution
per matching enabled policy, with one task per target; plus the delivery history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from moorage.auth.rbac import ProjectRef
from moorage.core.errors import BadRequest, Conflict, NotFound
from moorage.db.engine import Database, UnitOfWork
from moorage.domain import events as ev
from moorage.domain import webhook_payloads as payloads
from moorage.domain.audit import Actor, AuditEntry, AuditService
from moorage.domain.configuration import ConfigService
from moorage.domain.executions import EVENT, WEBHOOK, ExecutionRecord, ExecutionService, TaskRecord, TaskSpec
from moorage.domain.outbound import OutboundGuard
from moorage.metadata.queries import jobs as jq
from moorage.metadata.queries import webhooks as q
from moorage.metadata.queries.webhooks import PolicyRow, PolicyValues

log = structlog.get_logger(__name__)

WEBHOOK_JOB = "WEBHOOK"
HTTP, SLACK = "http", "slack"
NOTIFY_TYPES = (HTTP, SLACK)
PAYLOAD_FORMATS = {HTTP: (payloads.DEFAULT_FORMAT, payloads.CLOUDEVENTS_FORMAT), SLACK: (payloads.DEFAULT_FORMAT,)}
EVENT_TYPES = ev.EVENT_TYPES
KEEP_EXECUTIONS = 50  # delivery history kept per policy (Harbor's execution sweeper keeps as many)
PRUNE_EVERY = 10  # prune a policy's history when its new execution id is a multiple of this
MAX_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """A policy as the API sends it (``None``: not given)."""

    name: str | None
    description: str | None = None
    enabled: bool | None = None
    targets: Sequence[dict[str, Any]] | None = None
    event_types: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class LastTrigger:
    policy_name: str
    event_type: str
    enabled: bool
    creation_time: datetime
    last_trigger_time: datetime | None


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a string")
    return value


class WebhookService:
    def __init__(self, db: Database, executions: ExecutionService, config: ConfigService, guard: OutboundGuard,
                 audit: AuditService, host: str) -> None:
        self.db = db
        self.executions = executions
        self.config = config
        self.guard = guard
        self.audit = audit
        self.host = host  # host:port in resource URLs

    # Validation -------------------------------------------------------------------------------------

    async def _target(self, raw: dict[str, Any]) -> dict[str, Any]:
        kind = _text(raw.get("type"), "target type") or HTTP
        if kind not in NOTIFY_TYPES:
            raise BadRequest(f"unknown target type {kind!r}: must be one of {', '.join(NOTIFY_TYPES)}")
        fmt = _text(raw.get("payload_format"), "payload_format") or payloads.DEFAULT_FORMAT
        if fmt not in PAYLOAD_FORMATS[kind]:
            raise BadRequest(f"payload format {fmt!r} is not supported for {kind} targets: "
                             f"use {' or '.join(PAYLOAD_FORMATS[kind])}")
        address = _text(raw.get("address"), "target address").strip()
        if not address:
            raise BadRequest("every target needs an address")
        await self.guard.resolve(address)
        skip = raw.get("skip_cert_verify")
        if skip is not None and not isinstance(skip, bool):
            raise BadRequest("skip_cert_verify must be a boolean")
        auth = _text(raw.get("auth_header"), "auth_header")
        if "\n" in auth or "\r" in auth:
            raise BadRequest("auth_header must be a single line")
        return {"type": kind, "address": address, "auth_header": auth, "skip_cert_verify": bool(skip),
                "payload_format": fmt}

    async def _values(self, body: PolicyInput, current: PolicyRow | None) -> PolicyValues:
        name = (body.name if body.name is not None else current.name if current else "").strip()
        if not name:
            raise BadRequest("the policy needs a name")
        if len(name) > 255:
            raise BadRequest("the policy name is longer than 255 characters")
        targets = body.targets if body.targets is not None else current.targets if current else []
        if not targets:
            raise BadRequest("the policy needs at least one target")
        event_types = list(body.event_types if body.event_types is not None else
                           current.event_types if current else [])
        if not event_types:
            raise BadRequest("the policy needs at least one event type")
        unknown = [t for t in event_types if t not in EVENT_TYPES]
        if unknown:
            raise BadRequest(f"unknown event type(s) {', '.join(map(str, unknown))}: supported are "
                             f"{', '.join(EVENT_TYPES)}")
        enabled = body.enabled if body.enabled is not None else current.enabled if current else True
        description = body.description if body.description is not None else current.description if current else ""
        return PolicyValues(name, description, enabled, [await self._target(dict(t)) for t in targets],
                            list(dict.fromkeys(event_types)))

    # Policies ---------------------------------------------------------------------------------------

    async def page(self, project_id: int, offset: int, limit: int, *, name: str | None = None,
                   name_fuzzy: bool = False, sort: list[tuple[str, bool]] | None = None
                   ) -> tuple[list[PolicyRow], int]:
        async with self.db.read() as conn:
            total = await q.count_policies(conn, project_id, name=name, name_fuzzy=name_fuzzy)
            rows = await q.list_policies(conn, project_id, offset, limit, name=name, name_fuzzy=name_fuzzy,
                                         sort=sort) if total > offset else []
        return rows, total

    async def get(self, project_id: int, policy_id: int) -> PolicyRow:
        """The project's policy; NotFound."""
        found = None
        if 0 < policy_id <= MAX_ID:
            async with self.db.read() as conn:
                found = await q.find_policy(conn, policy_id, project_id)
        if found is None:
            raise NotFound(f"webhook policy {policy_id} not found in project {project_id}")
        return found

    async def create(self, project: ProjectRef, body: PolicyInput, actor: Actor) -> int:
        """BadRequest for a bad target, format or event type; Conflict for a duplicate name."""
        values = await self._values(body, None)
        async with self.db.write() as uow:
            policy_id = await q.create_policy(uow.conn, project.id, values, actor.username)
            if policy_id is None:
                raise Conflict(f"project {project.name} already has a webhook policy named {values.name!r}")
            await self.audit.record(uow.conn, actor, AuditEntry(
                "create", "webhook_policy", f"{project.name}/{values.name}", project.id,
                f"created webhook policy {values.name} for {', '.join(values.event_types)}"))
        return policy_id

    async def update(self, project: ProjectRef, policy_id: int, body: PolicyInput, actor: Actor) -> None:
        current = await self.get(project.id, policy_id)
        values = await self._values(body, current)
        async with self.db.write() as uow:
            other = await q.find_policy_id_by_name(uow.conn, project.id, values.name)
            if (other is not None and other != policy_id) or not await q.update_policy(uow.conn, policy_id, values):
                raise Conflict(f"project {project.name} already has a webhook policy named {values.name!r}")
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "webhook_policy", f"{project.name}/{values.name}", project.id,
                f"updated webhook policy {values.name}"))

    async def delete(self, project: ProjectRef, policy_id: int, actor: Actor) -> None:
        """Delete the policy and its finished deliveries (unfinished ones end when they find it gone)."""
        current = await self.get(project.id, policy_id)
        async with self.db.write() as uow:
            if not await q.delete_policy(uow.conn, policy_id):
                raise NotFound(f"webhook policy {policy_id} not found in project {project.name}")
            await jq.delete_old_executions(uow.conn, WEBHOOK, policy_id, 0)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "delete", "webhook_policy", f"{project.name}/{current.name}", project.id,
                f"deleted webhook policy {current.name}"))

    async def last_triggers(self, project_id: int) -> list[LastTrigger]:
        """Per policy and subscribed event type: when an event last triggered a delivery."""
        async with self.db.read() as conn:
            policies = await q.list_policies(conn, project_id, 0, 10_000)
            times = await q.list_last_triggers(conn, [p.id for p in policies])
        return [LastTrigger(p.name, et, p.enabled, p.creation_time, times.get((p.id, et)))
                for p in policies for et in p.event_types]

    # Delivery history -------------------------------------------------------------------------------

    async def executions_page(self, project_id: int, policy_id: int, page: int, page_size: int
                              ) -> tuple[list[ExecutionRecord], int]:
        await self.get(project_id, policy_id)
        return await self.executions.list(WEBHOOK, policy_id, page, page_size)

    async def execution(self, project_id: int, policy_id: int, execution_id: int) -> ExecutionRecord:
        await self.get(project_id, policy_id)
        found = await self.executions.get(execution_id, WEBHOOK) if 0 < execution_id <= MAX_ID else None
        if found is None or found.vendor_id != policy_id:
            raise NotFound(f"execution {execution_id} not found for webhook policy {policy_id}")
        return found

    async def tasks(self, project_id: int, policy_id: int, execution_id: int) -> list[TaskRecord]:
        await self.execution(project_id, policy_id, execution_id)
        return await self.executions.tasks(execution_id)

    async def task_log(self, project_id: int, policy_id: int, execution_id: int, task_id: int) -> str:
        await self.execution(project_id, policy_id, execution_id)
        task = await self.executions.task(task_id) if 0 < task_id <= MAX_ID else None
        if task is None or task.execution_id != execution_id:
            raise NotFound(f"task {task_id} not found in execution {execution_id}")
        return await self.executions.log(task_id)

    async def auth_header(self, policy_id: int, target_index: int, address: str) -> str | None:
        """The auth header of a delivery's target as the policy says now ("" for none); None once
        the policy is deleted."""
        async with self.db.read() as conn:
            policy = await q.find_policy(conn, policy_id)
        if policy is None:
            return None
        targets = policy.targets
        target = targets[target_index] if 0 <= target_index < len(targets) else None
        if target is None or target.get("address") != address:
            target = next((t for t in targets if t.get("address") == address), None)
        return str((target or {}).get("auth_header") or "")

    # The event subscriber ---------------------------------------------------------------------------

    async def on_event(self, uow: UnitOfWork, event: ev.EventRecord) -> None:
        """Submit one WEBHOOK execution (trigger EVENT) per enabled policy of the event's project
        subscribed to its type, with one delivery task per target, in the dispatcher's transaction."""
        if event.project_id is None or event.event_type not in EVENT_TYPES:
            return
        if event.event_type == ev.TAG_RETENTION and not event.data.get("deleted"):
            return  # Harbor notifies only retention runs that deleted something
        policies = [p for p in await q.list_enabled_policies(uow.conn, event.project_id)
                    if event.event_type in p.event_types]
        if not policies or not await self.config.value("notification_enable"):
            return
        info = await q.find_repository_info(uow.conn, event.project_id, str(event.data.get("repository") or ""))
        payload = payloads.default_payload(event, info, self.host)
        for policy in policies:
            tasks = [TaskSpec(WEBHOOK_JOB, self._params(policy, i, target, payload))
                     for i, target in enumerate(policy.targets)]
            execution_id = await self.executions.submit(
                uow, WEBHOOK, policy.id, EVENT, tasks,
                extra_attrs={"event_type": event.event_type, "event_id": event.id,
                             "occur_at": int(event.occur_at.timestamp())})
            await q.upsert_last_trigger(uow.conn, policy.id, event.event_type, event.occur_at)
            if execution_id % PRUNE_EVERY == 0:
                await jq.delete_old_executions(uow.conn, WEBHOOK, policy.id, KEEP_EXECUTIONS)
        log.debug("webhook_event_submitted", event_type=event.event_type, policies=len(policies))

    @staticmethod
    def _params(policy: PolicyRow, index: int, target: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        """A delivery task's parameters: the rendered body and where to send it (the auth header
        is read from the policy at delivery time, so no secret is copied into task rows)."""
        notify_type = str(target.get("type") or HTTP)
        fmt = str(target.get("payload_format") or payloads.DEFAULT_FORMAT)
        content_type, body = payloads.render(payload, notify_type, fmt, policy.project_id, policy.id)
        return {"policy_id": policy.id, "target_index": index, "event_type": payload["type"],
                "notify_type": notify_type, "address": str(target.get("address") or ""),
                "skip_cert_verify": bool(target.get("skip_cert_verify")), "payload_format": fmt,
                "content_type": content_type, "body": body}
