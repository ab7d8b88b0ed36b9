"""Harbor's system-job API shared by ``/system/gc`` and ``/system/purgeaudit``: an execution or
a schedule as an ``ExecHistory`` (``GCHistory`` is the same object), the ``Schedule`` request
body (``{"schedule": {"type", "cron"}, "parameters": {...}}``), and the routes themselves."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict

from moorage.api.lists import created, page_of, paged
from moorage.api.security import Security, require_system, services_of
from moorage.api.services import ApiServices
from moorage.core.errors import BadRequest
from moorage.domain.executions import ExecutionRecord
from moorage.domain.schedules import ScheduleRecord, schedule_object
from moorage.domain.systemjobs import SystemJob

SCHEDULE_TYPES = ("Hourly", "Daily", "Weekly", "Custom", "Manual", "None")


class ScheduleObject(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    type: str | None = None
    cron: str | None = None


class ScheduleRequest(BaseModel):
    """Harbor's ``Schedule`` body (its read-only fields are ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    schedule: ScheduleObject | None = None
    parameters: dict[str, Any] | None = None

    def kind(self) -> str:
        """The schedule type; BadRequest when missing or unknown."""
        kind = self.schedule.type if self.schedule is not None else None
        if kind not in SCHEDULE_TYPES:
            raise BadRequest(f"schedule.type must be one of {', '.join(SCHEDULE_TYPES)}")
        assert kind is not None
        return kind


def timestamp(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment is not None else None


def execution_history(record: ExecutionRecord, job_name: str) -> dict[str, Any]:
    """One run as Harbor lists it: the trigger is the kind (``MANUAL``/``SCHEDULE``) and, title-cased,
    the schedule type; the execution's extra attributes are the job parameters (JSON text)."""
    return {
        "id": record.id, "job_name": job_name, "job_kind": record.trigger,
        "job_parameters": json.dumps(record.extra_attrs, sort_keys=True),
        "schedule": {"type": record.trigger.title(), "cron": ""},
        "job_status": record.status, "deleted": False,
        "creation_time": timestamp(record.start_time), "update_time": timestamp(record.update_time),
    }


def schedule_history(record: ScheduleRecord | None) -> dict[str, Any]:
    """The schedule as Harbor returns it from ``GET .../schedule`` (type "None" when unset)."""
    obj = {k: v for k, v in schedule_object(record).items() if v is not None}
    if record is None:
        return {"schedule": obj}
    return {
        "id": record.id, "job_name": "", "job_kind": record.cron,
        "job_parameters": json.dumps(record.params, sort_keys=True), "schedule": obj, "job_status": "",
        "deleted": False, "creation_time": timestamp(record.creation_time),
        "update_time": timestamp(record.update_time),
    }


def system_job_router(path: str, resource: str, tag: str, job_of: Callable[[ApiServices], SystemJob]
                      ) -> APIRouter:
    """Harbor's routes for a system job at ``/api/v2.0/system/<path>`` (resource ``resource``):
    history, one run, stop it (PUT), its log, and the schedule (GET; POST/PUT "kick": type
    ``Manual`` runs now, ``None`` removes the schedule, the other types set it)."""
    base = f"/api/v2.0/system/{path}"
    router = APIRouter(prefix=base, tags=[tag])

    def job(request: Request) -> SystemJob:
        return job_of(services_of(request))

    async def kick(request: Request, body: ScheduleRequest) -> int | None:
        kind, system_job = body.kind(), job(request)
        if kind == "Manual":
            return await system_job.run_now(system_job.parse(body.parameters))
        await system_job.set_schedule(kind, body.schedule.cron if body.schedule else None, body.parameters)
        return None

    @router.get("")
    async def history(request: Request, ctx: Security) -> Response:
        """Runs, newest first (``X-Total-Count``, ``Link``)."""
        await require_system(ctx, resource, "list")
        page = page_of(request)
        system_job = job(request)
        rows, total = await system_job.history(page.page, page.page_size)
        return paged(request, [execution_history(r, system_job.job) for r in rows], page, total)

    @router.get("/schedule")
    async def get_schedule(request: Request, ctx: Security) -> Response:
        await require_system(ctx, resource, "read")
        return JSONResponse(schedule_history(await job(request).schedule()))

    @router.post("/schedule", status_code=201)
    async def create_schedule(request: Request, body: ScheduleRequest, ctx: Security) -> Response:
        """201; for ``Manual`` the Location is the new run (409 while another run is unfinished)."""
        await require_system(ctx, resource, "create")
        execution_id = await kick(request, body)
        return created(request, f"{base}/{execution_id}" if execution_id is not None else f"{base}/schedule")

    @router.put("/schedule")
    async def update_schedule(request: Request, body: ScheduleRequest, ctx: Security) -> Response:
        await require_system(ctx, resource, "update")
        await kick(request, body)
        return Response(status_code=200)

    @router.get("/{execution_id}")
    async def get_run(request: Request, execution_id: int, ctx: Security) -> Response:
        await require_system(ctx, resource, "read")
        system_job = job(request)
        return JSONResponse(execution_history(await system_job.get(execution_id), system_job.job))

    @router.put("/{execution_id}")
    async def stop_run(request: Request, execution_id: int, ctx: Security) -> Response:
        """Stop the run: a queued one at once, a running one after its current batch."""
        await require_system(ctx, resource, "stop")
        await job(request).stop(execution_id)
        return Response(status_code=200)

    @router.get("/{execution_id}/log")
    async def get_log(request: Request, execution_id: int, ctx: Security) -> Response:
        await require_system(ctx, resource, "read")
        return PlainTextResponse(await job(request).log(execution_id))

    return router
