"""``/api/v2.0/jobservice/*`` and ``/schedules``: the job service dashboard — Pending work per
job type (with how long the oldest has waited), stopping queued work or a task's execution, a
task's log, and every cron schedule.  Worker pools are Harbor's gocraft concept; Moorage's
workers are processes consuming one queue, so ``/jobservice/pools`` is not offered, and queues
are not paused (``PUT /jobservice/queues/{job_type}`` supports ``stop`` only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from moorage.api.lists import page_of, paged
from moorage.api.security import Security, require_system, services_of
from moorage.core.errors import MoorageError

router = APIRouter(tags=["jobservice"])


class ActionRequest(BaseModel):
    action: str


@router.get("/api/v2.0/jobservice/queues")
async def list_job_queues(request: Request, ctx: Security) -> Response:
    await require_system(ctx, "jobservice-monitor", "list")
    return JSONResponse(await services_of(request).executions.queues())


@router.put("/api/v2.0/jobservice/queues/{job_type}")
async def action_pending_jobs(request: Request, job_type: str, body: ActionRequest, ctx: Security) -> Response:
    await require_system(ctx, "jobservice-monitor", "stop")
    if body.action != "stop":
        raise MoorageError(f"action {body.action!r} is not supported: Moorage queues can be stopped, not paused",
                           code="UNPROCESSABLE_ENTITY")
    await services_of(request).executions.stop_queue(job_type)
    return Response(status_code=200)


@router.put("/api/v2.0/jobservice/jobs/{job_id}")
async def stop_running_job(request: Request, job_id: int, ctx: Security) -> Response:
    await require_system(ctx, "jobservice-monitor", "stop")
    await services_of(request).executions.stop_task(job_id)
    return Response(status_code=200)


@router.get("/api/v2.0/jobservice/jobs/{job_id}/log")
async def get_job_log(request: Request, job_id: int, ctx: Security) -> Response:
    await require_system(ctx, "jobservice-monitor", "list")
    return PlainTextResponse(await services_of(request).executions.log(job_id))


@router.get("/api/v2.0/schedules")
async def list_schedules(request: Request, ctx: Security) -> Response:
    await require_system(ctx, "jobservice-monitor", "list")
    schedules = await services_of(request).schedules.list()
    page = page_of(request)
    items = [{"id": s.id, "vendor_type": s.vendor_type, "vendor_id": s.vendor_id, "cron": s.cron,
              "update_time": s.update_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
              "next_scheduled_time": s.next_run.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
             for s in schedules[page.offset:page.offset + page.limit]]
    return paged(request, items, page, len(schedules))


@router.get("/api/v2.0/schedules/{job_type}/paused")
async def get_schedule_paused(request: Request, job_type: str, ctx: Security) -> Response:
    await require_system(ctx, "jobservice-monitor", "list")
    return JSONResponse({"paused": False})
