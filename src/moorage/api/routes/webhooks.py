"""``/api/v2.0/projects/{project_name_or_id}/webhook/*``: webhook policies (list, create, read,
update, delete), the supported event types and formats, last trigger times, and each policy's
delivery history (executions, tasks and task logs)."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from moorage.api.lists import created, dump, page_of, paged
from moorage.api.schemas import (
    Execution,
    Metrics,
    PayloadFormat,
    SupportedWebhookEventTypes,
    Task,
    WebhookLastTrigger,
    WebhookPolicy,
    WebhookTargetObject,
)
from moorage.api.security import Security, actor, project_ref, require_project, services_of
from moorage.auth.context import SecurityContext
from moorage.auth.rbac import ProjectRef
from moorage.core.errors import BadRequest
from moorage.core.query import parse_q, parse_sort
from moorage.domain.executions import ExecutionRecord, TaskRecord
from moorage.domain.webhooks import EVENT_TYPES, NOTIFY_TYPES, PAYLOAD_FORMATS, PolicyInput
from moorage.metadata.queries.webhooks import SORTABLE, PolicyRow

router = APIRouter(tags=["webhook"])
P = "/api/v2.0/projects/{project_name_or_id}/webhook"
BASE = P + "/policies"
ONE = BASE + "/{webhook_policy_id}"
EXECUTION = ONE + "/executions/{execution_id}"
RESOURCE = "notification-policy"


async def _project(request: Request, project_name_or_id: str, ctx: SecurityContext, action: str) -> ProjectRef:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, RESOURCE, action)
    return ref


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def policy_model(p: PolicyRow) -> WebhookPolicy:
    return WebhookPolicy(
        id=p.id, name=p.name, description=p.description, project_id=p.project_id,
        targets=[WebhookTargetObject(type=t.get("type"), address=t.get("address"),
                                     auth_header=t.get("auth_header") or "",
                                     skip_cert_verify=bool(t.get("skip_cert_verify")),
                                     payload_format=t.get("payload_format")) for t in p.targets],
        event_types=p.event_types, creator=p.creator, creation_time=p.creation_time, update_time=p.update_time,
        enabled=p.enabled)


def execution_model(e: ExecutionRecord) -> Execution:
    return Execution(id=e.id, vendor_type=e.vendor_type, vendor_id=e.vendor_id, status=e.status,
                     status_message=e.status_message, metrics=Metrics(**e.metrics), trigger=e.trigger,
                     extra_attrs=e.extra_attrs, start_time=_time(e.start_time), end_time=_time(e.end_time))


def task_model(t: TaskRecord) -> Task:
    """A delivery task; ``extra_attrs`` carry the event type and the payload sent, as Harbor's do."""
    params = t.params
    extra = {"event_type": params.get("event_type"), "notify_type": params.get("notify_type"),
             "address": params.get("address"), "payload_format": params.get("payload_format"),
             "payload": json.dumps(params.get("body"))}
    return Task(id=t.id, execution_id=t.execution_id, status=t.status, status_message=t.status_message,
                run_count=t.attempts, extra_attrs=extra, creation_time=_time(t.creation_time),
                update_time=_time(t.update_time), start_time=_time(t.start_time), end_time=_time(t.end_time))


def _input(body: WebhookPolicy) -> PolicyInput:
    targets = None if body.targets is None else [t.model_dump() for t in body.targets]
    return PolicyInput(name=body.name, description=body.description, enabled=body.enabled, targets=targets,
                       event_types=body.event_types)


@router.get(BASE)
async def list_policies(request: Request, project_name_or_id: str, ctx: Security, q: str | None = None,
                        sort: str | None = None) -> Response:
    ref = await _project(request, project_name_or_id, ctx, "list")
    conditions = parse_q(q)
    unknown = set(conditions) - {"name"}
    if unknown:
        raise BadRequest(f"invalid query key(s) {', '.join(sorted(unknown))}: webhook policies filter by name")
    name = conditions.get("name")
    if name is not None and name.kind not in ("exact", "fuzzy"):
        raise BadRequest("the name filter must be name=value or name=~value")
    page = page_of(request)
    rows, total = await services_of(request).webhooks.page(
        ref.id, page.offset, page.limit, name=name.value if name else None,
        name_fuzzy=name is not None and name.kind == "fuzzy", sort=parse_sort(sort, SORTABLE))
    return paged(request, [policy_model(p) for p in rows], page, total)


