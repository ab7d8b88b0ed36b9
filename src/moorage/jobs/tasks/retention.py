"""The RETENTION jobs: the planner (what a manual run or the schedule submits) spawns one
RETENTION_REPOSITORY task per repository in scope; each judges its artifacts, deletes what no
rule retains (not on a dry run; never an immutable tag), and logs Harbor's table of
digest / tags / pushed / pulled / RETAIN or DEL.  A stop request is honoured between deletions."""

from __future__ import annotations

from moorage.domain.retention import (
    PLAN_JOB,
    REPOSITORY_JOB,
    RetentionService,
    deletion_record,
    summary,
)
from moorage.domain.retention_rules import DELETE, RETAIN, Decision, log_table
from moorage.jobs.registry import JobSpec, TaskContext, TaskStopped


def retention_plan_job(retention: RetentionService) -> JobSpec:
    async def run(ctx: TaskContext) -> None:
        policy_id = int(ctx.params["policy_id"])
        dry_run = bool(ctx.params.get("dry_run"))
        if not ctx.state.get("done"):
            if await ctx.stopping():
                raise TaskStopped()
            plan = await retention.plan(policy_id, dict(ctx.params), ctx.execution_id, ctx.task_id)
            if plan.policy_gone:
                await ctx.log(f"retention policy {policy_id} no longer exists: nothing to do")
                return
            if plan.stopped and not plan.repositories:
                await ctx.log("the run was stopped before any repository was judged")
                raise TaskStopped()
            await ctx.log(f"retention policy {policy_id}{' (dry run)' if dry_run else ''}: "
                          f"{plan.repositories} repositories in scope, one task each")
        await retention.finish(ctx.execution_id)

    return JobSpec(PLAN_JOB, run, max_retries=2, backoff_seconds=2.0)


def retention_repository_job(retention: RetentionService) -> JobSpec:
    async def run(ctx: TaskContext) -> None:
        if not ctx.state.get("done"):
            await _judge(retention, ctx)
        await retention.finish(ctx.execution_id)
        if ctx.state.get("stopped"):
            raise TaskStopped()

    return JobSpec(REPOSITORY_JOB, run, max_retries=2, backoff_seconds=2.0)


async def _judge(retention: RetentionService, ctx: TaskContext) -> None:
    repository = str(ctx.params["repository"])
    dry_run = bool(ctx.params.get("dry_run"))
    operator = str(ctx.params.get("operator") or "retention")
    if await retention.stop_requested(ctx.execution_id):
        await ctx.log(f"{repository}: the run was stopped before this repository was judged")
        await ctx.checkpoint({"done": True, "stopped": True, "total": 0, "retained": 0, "deleted": []})
        return
    plan = await retention.plan_repository(int(ctx.params["policy_id"]), repository)
    if plan is None:
        await ctx.log(f"{repository}: the repository or the policy no longer exists")
        await ctx.checkpoint({"done": True, "total": 0, "retained": 0, "deleted": []})
        return
    outcome: list[Decision] = []
    stopped = False
    for decision in plan.decisions:
        if decision.action == DELETE and not dry_run:
            stopped = stopped or await ctx.stopping()
            if stopped:
                decision = Decision(decision.candidate, RETAIN, "kept: the run was stopped")
            else:
                decision = await retention.delete_candidate(repository, decision, operator)
        outcome.append(decision)
    total, retained, deleted = summary(outcome)
    verb = "would be deleted (dry run: nothing was deleted)" if dry_run else "deleted"
    await ctx.log(f"{repository}: {total} artifacts judged, {retained} retained, {len(deleted)} {verb}"
                  f"{'; stopped before deleting the rest' if stopped else ''}\n"
                  + "".join(f"  {r}\n" for r in plan.rules) + "\n".join(log_table(outcome)))
    await ctx.checkpoint({"done": True, "stopped": stopped, "total": total, "retained": retained,
                          "deleted": [] if dry_run else [deletion_record(repository, d) for d in deleted]})
