"""The PURGE_AUDIT_LOG job: delete audit entries older than the retention, in batches of one
transaction each, checkpointing after every batch.  A retried attempt (after a crash or an
error) resumes with the same cut-off, so no entry is judged twice against a moving line, and
the count it reports (entries found at the start minus those left) stays exact.  A dry run
only counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moorage.domain.auditpurge import BATCH_SIZE, JOB, AuditPurgeService, cutoff, parse_params, selection_of
from moorage.jobs.registry import JobSpec, TaskContext, TaskStopped
from moorage.metadata.queries.audit import PurgeSelection


def purge_audit_job(purger: AuditPurgeService, batch_size: int = BATCH_SIZE) -> JobSpec:
    async def run(ctx: TaskContext) -> None:
        params = parse_params(ctx.params)
        selection = selection_of(params.include_event_types)
        await ctx.update_extra(params.as_dict())
        if params.include_event_types == "":
            await ctx.log("no event types selected: nothing to purge")
            await ctx.update_extra({"purged": 0})
            return
        what = params.include_event_types or "every event type"
        before = datetime.fromisoformat(ctx.state["before"]) if "before" in ctx.state else \
            cutoff(params.retention_hours)
        if params.dry_run:
            found = await purger.count(before, selection)
            await ctx.log(f"[DRY RUN] {found} audit log entries older than {before:%Y-%m-%dT%H:%M:%SZ} "
                          f"({what}) would be purged")
            await ctx.update_extra({"purged": found})
            return
        if "total" in ctx.state:
            await ctx.log(f"resuming after {ctx.state['deleted']} deleted entries")
        else:
            total = await purger.count(before, selection)
            await ctx.log(f"{total} audit log entries older than {before:%Y-%m-%dT%H:%M:%SZ} ({what}) to purge, "
                          f"retention {params.retention_hours} hours")
            await ctx.checkpoint({"before": before.isoformat(), "total": total, "deleted": 0})
        await _purge(ctx, purger, before, selection, batch_size)

    return JobSpec(name=JOB, run=run, max_retries=3, backoff_seconds=5.0)


async def _purge(ctx: TaskContext, purger: AuditPurgeService, before: datetime, selection: PurgeSelection,
                 batch_size: int) -> None:
    state: dict[str, Any] = dict(ctx.state)
    while True:
        if await ctx.stopping():
            purged = state["total"] - await purger.count(before, selection)
            await ctx.log(f"stopped after purging {purged} entries")
            await ctx.update_extra({"purged": purged})
            raise TaskStopped()
        n = await purger.delete_batch(before, selection, batch_size)
        state["deleted"] += n
        await ctx.checkpoint(state)
        if n:
            await ctx.log(f"deleted {n} entries ({state['deleted']} so far)")
        if n < batch_size:
            break
    purged = state["total"] - await purger.count(before, selection)
    await ctx.log(f"purged {purged} audit log entries")
    await ctx.update_extra({"purged": purged})
