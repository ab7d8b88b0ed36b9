"""The periodic side of the job service, run by every server and worker: fire due
schedules (a compare-and-set on the schedule row makes each tick fire once, however many
processes tick), dispatch the event outbox to subscribers, give tasks of dead workers back or
fail them, and re-deliver Pending tasks whose enqueue was lost."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from moorage.config.settings import JobSettings
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.domain.events import EventRecord, Subscriber
from moorage.domain.executions import ERROR, SCHEDULE, ExecutionService, TaskSpec
from moorage.domain.schedules import next_after
from moorage.jobs.queues import JobQueue
from moorage.jobs.registry import JobRegistry
from moorage.jobs.runner import backoff
from moorage.metadata.queries import events as eq
from moorage.metadata.queries import jobs as jq

log = structlog.get_logger(__name__)
EVENT_BATCH = 100
# Vendors that never run twice at once: a due tick is skipped while one is unfinished.
EXCLUSIVE_VENDORS = frozenset({"GARBAGE_COLLECTION", "PURGE_AUDIT_LOG", "RETENTION", "REPLICATION"})


class Ticker:
    def __init__(self, db: Database, executions: ExecutionService, registry: JobRegistry, queue: JobQueue,
                 settings: JobSettings, local: bool) -> None:
        self.db = db
        self.executions = executions
        self.registry = registry
        self.queue = queue
        self.settings = settings
        self.local = local  # local queue: every runnable Pending task is (re)delivered each tick
        self.subscribers: list[Subscriber] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def wake(self) -> None:
        """Something was committed to the outbox: dispatch now rather than at the next tick."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        # A flag as well as the cancel: on Python 3.11 asyncio.wait_for can swallow a cancel
        # that arrives as the awaited event is set (a wake just before shutdown).
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        await self._guarded(self.tick)
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.tick_seconds)
            if self._stopping:
                return
            if self._wake.is_set():
                self._wake.clear()
                await self._guarded(self.dispatch_events)
                continue
            await self._guarded(self.tick)

    @staticmethod
    async def _guarded(work: object) -> None:
        try:
            await work()  # type: ignore[operator]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job_tick_failed", work=getattr(work, "__name__", str(work)))

    async def tick(self) -> None:
        await self.fire_schedules()
        await self.dispatch_events()
        await self.reap_lost_tasks()
        await self.redeliver_pending()

    async def fire_schedules(self) -> int:
        """Submit one execution per due schedule tick this process wins; returns how many."""
        now = utcnow()
        async with self.db.read() as conn:
            due = await jq.list_due_schedules(conn, now)
        fired = 0
        for schedule in due:
            upcoming = next_after(schedule.cron, max(now, schedule.next_run))
            async with self.db.write() as uow:
                if not await jq.advance_schedule(uow.conn, schedule.id, schedule.next_run, upcoming):
                    continue  # another process took this tick
                busy = (schedule.vendor_type in EXCLUSIVE_VENDORS and await jq.find_unfinished_execution(
                    uow.conn, schedule.vendor_type, schedule.vendor_id) is not None)
                if busy:
                    log.info("schedule_skipped_busy", vendor=schedule.vendor_type, vendor_id=schedule.vendor_id)
                    continue
                await self.executions.submit(
                    uow, schedule.vendor_type, schedule.vendor_id, SCHEDULE,
                    [TaskSpec(schedule.job, dict(schedule.params or {}))],
                    extra_attrs={**dict(schedule.params or {}),
                                 "scheduled_at": schedule.next_run.strftime("%Y-%m-%dT%H:%M:%SZ")})
            fired += 1
        return fired

    async def dispatch_events(self) -> int:
        """Hand committed outbox events to every subscriber, once each; returns how many."""
        handled = 0
        while True:
            async with self.db.write() as uow:
                rows = await eq.list_events(uow.conn, EVENT_BATCH)
                for row in rows:
                    event = EventRecord(row.id, row.event_type, row.project_id, row.operator, dict(row.data or {}),
                                        row.occur_at)
                    for subscriber in self.subscribers:
                        try:
                            await subscriber(uow, event)
                        except Exception:  # one broken subscriber must not block the outbox
                            log.exception("event_subscriber_failed", event_type=event.event_type, event_id=event.id)
                await eq.delete_events(uow.conn, [r.id for r in rows])
            handled += len(rows)
            if len(rows) < EVENT_BATCH:
                return handled

    async def reap_lost_tasks(self) -> int:
        """Running tasks whose worker went silent (or that overran their deadline): retried if
        they have attempts left, else failed; returns how many."""
        now = utcnow()
        async with self.db.read() as conn:
            lost = await jq.list_lost_tasks(conn, now - timedelta(seconds=self.settings.dead_after_seconds), now)
        for task in lost:
            spec = self.registry.get(task.job)
            overran = task.deadline is not None and task.deadline < now
            if overran:
                status, message, retry_at = ERROR, "exceeded its time limit", None
            elif spec is not None and task.attempts <= spec.max_retries:
                delay = backoff(spec.backoff_seconds, task.attempts)
                status, message, retry_at = "Pending", "worker lost; retrying", now + timedelta(seconds=delay)
            else:
                status, message, retry_at = ERROR, "worker lost", None
            async with self.db.write() as uow:
                if await jq.reset_lost_task(uow.conn, task, status, message, retry_at):
                    await jq.create_task_log(uow.conn, task.id, message)
                    await jq.refresh_execution(uow.conn, task.execution_id)
                    log.warning("task_reaped", task_id=task.id, status=status, message=message)
        return len(lost)

    async def redeliver_pending(self) -> None:
        now = utcnow()
        async with self.db.read() as conn:
            if self.local:
                ids = await jq.list_runnable_task_ids(conn, now, 500)
            else:  # give the queue time to deliver before assuming an enqueue was lost
                grace = timedelta(seconds=max(30.0, 4 * self.settings.tick_seconds))
                ids = await jq.list_stale_pending_ids(conn, now - grace, 500)
        if ids:
            await self.queue.enqueue(ids)
