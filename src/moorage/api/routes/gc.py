"""``/api/v2.0/system/gc``: garbage collection for system administrators (resource
``garbage-collection``) — run now, schedule, history, one run, stop it, read its log."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from moorage.api.jobviews import ScheduleRequest, execution_history, schedule_history
from moorage.api.lists import created, page_of, paged
from moorage.api.security import Security, require_system, services_of
from moorage.domain.gc import JOB, GcParams

router = APIRouter(prefix="/api/v2.0/system/gc", tags=["gc"])
RESOURCE = "garbage-collection"


async def _kick(request: Request, body: ScheduleRequest) -> int | None:
    """Harbor's kick: ``Manual`` runs now (the execution id), ``None`` removes the schedule,
    the other types set it."""
    kind = body.kind()
    gc = services_of(request).gc
    params = GcParams.parse(body.parameters)
    if kind == "Manual":
        return await gc.run_now(params)
    await gc.set_schedule(kind, body.schedule.cron if body.schedule else None, params)
    return None


@router.get("")
async def get_gc_history(request: Request, ctx: Security) -> Response:
    """Collections, newest first (``X-Total-Count``, ``Link``)."""
    await require_system(ctx, RESOURCE, "list")
    page = page_of(request)
    rows, total = await services_of(request).gc.history(page.page, page.page_size)
    return paged(request, [execution_history(r, JOB) for r in rows], page, total)


@router.get("/schedule")
async def get_gc_schedule(request: Request, ctx: Security) -> Response:
    await require_system(ctx, RESOURCE, "read")
    return JSONResponse(schedule_history(await services_of(request).gc.schedule()))


@router.post("/schedule", status_code=201)
async def create_gc_schedule(request: Request, body: ScheduleRequest, ctx: Security) -> Response:
    """201; for ``Manual`` the Location is the new run (409 while another collection is unfinished)."""
    await require_system(ctx, RESOURCE, "create")
    execution_id = await _kick(request, body)
    if execution_id is not None:
        return created(request, f"/api/v2.0/system/gc/{execution_id}")
    return created(request, "/api/v2.0/system/gc/schedule")


@router.put("/schedule")
async def update_gc_schedule(request: Request, body: ScheduleRequest, ctx: Security) -> Response:
    await require_system(ctx, RESOURCE, "update")
    await _kick(request, body)
    return Response(status_code=200)


@router.get("/{gc_id}")
async def get_gc(request: Request, gc_id: int, ctx: Security) -> Response:
    await require_system(ctx, RESOURCE, "read")
    return JSONResponse(execution_history(await services_of(request).gc.get(gc_id), JOB))


@router.put("/{gc_id}")
async def stop_gc(request: Request, gc_id: int, ctx: Security) -> Response:
    """Stop the run: a queued one at once, a running one after its current batch."""
    await require_system(ctx, RESOURCE, "stop")
    await services_of(request).gc.stop(gc_id)
    return Response(status_code=200)


@router.get("/{gc_id}/log")
async def get_gc_log(request: Request, gc_id: int, ctx: Security) -> Response:
    await require_system(ctx, RESOURCE, "read")
    return PlainTextResponse(await services_of(request).gc.log(gc_id))
