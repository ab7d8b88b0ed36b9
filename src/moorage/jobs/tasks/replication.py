"""The REPLICATION jobs: the planner (what a manual run or the schedule submits) lists the
source side and spawns one REPLICATION_COPY task per selected artifact; a copy task copies
one artifact (blobs, index children, the manifest, referrers, then the tags) through the
copier, resuming a partly copied blob from its checkpoint when retried; a
REPLICATION_DELETE task deletes one artifact at the destination (deletion sync).  Copy and
deletion tasks retry with backoff (``settings.replication``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from moorage.domain.copier import CopyStopped
from moorage.domain.executions import ERROR, STOPPED, SUCCESS
from moorage.domain.replication import COPY_JOB, DELETE_JOB, PLAN_JOB, ReplicationService
from moorage.domain.replication_rules import resource_string
from moorage.jobs.registry import JobSpec, TaskContext, TaskStopped

Run = Callable[[TaskContext], Awaitable[None]]


def replication_jobs(service: ReplicationService) -> list[JobSpec]:
    settings = service.settings
    return [JobSpec(name, _finishing(service, run), max_retries=settings.max_retries,
                    backoff_seconds=settings.backoff_seconds)
            for name, run in ((PLAN_JOB, _planner(service)), (COPY_JOB, _copier(service)),
                              (DELETE_JOB, _deleter(service)))]


def _finishing(service: ReplicationService, run: Run) -> Run:
    """``run``, then tell the service how the task ended when that is final (its last attempt
    failed, it stopped, or it succeeded): the run's last task emits its REPLICATION events."""
    async def wrapped(ctx: TaskContext) -> None:
        try:
            await run(ctx)
        except TaskStopped:
            await service.finish(ctx.execution_id, ctx.task_id, STOPPED)
            raise
        except Exception:
            if ctx.attempt > service.settings.max_retries:
                await service.finish(ctx.execution_id, ctx.task_id, ERROR)
            raise
        await service.finish(ctx.execution_id, ctx.task_id, SUCCESS)

    return wrapped


def _planner(service: ReplicationService) -> Run:
    async def run(ctx: TaskContext) -> None:
        if ctx.state.get("done"):
            return
        if await ctx.stopping():
            raise TaskStopped()
        policy_id = int(ctx.params["policy_id"])
        plan = await service.plan(policy_id, ctx.execution_id, ctx.task_id)
        if plan.policy_gone:
            await ctx.log(f"replication policy {policy_id} no longer exists: nothing to do")
        elif plan.disabled:
            await ctx.log(f"replication policy {policy_id} is disabled: nothing to do")
        elif plan.stopped and not plan.tasks:
            await ctx.log("the run was stopped before any artifact was copied")
            raise TaskStopped()
        else:
            await ctx.log(f"replication policy {policy_id}: {plan.listed} source artifact(s) listed, "
                          f"{plan.tasks} selected by the filters, one task each")

    return run


async def _sides(service: ReplicationService, stack: AsyncExitStack, params: dict[str, Any]) -> tuple[Any, Any]:
    """(source side, destination side) of a task: the remote one through a client."""
    local = service.copier.local()
    remote_id = params.get("src_registry_id") or params.get("dest_registry_id")
    endpoint = await service.registries.endpoint(int(remote_id or 0))
    client = await stack.enter_async_context(service.client(endpoint, params))
    remote = service.copier.remote(client)
    return (remote, local) if params.get("src_registry_id") else (local, remote)


def _copier(service: ReplicationService) -> Run:
    async def run(ctx: TaskContext) -> None:
        p = ctx.params
        if ctx.state.get("done"):
            return
        if await ctx.stopping() or await service.stop_requested(ctx.execution_id):
            await ctx.log("the run was stopped before this artifact was copied")
            raise TaskStopped()
        if not ctx.state and p.get("resume"):  # a retry of a task that stopped or failed mid-blob
            ctx.state = dict(p["resume"])
        tags = [str(t) for t in p.get("tags") or []]
        src = resource_string(str(p["src_repo"]), tags, str(p["digest"]))
        dst = resource_string(str(p["dst_repo"]), tags, str(p["digest"]))
        await ctx.log(f"copying {src} to {dst} (attempt {ctx.attempt})")
        try:
            async with AsyncExitStack() as stack:
                source, destination = await _sides(service, stack, p)
                result = await service.copier.copy(
                    source, str(p["src_repo"]), str(p["digest"]), destination, str(p["dst_repo"]), tags=tags,
                    override=bool(p.get("override", True)), chunked=bool(p.get("chunked")), ctx=ctx)
        except CopyStopped:
            await ctx.log("stopped: what was copied so far stays; no tag was moved")
            raise TaskStopped() from None
        if result.tags_kept:
            await ctx.log(f"kept {len(result.tags_kept)} destination tag(s) pointing elsewhere (override is off)")
        await ctx.checkpoint({**ctx.state, "done": True})

    return run


def _deleter(service: ReplicationService) -> Run:
    async def run(ctx: TaskContext) -> None:
        p = ctx.params
        if ctx.state.get("done"):
            return
        if await ctx.stopping():
            raise TaskStopped()
        dst = f"{p['dst_repo']}@{p['digest']}"
        async with AsyncExitStack() as stack:
            _, destination = await _sides(service, stack, p)
            deleted = await service.copier.delete(destination, str(p["dst_repo"]), str(p["digest"]), ctx)
        await ctx.log(f"deleted {dst} at the destination" if deleted else f"{dst} was not at the destination")
        await ctx.checkpoint({**ctx.state, "done": True})

    return run
