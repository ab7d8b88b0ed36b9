"""``/api/v2.0/replication/policies`` and ``/replication/executions``: Harbor's replication
policies (list, create, read, update, delete), runs (start, list, read, stop), their tasks and
task logs, and Moorage's ``POST /replication/executions/{id}/retry`` (a new run of only the
failed tasks).  System administrators only (resources ``replication-policy``, ``replication``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from moorage.api.lists import created, dump, page_of, paged
from moorage.api.routes.registries import registry_model
from moorage.api.schemas import (
    Registry,
    RegistryCredential,
    ReplicationExecution,
    ReplicationPolicy,
    ReplicationTask,
    ReplicationTrigger,
    ReplicationTriggerSettings,
    StartReplicationExecution,
)
from moorage.api.security import Security, actor, require_system, services_of
from moorage.core.errors import BadRequest
from moorage.core.query import parse_q
from moorage.domain.executions import TaskRecord
from moorage.domain.registries import RegistryRecord
from moorage.domain.replication import ExecutionView
from moorage.domain.replication_rules import (
    EXECUTION_STATUS,
    KIND_OF_TRIGGER,
    TASK_STATUS,
    TRIGGER_OF_KIND,
    resource_string,
    statuses_named,
)
from moorage.metadata.models.replication import ReplicationPolicy as PolicyRow

router = APIRouter(tags=["replication"])
POLICIES = "/api/v2.0/replication/policies"
EXECUTIONS = "/api/v2.0/replication/executions"
POLICY, EXECUTION = "replication-policy", "replication"


def _local(request: Request) -> Registry:
    """This registry, as Harbor shows the local side of a policy (id 0, "Local")."""
    return Registry(id=0, name="Local", type="harbor", url=str(request.base_url).rstrip("/"), insecure=False,
                    status="healthy", description="", credential=RegistryCredential(type="secret"))


def policy_model(request: Request, p: PolicyRow, registries: dict[int, RegistryRecord]) -> ReplicationPolicy:
    def side(registry_id: int | None) -> dict[str, Any]:
        if registry_id is None:
            return dict(dump(_local(request)))
        found = registries.get(registry_id)
        return dict(dump(registry_model(found) if found is not None else Registry(id=registry_id)))

    trigger = dict(p.trigger or {})
    return ReplicationPolicy(
        id=p.id, name=p.name, description=p.description, src_registry=side(p.src_registry_id),
        dest_registry=side(p.dest_registry_id), dest_namespace=p.dest_namespace,
        dest_namespace_replace_count=p.dest_namespace_replace_count,
        trigger=ReplicationTrigger(type=trigger.get("type", "manual"), trigger_settings=ReplicationTriggerSettings(
            cron=(trigger.get("trigger_settings") or {}).get("cron", ""))),
        filters=[dict(f) for f in p.filters or []], replicate_deletion=p.replicate_deletion,
        deletion=p.replicate_deletion, override=p.override, enabled=p.enabled, creation_time=p.creation_time,
        update_time=p.update_time, speed=p.speed, copy_by_chunk=p.copy_by_chunk,
        single_active_replication=p.single_active_replication)


async def _registries(request: Request, policies: list[PolicyRow]) -> dict[int, RegistryRecord]:
    ids = {i for p in policies for i in (p.src_registry_id, p.dest_registry_id) if i is not None}
    registries = services_of(request).registries
    return {i: await registries.get(i) for i in sorted(ids)}


def execution_json(v: ExecutionView) -> dict[str, Any]:
    """Harbor's ReplicationExecution, plus Moorage's ``extra_attrs`` (``retry_of``: the run a
    retry repeats; ``operator``; ``event_type`` of an event-based run)."""
    e, c = v.record, v.counts
    model = ReplicationExecution(
        id=e.id, policy_id=e.vendor_id, status=EXECUTION_STATUS.get(e.status, e.status),
        trigger=TRIGGER_OF_KIND.get(e.trigger, e.trigger.lower()), start_time=e.start_time, end_time=e.end_time,
        status_text=v.status_text, total=sum(c.values()), failed=c.get("Error", 0), succeed=c.get("Success", 0),
        in_progress=c.get("Pending", 0) + c.get("Running", 0), stopped=c.get("Stopped", 0))
    extra = {k: x for k, x in e.extra_attrs.items() if k in ("retry_of", "operator", "event_type", "scheduled_at")}
    return {**dump(model), "extra_attrs": extra}


def task_model(t: TaskRecord) -> ReplicationTask:
    p = t.params
    tags, digest = [str(x) for x in p.get("tags") or []], str(p.get("digest", ""))
    return ReplicationTask(
        id=t.id, execution_id=t.execution_id, status=TASK_STATUS.get(t.status, t.status), job_id=str(t.id),
        operation=str(p.get("operation", "copy")), resource_type=str(p.get("resource_type", "artifact")),
        src_resource=resource_string(str(p.get("src_repo", "")), tags, digest),
        dst_resource=resource_string(str(p.get("dst_repo", "")), tags, digest),
        start_time=t.start_time, end_time=t.end_time)


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("the body must be a JSON replication policy") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object (a replication policy)")
    return body


# Policies ---------------------------------------------------------------------------------------


@router.get(POLICIES)
async def list_policies(request: Request, ctx: Security, q: str | None = None, name: str | None = None
                        ) -> Response:
    await require_system(ctx, POLICY, "list")
    conditions = parse_q(q)
    unknown = set(conditions) - {"name"}
    if unknown:
        raise BadRequest(f"invalid query key(s) {', '.join(sorted(unknown))}: replication policies filter by name")
    by_name = conditions.get("name")
    if by_name is not None and by_name.kind not in ("exact", "fuzzy"):
        raise BadRequest("the name filter must be name=value or name=~value")
    value, fuzzy = (by_name.value, by_name.kind == "fuzzy") if by_name is not None else (name, name is not None)
    page = page_of(request)
    rows, total = await services_of(request).replication.page(value, fuzzy, page.offset, page.limit)
    registries = await _registries(request, rows)
    return paged(request, [policy_model(request, p, registries) for p in rows], page, total)


@router.post(POLICIES, status_code=201)
async def create_policy(request: Request, ctx: Security) -> Response:
    await require_system(ctx, POLICY, "create")
    policy_id = await services_of(request).replication.create(await _body(request), actor(request, ctx))
    return created(request, f"{POLICIES}/{policy_id}")


@router.get(POLICIES + "/{id}")
async def get_policy(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002 - Harbor's name
    await require_system(ctx, POLICY, "read")
    policy = await services_of(request).replication.get(id)
    return JSONResponse(dump(policy_model(request, policy, await _registries(request, [policy]))))


@router.put(POLICIES + "/{id}")
async def update_policy(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002
    await require_system(ctx, POLICY, "update")
    await services_of(request).replication.update(id, await _body(request), actor(request, ctx))
    return Response(status_code=200)


@router.delete(POLICIES + "/{id}")
async def delete_policy(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002
    """412 while a run of the policy is unfinished."""
    await require_system(ctx, POLICY, "delete")
    await services_of(request).replication.delete(id, actor(request, ctx))
    return Response(status_code=200)


# Executions -------------------------------------------------------------------------------------


@router.get(EXECUTIONS)
async def list_executions(request: Request, ctx: Security, policy_id: int | None = None, status: str | None = None,
                          trigger: str | None = None) -> Response:
    await require_system(ctx, EXECUTION, "list")
    statuses = statuses_named(status, EXECUTION_STATUS) if status else None
    kind = None
    if trigger:
        if trigger not in KIND_OF_TRIGGER:
            raise BadRequest(f"unknown trigger {trigger!r}: use one of {', '.join(KIND_OF_TRIGGER)}")
        kind = KIND_OF_TRIGGER[trigger]
    page = page_of(request)
    views, total = await services_of(request).replication.page_executions(
        policy_id, statuses, kind, page.offset, page.limit)
    return paged(request, [execution_json(v) for v in views], page, total)


@router.post(EXECUTIONS, status_code=201)
async def start_execution(request: Request, body: StartReplicationExecution, ctx: Security) -> Response:
    """201 + Location; 400 for a disabled policy; 409 while a single-active policy runs."""
    await require_system(ctx, EXECUTION, "create")
    if body.policy_id is None:
        raise BadRequest("policy_id is required")
    execution_id = await services_of(request).replication.start(body.policy_id, ctx.username)
    return created(request, f"{EXECUTIONS}/{execution_id}")


@router.get(EXECUTIONS + "/{id}")
async def get_execution(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002
    await require_system(ctx, EXECUTION, "read")
    return JSONResponse(execution_json(await services_of(request).replication.view(id)))


@router.put(EXECUTIONS + "/{id}")
async def stop_execution(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002
    """Stop the run: pending tasks at once, running ones at their next chunk."""
    await require_system(ctx, EXECUTION, "stop")
    await services_of(request).replication.stop(id)
    return Response(status_code=200)


@router.post(EXECUTIONS + "/{id}/retry", status_code=201)
async def retry_execution(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002
    """Moorage: a new run of only the failed (Failed/Stopped) tasks; 409 while the run is
    unfinished, 422 when nothing failed."""
    await require_system(ctx, EXECUTION, "create")
    execution_id = await services_of(request).replication.retry(id, ctx.username)
    return created(request, f"{EXECUTIONS}/{execution_id}")


@router.get(EXECUTIONS + "/{id}/tasks")
async def list_tasks(request: Request, id: int, ctx: Security, status: str | None = None,  # noqa: A002
                     resource_type: str | None = None) -> Response:
    await require_system(ctx, EXECUTION, "list")
    statuses = statuses_named(status, TASK_STATUS) if status else None
    page = page_of(request)
    tasks = await services_of(request).replication.tasks(id, statuses, resource_type)
    return paged(request, [task_model(t) for t in tasks[page.offset:page.offset + page.limit]], page, len(tasks))


@router.get(EXECUTIONS + "/{id}/tasks/{task_id}/log")
async def get_task_log(request: Request, id: int, task_id: int, ctx: Security) -> Response:  # noqa: A002
    await require_system(ctx, EXECUTION, "read")
    return PlainTextResponse(await services_of(request).replication.task_log(id, task_id))
