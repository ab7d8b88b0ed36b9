"""Executions and tasks as the API and the jobs see them: submit work (enqueued only after
the submitting transaction commits), list, stop, read logs.  The database is the source of
truth for status; queues only carry task ids."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moorage.core.errors import Conflict, NotFound
from moorage.db.base import utcnow
from moorage.db.engine import Database, UnitOfWork
from moorage.metadata.models import Execution, Task
from moorage.metadata.queries import jobs as jq

PENDING, RUNNING, STOPPED, ERROR, SUCCESS = "Pending", "Running", "Stopped", "Error", "Success"
MANUAL, SCHEDULE, EVENT = "MANUAL", "SCHEDULE", "EVENT"
GARBAGE_COLLECTION, RETENTION, WEBHOOK, PURGE_AUDIT_LOG = "GARBAGE_COLLECTION", "RETENTION", "WEBHOOK", \
    "PURGE_AUDIT_LOG"

Notifier = Callable[[list[int]], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    job: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    id: int
    vendor_type: str
    vendor_id: int
    trigger: str
    status: str
    status_message: str
    extra_attrs: dict[str, Any]
    start_time: datetime
    end_time: datetime | None
    update_time: datetime
    metrics: dict[str, int]


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: int
    execution_id: int
    job: str
    params: dict[str, Any]
    status: str
    status_message: str
    attempts: int
    state: dict[str, Any]
    creation_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    update_time: datetime


def _metrics(counts: dict[str, int]) -> dict[str, int]:
    """Harbor's execution metrics."""
    return {
        "task_count": sum(counts.values()), "success_task_count": counts.get(SUCCESS, 0),
        "error_task_count": counts.get(ERROR, 0), "pending_task_count": counts.get(PENDING, 0),
        "running_task_count": counts.get(RUNNING, 0), "scheduled_task_count": 0,
        "stopped_task_count": counts.get(STOPPED, 0),
    }


def _execution(row: Execution, counts: dict[str, int]) -> ExecutionRecord:
    return ExecutionRecord(row.id, row.vendor_type, row.vendor_id, row.trigger, row.status, row.status_message,
                           dict(row.extra_attrs or {}), row.start_time, row.end_time, row.update_time,
                           _metrics(counts))


def task_record(row: Task) -> TaskRecord:
    return TaskRecord(row.id, row.execution_id, row.job, dict(row.params or {}), row.status, row.status_message,
                      row.attempts, dict(row.state or {}), row.creation_time, row.start_time, row.end_time,
                      row.update_time)


