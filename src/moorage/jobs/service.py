"""The job service as one object: the runner, the queue backend and the ticker, wired to the
domain's execution and event services.  ``moorage serve`` starts it to enqueue (and, on the
embedded default, to run tasks); ``moorage worker`` starts it to run tasks."""

from __future__ import annotations

import os
import socket
import uuid

import structlog

from moorage.config.settings import JobSettings
from moorage.db.engine import Database
from moorage.domain.events import EventLog, Subscriber
from moorage.domain.executions import ExecutionService
from moorage.jobs.queues import JobQueue, LocalQueue, SaqQueue
from moorage.jobs.registry import JobRegistry, JobSpec
from moorage.jobs.runner import TaskRunner
from moorage.jobs.ticker import Ticker
from moorage.metadata.queries import jobs as jq

log = structlog.get_logger(__name__)


class JobService:
    def __init__(self, settings: JobSettings, db: Database, executions: ExecutionService, events: EventLog) -> None:
        self.settings = settings
        self.db = db
        self.registry = JobRegistry()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.runner = TaskRunner(db, executions, self.registry, settings, self.owner)
        self.queue: JobQueue
        if settings.backend == "redis":
            self.queue = SaqQueue(self.runner, settings.redis_url, settings.queue_name, settings.workers)
        else:
            self.queue = LocalQueue(self.runner, settings.workers)
        self.runner.requeue = self.queue.enqueue
        self.ticker = Ticker(db, executions, self.registry, self.queue, settings, settings.backend == "local")
        executions.notifier = self._notify
        events.wake = self.ticker.wake
        self._started = False

    def add(self, spec: JobSpec) -> None:
        self.registry.add(spec)

    def subscribe(self, subscriber: Subscriber) -> None:
        self.ticker.subscribe(subscriber)

    async def _notify(self, task_ids: list[int]) -> None:
        await self.queue.enqueue(task_ids)

    async def start(self, run_tasks: bool) -> None:
        """Start ticking; with ``run_tasks`` run tasks in this process too."""
        await self.queue.start(run_tasks)
        self.ticker.start()
        self._started = True
        log.info("job_service_started", backend=self.settings.backend, runs_tasks=run_tasks, owner=self.owner,
                 jobs=self.registry.names())

    async def stop(self) -> None:
        if not self._started:
            return
        await self.ticker.stop()
        await self.queue.stop()
        async with self.db.write() as uow:  # tasks cut short run again, here or elsewhere
            released = await jq.release_owned_tasks(uow.conn, self.owner)
        if released:
            log.info("tasks_released", count=released)
        self._started = False
