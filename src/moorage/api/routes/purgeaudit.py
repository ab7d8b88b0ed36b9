"""``/api/v2.0/system/purgeaudit``: audit-log rotation for system administrators (resource
``purge-audit``) — run now, schedule, history, one run, stop it, read its log."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from moorage.api.jobviews import ScheduleRequest, execution_history, schedule_history
from moorage.api.lists import created, page_of, paged
from moorage.api.security import Security, require_system, services_of
from moorage.domain.auditpurge import JOB, parse_params

router = APIRouter(prefix="/api/v2.0/system/purgeaudit", tags=["purge"])
RESOURCE = "purge-audit"


async def _kick(request: Request, body: ScheduleRequest) -> int | None:
    """Harbor's kick: ``Manual`` runs now (the execution id), ``None`` removes the schedule,
    the other types set it."""
    kind = body.kind()
    purges = services_of(request).auditpurge
    if kind == "Manual":
        return await purges.run_now(parse_params(body.parameters))
    params = None if kind == "None" else parse_params(body.parameters)
    await purges.set_schedule(kind, body.schedule.cron if body.schedule else None, params)
    return None


@router.get("")
async def get_purge_history(request: Request, ctx: Security) -> Response:
    """Purge runs, newest first."""
    await require_system(ctx, RESOURCE, "list")
    page = page_of(request)
    rows, total = await services_of(request).auditpurge.history(page.page, page.page_size)
    return paged(request, [execution_history(r, JOB) for r in rows], page, total)


@router.get("/schedule")
async def get_purge_schedule(request: Request, ctx: Security) -> Response:
    await require_system(ctx, RESOURCE, "read")
    return JSONResponse(schedule_history(await services_of(request).auditpurge.schedule()))


@router.post("/schedule", status_code=201)
async def create_purge_schedule(request: Request, body: ScheduleRequest, ctx: Security) -> Response:
    """201; for ``Manual`` the Location is the new run (409 while another purge is unfinished)."""
    await require_system(ctx, RESOURCE, "create")
    execution_id = await _kick(request, body)
    if execution_id is not None:
        return created(request, f"/api/v2.0/system/purgeaudit/{execution_id}")
    return created(request, "/api/v2.0/system/purgeaudit/schedule")


@router.put("/schedule")
async def update_purge_schedule(request: Request, body: ScheduleRequest, ctx: Security) -> Response:
    await require_system(ctx, RESOURCE, "update")
    await _kick(request, body)
    return Response(status_code=200)


@router.get("/{purge_id}")
async def get_purge_job(request: Request, purge_id: int, ctx: Security) -> Response:
    await require_system(ctx, RESOURCE, "read")
    return JSONResponse(execution_history(await services_of(request).auditpurge.get(purge_id), JOB))


@router.put("/{purge_id}")
async def stop_purge(request: Request, purge_id: int, ctx: Security) -> Response:
    """Stop the run: a queued one at once, a running one after its current batch."""
    await require_system(ctx, RESOURCE, "stop")
    await services_of(request).auditpurge.stop(purge_id)
    return Response(status_code=200)


@router.get("/{purge_id}/log")
async def get_purge_job_log(request: Request, purge_id: int, ctx: Security) -> Response:
    await require_system(ctx, RESOURCE, "read")
    return PlainTextResponse(await services_of(request).auditpurge.log(purge_id))
