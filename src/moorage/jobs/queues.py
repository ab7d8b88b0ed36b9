"""Queue backends: they carry task ids to the runner; the database decides what runs.

``LocalQueue`` (the embedded default) runs tasks in this process: ids arrive from
after-commit hooks and from the ticker's scan of Pending tasks, so a task queued before a
crash or restart runs after it.

``SaqQueue`` (scaled out) puts ids on a SAQ queue in Redis; ``moorage worker`` processes
consume it.  SAQ was chosen over taskiq, arq and dramatiq: it is asyncio-native (our runner
and database layer are async), small, maintained, and its scheduled enqueue gives retry
backoff without a second mechanism; job ids carry no state, so its at-least-once delivery is
made exactly-once by the runner's compare-and-set claim in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

import structlog

from moorage.jobs.runner import TaskRunner

log = structlog.get_logger(__name__)


class JobQueue(Protocol):
    async def enqueue(self, task_ids: list[int], delay: float = 0.0) -> None:
        """Deliver ``task_ids`` to a runner (after ``delay`` seconds); duplicates are harmless."""
        ...

    async def start(self, run_tasks: bool) -> None:
        """Connect; with ``run_tasks`` also consume and run tasks in this process."""
        ...

    async def stop(self) -> None:
        ...


class LocalQueue:
    def __init__(self, runner: TaskRunner, concurrency: int) -> None:
        self.runner = runner
        self.concurrency = concurrency
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._queued: set[int] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()

    async def enqueue(self, task_ids: list[int], delay: float = 0.0) -> None:
        if delay > 0:
            loop = asyncio.get_running_loop()
            handle: asyncio.TimerHandle | None = None

            def later() -> None:
                if handle is not None:
                    self._timers.discard(handle)
                self._put(task_ids)

            handle = loop.call_later(delay, later)
            self._timers.add(handle)
            return
        self._put(task_ids)

    def _put(self, task_ids: list[int]) -> None:
        for task_id in task_ids:
            if task_id not in self._queued:
                self._queued.add(task_id)
                self._queue.put_nowait(task_id)

    async def start(self, run_tasks: bool) -> None:
        if run_tasks:
            self._workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]

    @property
    def runs_tasks(self) -> bool:
        return bool(self._workers)

    async def _work(self) -> None:
        while True:
            task_id = await self._queue.get()
            self._queued.discard(task_id)
            try:
                await self.runner.run(task_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("task_run_failed", task_id=task_id)

    async def stop(self) -> None:
        for handle in self._timers:
            handle.cancel()
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []


class SaqQueue:
    FUNCTION = "run_task"

    def __init__(self, runner: TaskRunner, url: str, name: str, concurrency: int) -> None:
        from saq import Queue

        self.runner = runner
        self.concurrency = concurrency
        self.queue = Queue.from_url(url, name=name)
        self._worker: Any = None
        self._worker_task: asyncio.Task[None] | None = None

    async def enqueue(self, task_ids: list[int], delay: float = 0.0) -> None:
        scheduled = int(time.time() + delay) if delay > 0 else 0
        for task_id in task_ids:
            # No SAQ retries or timeout: the runner owns both, with state in the database.
            await self.queue.enqueue(self.FUNCTION, task_id=task_id, scheduled=scheduled, timeout=0, retries=1,
                                     ttl=600)

    async def start(self, run_tasks: bool) -> None:
        await self.queue.connect()
        if not run_tasks:
            return
        from saq import Worker

        async def run_task(ctx: dict[str, Any], *, task_id: int) -> None:
            await self.runner.run(task_id)

        self._worker = Worker(self.queue, functions=[(self.FUNCTION, run_task)], concurrency=self.concurrency)
        self._worker.SIGNALS = []  # the process's own handlers stop the job service (and this worker) in order
        self._worker_task = asyncio.create_task(self._worker.start())

    @property
    def runs_tasks(self) -> bool:
        return self._worker is not None

    async def stop(self) -> None:
        if self._worker is not None:
            await self._worker.stop()
            if self._worker_task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._worker_task
        await self.queue.disconnect()
