"""A system-wide job with one schedule and one history (garbage collection, audit-log purge):
run it now (one run at a time), schedule it, list its runs, stop one, read its log.  Each job
supplies how its parameters are validated (``parse``) and what its runs record (``attrs``)."""

from __future__ import annotations

from typing import Any

from moorage.core.errors import BadRequest, NotFound
from moorage.domain.executions import MANUAL, ExecutionRecord, ExecutionService, TaskSpec
from moorage.domain.schedules import ScheduleRecord, ScheduleService

VENDOR_ID = 0  # one system-wide job of each kind
KEEP_EXECUTIONS = 50  # runs kept in the history, as Harbor keeps
MAX_ID = 2**31 - 1


class SystemJob:
    def __init__(self, executions: ExecutionService, schedules: ScheduleService, vendor_type: str, job: str,
                 noun: str) -> None:
        self.executions = executions
        self.schedules = schedules
        self.vendor_type = vendor_type
        self.job = job
        self.noun = noun  # "garbage collection", "purge job": for error messages

    def parse(self, raw: dict[str, Any] | None) -> dict[str, Any]:
        """The job's parameters from an API body; BadRequest names what is wrong."""
        return dict(raw or {})

    def attrs(self, params: dict[str, Any]) -> dict[str, Any]:
        """What a run records about itself (its ``extra_attrs``)."""
        return params

    async def run_now(self, params: dict[str, Any], trigger: str = MANUAL) -> int:
        """Start a run; Conflict while another one is unfinished.  Returns the execution id."""
        execution_id = await self.executions.start(self.vendor_type, VENDOR_ID, trigger,
                                                   [TaskSpec(self.job, params)], extra_attrs=self.attrs(params),
                                                   exclusive=True)
        await self.executions.delete_old(self.vendor_type, VENDOR_ID, KEEP_EXECUTIONS)
        return execution_id

    async def set_schedule(self, kind: str, cron: str | None, raw: dict[str, Any] | None) -> ScheduleRecord | None:
        """Schedule runs (Hourly, Daily, Weekly, Custom with a six-field cron); "None" stops."""
        if kind in ("", "None"):
            await self.schedules.delete(self.vendor_type, VENDOR_ID)
            return None
        return await self.schedules.set(self.vendor_type, VENDOR_ID, kind, cron, self.job, self.parse(raw))

    async def schedule(self) -> ScheduleRecord | None:
        return await self.schedules.get(self.vendor_type, VENDOR_ID)

    async def history(self, page: int, page_size: int) -> tuple[list[ExecutionRecord], int]:
        return await self.executions.list(self.vendor_type, VENDOR_ID, page, page_size)

    async def get(self, execution_id: int) -> ExecutionRecord:
        """The run; NotFound (also for another vendor's execution)."""
        if not 0 < execution_id <= MAX_ID:
            raise NotFound(f"{self.noun} {execution_id} not found")
        try:
            return await self.executions.get(execution_id, self.vendor_type)
        except NotFound:
            raise NotFound(f"{self.noun} {execution_id} not found") from None

    async def stop(self, execution_id: int) -> None:
        """Pending: stopped at once; running: after its current batch (the next run resumes)."""
        await self.get(execution_id)
        await self.executions.stop(execution_id)

    async def log(self, execution_id: int) -> str:
        await self.get(execution_id)
        return await self.executions.execution_log(execution_id)

    async def task_ids(self, execution_id: int) -> list[int]:
        return [t.id for t in await self.executions.tasks(execution_id)]


def require_parameters(raw: dict[str, Any] | None, what: str) -> dict[str, Any]:
    if raw is None:
        raise BadRequest(f"parameters with {what} are required")
    return raw
