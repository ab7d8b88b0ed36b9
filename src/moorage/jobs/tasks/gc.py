"""The GARBAGE_COLLECTION job: one task runs the whole collection through ``GarbageCollector``,
checkpointing after every batch, so a retried attempt (after a crash, a lost worker or an
error) resumes where the last one stopped instead of starting over."""

from __future__ import annotations

from typing import Any

from moorage.domain.gc import JOB, GarbageCollector, GcParams
from moorage.jobs.registry import JobSpec, TaskContext, TaskStopped


class _TaskReporter:
    """The collector's reporter on top of a task context."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx

    @property
    def state(self) -> dict[str, Any]:
        return self.ctx.state

    async def log(self, line: str) -> None:
        await self.ctx.log(line)

    async def checkpoint(self, state: dict[str, Any]) -> None:
        await self.ctx.checkpoint(state)

    async def stopping(self) -> bool:
        return await self.ctx.stopping()

    async def update_extra(self, extra: dict[str, Any]) -> None:
        await self.ctx.update_extra(extra)


def gc_job(gc: GarbageCollector) -> JobSpec:
    async def run(ctx: TaskContext) -> None:
        stats = await gc.run(GcParams.parse(ctx.params), _TaskReporter(ctx))
        if stats.stopped:
            raise TaskStopped()

    # Retries resume from the checkpoint (Harbor's GC is never retried and starts over).
    return JobSpec(name=JOB, run=run, max_retries=3, backoff_seconds=5.0)