class ExecutionService:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Set by the job service: told which tasks to run once their rows are committed.
        self.notifier: Notifier | None = None

    async def submit(self, uow: UnitOfWork, vendor_type: str, vendor_id: int, trigger: str, tasks: list[TaskSpec],
                     extra_attrs: dict[str, Any] | None = None, exclusive: bool = False) -> int:
        """Write an execution and its tasks in the caller's transaction; the tasks are enqueued
        after it commits.  ``exclusive``: Conflict while another run of the vendor is unfinished."""
        if exclusive and await jq.find_unfinished_execution(uow.conn, vendor_type, vendor_id) is not None:
            raise Conflict(f"a {vendor_type} execution is already running")
        execution_id = await jq.create_execution(uow.conn, vendor_type, vendor_id, trigger, extra_attrs or {})
        ids = await jq.create_tasks(uow.conn, execution_id, [(t.job, t.params) for t in tasks])
        if not ids:
            await jq.refresh_execution(uow.conn, execution_id)  # nothing to do: done at once
        elif self.notifier is not None:
            notifier = self.notifier
            uow.after_commit(lambda: notifier(ids))
        return execution_id

    async def start(self, vendor_type: str, vendor_id: int, trigger: str, tasks: list[TaskSpec],
                    extra_attrs: dict[str, Any] | None = None, exclusive: bool = False) -> int:
        async with self.db.write() as uow:
            return await self.submit(uow, vendor_type, vendor_id, trigger, tasks, extra_attrs, exclusive)

    async def spawn(self, uow: UnitOfWork, execution_id: int, tasks: builtins.list[TaskSpec]) -> builtins.list[int]:
        """Add tasks to an existing execution (e.g. one per repository found by a planner task)."""
        ids = await jq.create_tasks(uow.conn, execution_id, [(t.job, t.params) for t in tasks])
        if ids and self.notifier is not None:
            notifier = self.notifier
            uow.after_commit(lambda: notifier(ids))
        return ids

    async def list(self, vendor_type: str, vendor_id: int | None, page: int, page_size: int
                   ) -> tuple[list[ExecutionRecord], int]:
        """A page of executions, newest first, and the total."""
        async with self.db.read() as conn:
            total = await jq.count_executions(conn, vendor_type, vendor_id)
            rows = await jq.list_executions(conn, vendor_type, vendor_id, (page - 1) * page_size, page_size)
            counts = await jq.list_task_counts(conn, [r.id for r in rows])
        return [_execution(r, counts.get(r.id, {})) for r in rows], total

    async def get(self, execution_id: int, vendor_type: str | None = None) -> ExecutionRecord:
        async with self.db.read() as conn:
            row = await jq.get_execution(conn, execution_id)
            if vendor_type is not None and row.vendor_type != vendor_type:
                raise NotFound(f"execution {execution_id} not found")
            counts = await jq.list_task_counts(conn, [execution_id])
        return _execution(row, counts.get(execution_id, {}))

    async def stop(self, execution_id: int) -> None:
        """Pending tasks stop at once; running ones are asked to (they stop at their next check)."""
        async with self.db.write() as uow:
            await jq.get_execution(uow.conn, execution_id)
            await jq.stop_execution_tasks(uow.conn, execution_id)
            await jq.refresh_execution(uow.conn, execution_id)

    async def tasks(self, execution_id: int) -> builtins.list[TaskRecord]:
        async with self.db.read() as conn:
            await jq.get_execution(conn, execution_id)
            return [task_record(t) for t in await jq.list_tasks(conn, execution_id)]

    async def task(self, task_id: int) -> TaskRecord:
        async with self.db.read() as conn:
            return task_record(await jq.get_task(conn, task_id))

    async def log(self, task_id: int) -> str:
        async with self.db.read() as conn:
            await jq.get_task(conn, task_id)
            lines = await jq.list_task_log(conn, [task_id])
        return "".join(f"{at.strftime('%Y-%m-%dT%H:%M:%SZ')} {line}\n" for _, at, line in lines)

    async def execution_log(self, execution_id: int) -> str:
        async with self.db.read() as conn:
            tasks = await jq.list_tasks(conn, execution_id)
            lines = await jq.list_task_log(conn, [t.id for t in tasks])
        return "".join(f"{at.strftime('%Y-%m-%dT%H:%M:%SZ')} {line}\n" for _, at, line in lines)

    async def update_extra(self, execution_id: int, extra: dict[str, Any]) -> None:
        async with self.db.write() as uow:
            await jq.update_execution_extra(uow.conn, execution_id, extra)

    async def queues(self) -> builtins.list[dict[str, Any]]:
        """Harbor's JobQueue list: Pending tasks per job type and how long the oldest has waited."""
        async with self.db.read() as conn:
            stats = await jq.list_queue_stats(conn)
        now = utcnow()
        return [{"job_type": job, "count": n, "latency": int((now - oldest).total_seconds()) if oldest else 0,
                 "paused": False} for job, n, oldest in stats]

    async def stop_queue(self, job: str) -> int:
        """Stop every Pending task of a job type; returns how many executions it touched."""
        async with self.db.write() as uow:
            touched = await jq.stop_pending_tasks_of_job(uow.conn, job)
            for execution_id in touched:
                await jq.refresh_execution(uow.conn, execution_id)
        return len(touched)

    async def stop_requested(self, execution_id: int) -> bool:
        """Whether the run was asked to stop, read from the database (a task spawned while the
        stop request was being written still sees it here)."""
        async with self.db.read() as conn:
            return await jq.execution_stop_requested(conn, execution_id)

    async def stop_task(self, task_id: int) -> None:
        """Stop the execution a task belongs to (Harbor's "stop running job")."""
        execution_id = (await self.task(task_id)).execution_id
        await self.stop(execution_id)

    async def delete_old(self, vendor_type: str, vendor_id: int | None, keep: int) -> int:
        async with self.db.write() as uow:
            return await jq.delete_old_executions(uow.conn, vendor_type, vendor_id, keep)
