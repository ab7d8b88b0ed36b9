"""Audit logs: system-wide for administrators (``/audit-logs``, ``/auditlog-exts``), per
project for those holding ``log:list`` there (``/projects/{name}/logs``, ``.../auditlog-exts``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from moorage.api.lists import page_of, paged
from moorage.api.schemas import AuditLog, AuditLogEventType, AuditLogExt
from moorage.api.security import Security, require_project, require_system, services_of
from moorage.core.errors import BadRequest
from moorage.core.query import Condition, parse_q, parse_sort
from moorage.metadata.models import AuditLog as AuditRow
from moorage.metadata.queries.audit import SORTABLE, AuditFilter

router = APIRouter(prefix="/api/v2.0", tags=["auditlog"])
EVENT_TYPES = [f"{op}_{kind}" for kind in ("user", "project", "member", "robot", "repository", "artifact", "tag",
                                            "configuration") for op in ("create", "update", "delete")]
EVENT_TYPES += ["pull_artifact", "login_user", "logout_user"]


def _text(cond: Condition | None, key: str) -> tuple[str | None, bool]:
    if cond is None:
        return None, False
    if cond.kind not in ("exact", "fuzzy"):
        raise BadRequest(f"q: {key} takes a value or ~value")
    return cond.value, cond.kind == "fuzzy"


def _time(value: str | None, key: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"q: {key} bound {value!r} is not a date-time") from None


def _filter(request: Request, project_id: int | None) -> AuditFilter:
    q = parse_q(request.query_params.get("q"))
    unknown = set(q) - {"username", "resource", "resource_type", "operation", "op_time"}
    if unknown:
        raise BadRequest(f"q: unknown key(s) {', '.join(sorted(unknown))}")
    username, username_fuzzy = _text(q.get("username"), "username")
    resource, resource_fuzzy = _text(q.get("resource"), "resource")
    resource_type, _ = _text(q.get("resource_type"), "resource_type")
    operation, _ = _text(q.get("operation"), "operation")
    since = until = None
    if (op_time := q.get("op_time")) is not None:
        if op_time.kind != "range":
            raise BadRequest("q: op_time takes a range [from~to]")
        since, until = _time(op_time.low, "op_time"), _time(op_time.high, "op_time")
    return AuditFilter(project_id=project_id, username=username, username_fuzzy=username_fuzzy, resource=resource,
                       resource_fuzzy=resource_fuzzy, resource_type=resource_type, operation=operation,
                       since=since, until=until)


def _ext(row: AuditRow) -> AuditLogExt:
    return AuditLogExt(id=row.id, username=row.username, resource=row.resource, resource_type=row.resource_type,
                       operation=row.operation, operation_description=row.operation_description,
                       operation_result=row.success, op_time=row.op_time)


def _legacy(row: AuditRow) -> AuditLog:
    return AuditLog(id=row.id, username=row.username, resource=row.resource, resource_type=row.resource_type,
                    operation=row.operation, op_time=row.op_time)


async def _list(request: Request, project_id: int | None, legacy: bool) -> Response:
    page = page_of(request)
    sort = parse_sort(request.query_params.get("sort"), SORTABLE)
    rows, total = await services_of(request).audit.list(_filter(request, project_id), page.offset, page.limit, sort)
    return paged(request, [_legacy(r) if legacy else _ext(r) for r in rows], page, total)


@router.get("/audit-logs", response_model=list[AuditLog])
async def list_audit_logs(request: Request, ctx: Security) -> Response:
    await require_system(ctx, "audit-log", "list")
    return await _list(request, None, legacy=True)


@router.get("/auditlog-exts", response_model=list[AuditLogExt])
async def list_audit_log_exts(request: Request, ctx: Security) -> Response:
    await require_system(ctx, "audit-log", "list")
    return await _list(request, None, legacy=False)


@router.get("/auditlog-exts/events", response_model=list[AuditLogEventType])
async def list_event_types(ctx: Security) -> list[AuditLogEventType]:
    await require_system(ctx, "audit-log", "list")
    return [AuditLogEventType(event_type=e) for e in EVENT_TYPES]


async def _project_log(request: Request, ctx: Security, project_name: str, legacy: bool) -> Response:
    project = await services_of(request).projects.get_ref(project_name, is_name=True)
    await require_project(ctx, project, "log", "list")
    return await _list(request, project.id, legacy)


@router.get("/projects/{project_name}/logs", response_model=list[AuditLog])
async def list_project_logs(request: Request, ctx: Security, project_name: str) -> Response:
    return await _project_log(request, ctx, project_name, legacy=True)


@router.get("/projects/{project_name}/auditlog-exts", response_model=list[AuditLogExt])
async def list_project_log_exts(request: Request, ctx: Security, project_name: str) -> Response:
    return await _project_log(request, ctx, project_name, legacy=False)
