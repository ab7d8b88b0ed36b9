"""Runs one task attempt: claim it in the database (one claimant wins, however many queues
delivered it), run the job under its time limit while heartbeating, then record the outcome
and the execution's status in one transaction.  Retries go back to Pending with a backoff."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from moorage.config.settings import JobSettings
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.domain.executions import ERROR, STOPPED, SUCCESS, ExecutionService
from moorage.jobs.registry import JobRegistry, JobSpec, TaskContext, TaskStopped
from moorage.metadata.queries import jobs as jq

log = structlog.get_logger(__name__)
STOP_GRACE_BEATS = 3  # heartbeats a job gets to notice a stop request before it is cancelled
Requeue = Callable[[list[int], float], Awaitable[None]]


def backoff(base: float, attempt: int) -> float:
    """Seconds before retry ``attempt`` + 1: base, 2·base, 4·base… capped at an hour."""
    return float(min(base * (2 ** max(attempt - 1, 0)), 3600.0))


class TaskRunner:
    def __init__(self, db: Database, executions: ExecutionService, registry: JobRegistry, settings: JobSettings,
                 owner: str) -> None:
        self.db = db
        self.executions = executions
        self.registry = registry
        self.settings = settings
        self.owner = owner
        self.requeue: Requeue | None = None

    async def run(self, task_id: int) -> str | None:
        """Run the task if it is runnable now; returns its new status (None if not claimed)."""
        async with self.db.read() as conn:
            try:
                task = await jq.get_task(conn, task_id)
            except Exception:
                return None
        spec = self.registry.get(task.job)
        timeout = (spec.timeout_seconds if spec and spec.timeout_seconds else self.settings.default_timeout_seconds)
        now = utcnow()
        async with self.db.write() as uow:
            if not await jq.claim_task(uow.conn, task_id, self.owner, now, now + timedelta(seconds=timeout)):
                return None
            await jq.refresh_execution(uow.conn, task.execution_id)
        attempt = task.attempts + 1
        bound = log.bind(task_id=task_id, job=task.job, attempt=attempt)
        if spec is None:
            return await self._finish(task_id, task.execution_id, ERROR, f"unknown job {task.job!r}")
        ctx = TaskContext(self.db, self.executions, task_id, task.execution_id, attempt, dict(task.params or {}),
                          dict(task.state or {}))
        bound.info("task_started")
        status, message, retry = await self._attempt(spec, ctx, timeout)
        if retry is not None:
            bound.warning("task_retry", error=message, delay=retry)
            await self._finish(task_id, task.execution_id, "Pending", message, retry)
            if self.requeue is not None:
                await self.requeue([task_id], retry)
            return "Pending"
        bound.info("task_finished", status=status, message=message)
        return await self._finish(task_id, task.execution_id, status, message)

    async def _attempt(self, spec: JobSpec, ctx: TaskContext, timeout: float) -> tuple[str, str, float | None]:
        """(status, message, retry delay or None)."""
        work: asyncio.Future[None] = asyncio.ensure_future(spec.run(ctx))
        beat = asyncio.create_task(self._heartbeat(ctx, work))
        try:
            await asyncio.wait_for(asyncio.shield(work), timeout)
        except TimeoutError:
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
            return ERROR, f"exceeded its time limit of {timeout:g} s", None
        except TaskStopped:
            return STOPPED, "stopped", None
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():  # the process is shutting down
                work.cancel()
                raise  # the queue puts the task back to Pending (or the reaper does after a crash)
            if ctx.stop_requested:
                return STOPPED, "stopped", None
            return ERROR, "task lost its worker", None
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if ctx.attempt <= spec.max_retries:
                return ERROR, message, backoff(spec.backoff_seconds, ctx.attempt)
            return ERROR, message, None
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        return (STOPPED, "stopped", None) if ctx.stop_requested else (SUCCESS, "", None)

    async def _heartbeat(self, ctx: TaskContext, work: asyncio.Future[None]) -> None:
        since_stop = 0
        while not work.done():
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                async with self.db.write() as uow:
                    stop = await jq.heartbeat(uow.conn, ctx.task_id, self.owner)
            except Exception:
                log.warning("task_heartbeat_failed", task_id=ctx.task_id, exc_info=True)
                continue
            if stop is None:  # reaped (we were silent too long): someone else owns it now
                work.cancel()
                return
            if stop:
                ctx.stop_requested = True
                since_stop += 1
                if since_stop > STOP_GRACE_BEATS:
                    work.cancel()
                    return

    async def _finish(self, task_id: int, execution_id: int, status: str, message: str,
                      retry: float | None = None) -> str:
        retry_at = utcnow() + timedelta(seconds=retry) if retry is not None else None
        async with self.db.write() as uow:
            await jq.finish_task(uow.conn, task_id, self.owner, status, message, retry_at)
            if message and status != "Pending":
                await jq.create_task_log(uow.conn, task_id, f"{status.lower()}: {message}")
            elif message:
                await jq.create_task_log(uow.conn, task_id, f"attempt failed, retrying in {retry:g} s: {message}")
            await jq.refresh_execution(uow.conn, execution_id)
        return status
