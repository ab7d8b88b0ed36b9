"""Jobs by name, and what a running task sees (``TaskContext``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from moorage.db.engine import Database
from moorage.domain.executions import ExecutionService, TaskSpec
from moorage.metadata.queries import jobs as jq


class TaskStopped(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a job that noticed a stop request; the task ends as Stopped."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job: ``run`` does the work; a failed attempt is retried up to ``max_retries`` times
    with exponential backoff from ``backoff_seconds``; an attempt longer than
    ``timeout_seconds`` (default: the job service's) fails."""

    name: str
    run: Callable[[TaskContext], Awaitable[None]]
    max_retries: int = 0
    timeout_seconds: float | None = None
    backoff_seconds: float = 5.0


class JobRegistry:
    def __init__(self) -> None:
        self._jobs: dict[str, JobSpec] = {}

    def add(self, spec: JobSpec) -> None:
        if spec.name in self._jobs:
            raise ValueError(f"job {spec.name} registered twice")
        self._jobs[spec.name] = spec

    def get(self, name: str) -> JobSpec | None:
        return self._jobs.get(name)

    def names(self) -> list[str]:
        return sorted(self._jobs)


class TaskContext:
    """One attempt of one task: its parameters, its last checkpoint, and ways to report."""

    def __init__(self, db: Database, executions: ExecutionService, task_id: int, execution_id: int, attempt: int,
                 params: dict[str, Any], state: dict[str, Any]) -> None:
        self.db = db
        self.executions = executions
        self.task_id = task_id
        self.execution_id = execution_id
        self.attempt = attempt
        self.params = params
        self.state = state
        self.stop_requested = False  # set by the runner's heartbeat

    async def log(self, line: str) -> None:
        """Append a line to the task's log."""
        async with self.db.write() as uow:
            await jq.create_task_log(uow.conn, self.task_id, line)

    async def checkpoint(self, state: dict[str, Any]) -> None:
        """Persist progress; a retried or resumed attempt starts with ``ctx.state`` set to it."""
        self.state = state
        async with self.db.write() as uow:
            await jq.save_task_state(uow.conn, self.task_id, state)

    async def stopping(self) -> bool:
        """True once someone asked this task's execution to stop."""
        return self.stop_requested

    async def update_extra(self, extra: dict[str, Any]) -> None:
        """Merge into the execution's ``extra_attrs`` (what the API shows about the run)."""
        await self.executions.update_extra(self.execution_id, extra)

    async def spawn(self, tasks: list[TaskSpec]) -> None:
        """Add tasks to this execution."""
        async with self.db.write() as uow:
            await self.executions.spawn(uow, self.execution_id, tasks)
