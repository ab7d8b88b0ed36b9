"""``/api/v2.0/retentions``: tag retention metadata (templates, selectors), a project's policy
(create, read, update, delete), its runs (trigger, dry run, list, stop) and their per-repository
tasks with logs.  Permissions are the policy's project's ``tag-retention`` ones."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from moorage.api.lists import created, dump, page_of, paged
from moorage.api.schemas import RetentionExecution, RetentionExecutionTask, RetentionMetadata, RetentionPolicy
from moorage.api.security import Security, actor, denied, require_project, services_of
from moorage.auth.context import SecurityContext
from moorage.auth.rbac import ProjectRef
from moorage.core.errors import BadRequest, NotFound
from moorage.domain.executions import ExecutionRecord, TaskRecord
from moorage.domain.retention import Policy
from moorage.domain.retention_rules import metadata

router = APIRouter(tags=["Retention"])
BASE = "/api/v2.0/retentions"
ONE = BASE + "/{id}"
EXECUTIONS = ONE + "/executions"
STATUS_CODES = {"Pending": 0, "Running": 2, "Stopped": 3, "Error": 3, "Success": 3}  # Harbor's job status codes


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


async def _policy(request: Request, ctx: SecurityContext, policy_id: int, action: str) -> tuple[Policy, ProjectRef]:
    """The policy and its project, once the caller may ``action`` its tag retention."""
    policy = await services_of(request).retention.get(policy_id)
    project = await services_of(request).projects.find_ref(project_id=policy.project_id)
    if project is None:
        raise NotFound(f"retention policy {policy_id} not found")
    await require_project(ctx, project, "tag-retention", action)
    return policy, project


def _execution(e: ExecutionRecord) -> RetentionExecution:
    return RetentionExecution(id=e.id, policy_id=e.vendor_id, start_time=_time(e.start_time),
                              end_time=_time(e.end_time), status=e.status, trigger=e.trigger,
                              dry_run=bool(e.extra_attrs.get("dry_run")))


def _task(t: TaskRecord) -> RetentionExecutionTask:
    return RetentionExecutionTask(
        id=t.id, execution_id=t.execution_id, repository=str(t.params.get("repository", "")), job_id=str(t.id),
        status=t.status, status_code=STATUS_CODES.get(t.status, -1), status_revision=int(t.update_time.timestamp()),
        start_time=_time(t.start_time), end_time=_time(t.end_time), total=int(t.state.get("total", 0)),
        retained=int(t.state.get("retained", 0)))


@router.get(BASE + "/metadatas")
async def get_metadata(ctx: Security) -> Response:
    if not ctx.principal.authenticated:
        raise denied(ctx, "read the retention metadata")
    return JSONResponse(dump(RetentionMetadata.model_validate(metadata())))


@router.post(BASE, status_code=201)
async def create_policy(request: Request, body: RetentionPolicy, ctx: Security) -> Response:
    ref = body.scope.ref if body.scope else None
    project = await services_of(request).projects.find_ref(project_id=ref) if ref and ref > 0 else None
    if project is None:
        raise BadRequest(f"retention policy: scope.ref must be an existing project id, not {ref!r}")
    await require_project(ctx, project, "tag-retention", "create")
    policy_id = await services_of(request).retention.create(
        project, body.model_dump(exclude_none=True), actor(request, ctx))
    return created(request, f"{BASE}/{policy_id}")


@router.get(ONE)
async def get_policy(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002 - Harbor's name
    policy, _ = await _policy(request, ctx, id, "read")
    return JSONResponse(policy.to_json())


@router.put(ONE)
async def update_policy(request: Request, id: int, body: RetentionPolicy, ctx: Security) -> Response:  # noqa: A002
    _, project = await _policy(request, ctx, id, "update")
    await services_of(request).retention.update(id, project, body.model_dump(exclude_none=True), actor(request, ctx))
    return Response(status_code=200)


@router.delete(ONE)
async def delete_policy(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002
    _, project = await _policy(request, ctx, id, "delete")
    await services_of(request).retention.delete(id, project, actor(request, ctx))
    return Response(status_code=200)


@router.post(EXECUTIONS, status_code=201)
async def trigger_execution(request: Request, id: int, ctx: Security,  # noqa: A002
                            dry_run: bool = Body(False, embed=True)) -> Response:
    policy, _ = await _policy(request, ctx, id, "operate")
    execution_id = await services_of(request).retention.trigger(policy, dry_run, ctx.username)
    return created(request, f"{EXECUTIONS.format(id=id)}/{execution_id}")


@router.get(EXECUTIONS)
async def list_executions(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002
    await _policy(request, ctx, id, "list")
    page = page_of(request)
    rows, total = await services_of(request).executions.list("RETENTION", id, page.page, page.page_size)
    return paged(request, [_execution(e) for e in rows], page, total)


@router.patch(EXECUTIONS + "/{eid}")
async def operate_execution(request: Request, id: int, eid: int, ctx: Security,  # noqa: A002
                            action: str = Body("", embed=True)) -> Response:
    await _policy(request, ctx, id, "operate")
    if action != "stop":
        raise BadRequest(f"unsupported action {action!r}: only \"stop\"")
    services = services_of(request)
    await services.retention.execution(id, eid)
    await services.executions.stop(eid)
    return Response(status_code=200)


@router.get(EXECUTIONS + "/{eid}/tasks")
async def list_tasks(request: Request, id: int, eid: int, ctx: Security) -> Response:  # noqa: A002
    await _policy(request, ctx, id, "list")
    page = page_of(request)
    tasks = await services_of(request).retention.repository_tasks(id, eid)
    return paged(request, [_task(t) for t in tasks[page.offset:page.offset + page.limit]], page, len(tasks))


@router.get(EXECUTIONS + "/{eid}/tasks/{tid}")
async def get_task_log(request: Request, id: int, eid: int, tid: int, ctx: Security) -> Response:  # noqa: A002
    await _policy(request, ctx, id, "read")
    return PlainTextResponse(await services_of(request).retention.task_log(id, eid, tid))