@router.post(BASE, status_code=201)
async def create_policy(request: Request, project_name_or_id: str, body: WebhookPolicy, ctx: Security) -> Response:
    ref = await _project(request, project_name_or_id, ctx, "create")
    policy_id = await services_of(request).webhooks.create(ref, _input(body), actor(request, ctx))
    return created(request, f"/api/v2.0/projects/{project_name_or_id}/webhook/policies/{policy_id}")


@router.get(ONE)
async def get_policy(request: Request, project_name_or_id: str, webhook_policy_id: int, ctx: Security) -> Response:
    ref = await _project(request, project_name_or_id, ctx, "read")
    return JSONResponse(dump(policy_model(await services_of(request).webhooks.get(ref.id, webhook_policy_id))))


@router.put(ONE)
async def update_policy(request: Request, project_name_or_id: str, webhook_policy_id: int, body: WebhookPolicy,
                        ctx: Security) -> Response:
    ref = await _project(request, project_name_or_id, ctx, "update")
    await services_of(request).webhooks.update(ref, webhook_policy_id, _input(body), actor(request, ctx))
    return Response(status_code=200)


@router.delete(ONE)
async def delete_policy(request: Request, project_name_or_id: str, webhook_policy_id: int, ctx: Security
                        ) -> Response:
    ref = await _project(request, project_name_or_id, ctx, "delete")
    await services_of(request).webhooks.delete(ref, webhook_policy_id, actor(request, ctx))
    return Response(status_code=200)


@router.get(ONE + "/executions")
async def list_executions(request: Request, project_name_or_id: str, webhook_policy_id: int, ctx: Security
                          ) -> Response:
    ref = await _project(request, project_name_or_id, ctx, "list")
    page = page_of(request)
    rows, total = await services_of(request).webhooks.executions_page(ref.id, webhook_policy_id, page.page,
                                                                      page.page_size)
    return paged(request, [execution_model(e) for e in rows], page, total)


@router.get(EXECUTION + "/tasks")
async def list_tasks(request: Request, project_name_or_id: str, webhook_policy_id: int, execution_id: int,
                     ctx: Security) -> Response:
    ref = await _project(request, project_name_or_id, ctx, "list")
    tasks = await services_of(request).webhooks.tasks(ref.id, webhook_policy_id, execution_id)
    page = page_of(request)
    return paged(request, [task_model(t) for t in tasks[page.offset:page.offset + page.limit]], page, len(tasks))


@router.get(EXECUTION + "/tasks/{task_id}/log")
async def get_task_log(request: Request, project_name_or_id: str, webhook_policy_id: int, execution_id: int,
                       task_id: int, ctx: Security) -> Response:
    ref = await _project(request, project_name_or_id, ctx, "read")
    text = await services_of(request).webhooks.task_log(ref.id, webhook_policy_id, execution_id, task_id)
    return PlainTextResponse(text)


@router.get(P + "/events")
async def supported_events(request: Request, project_name_or_id: str, ctx: Security) -> Response:
    await _project(request, project_name_or_id, ctx, "read")
    body = SupportedWebhookEventTypes(
        event_type=list(EVENT_TYPES), notify_type=list(NOTIFY_TYPES),
        payload_formats=[PayloadFormat(notify_type=k, formats=list(v)) for k, v in PAYLOAD_FORMATS.items()])
    return JSONResponse(dump(body))


@router.get(P + "/lasttrigger")
async def last_trigger(request: Request, project_name_or_id: str, ctx: Security) -> Response:
    ref = await _project(request, project_name_or_id, ctx, "read")
    rows = await services_of(request).webhooks.last_triggers(ref.id)
    return JSONResponse([dump(WebhookLastTrigger(
        policy_name=r.policy_name, event_type=r.event_type, enabled=r.enabled, creation_time=r.creation_time,
        last_trigger_time=r.last_trigger_time)) for r in rows])
