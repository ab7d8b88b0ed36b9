"""The job service core on a real database (SQLite and PostgreSQL): executions and tasks,
after-commit enqueue, retries with backoff, time limits, stop, restart recovery, reaping of
tasks whose worker died, schedules firing once per tick across processes, and the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from moorage.config.settings import JobSettings
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from moorage.domain.events import PUSH_ARTIFACT, EventLog, EventRecord
from moorage.domain.executions import MANUAL, ExecutionService, TaskSpec
from moorage.domain.schedules import ScheduleService
from moorage.jobs.registry import JobSpec, TaskContext, TaskStopped
from moorage.jobs.service import JobService
from moorage.metadata.queries import jobs as jq
from tests.common.databases import postgres_database

FAST = {"tick_seconds": 0.2, "heartbeat_seconds": 0.2, "dead_after_seconds": 1.0}


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        with postgres_database("moorage_jobs") as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"


class World:
    """A database, its services, and job services ("processes") sharing it."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.events = EventLog()
        self.executions = ExecutionService(self.db)
        self.schedules = ScheduleService(self.db)
        self.calls: list[tuple[int, int, dict[str, Any]]] = []
        self.services: list[JobService] = []

    def service(self, run_tasks: bool = True, **settings: Any) -> JobService:
        # Every "process" shares the one ExecutionService here; the last one built is notified.
        js = JobService(JobSettings(**{**FAST, **settings}), self.db, self.executions, self.events)
        js.add(JobSpec("record", self.record))
        js.add(JobSpec("flaky", self.flaky, max_retries=2, backoff_seconds=0.1))
        js.add(JobSpec("broken", self.broken, max_retries=1, backoff_seconds=0.1))
        js.add(JobSpec("slow", self.slow, timeout_seconds=0.5))
        js.add(JobSpec("stoppable", self.stoppable))
        js.add(JobSpec("resumable", self.resumable, max_retries=3, backoff_seconds=0.1))
        self.services.append(js)
        return js

    async def record(self, ctx: TaskContext) -> None:
        self.calls.append((ctx.task_id, ctx.attempt, ctx.params))
        await ctx.log(f"hello {ctx.params.get('n')}")
        await ctx.update_extra({"done": True})

    async def flaky(self, ctx: TaskContext) -> None:
        self.calls.append((ctx.task_id, ctx.attempt, ctx.params))
        if ctx.attempt < 3:
            raise RuntimeError(f"attempt {ctx.attempt} fails")

    async def broken(self, ctx: TaskContext) -> None:
        raise ValueError("always broken")

    async def slow(self, ctx: TaskContext) -> None:
        await asyncio.sleep(30)

    async def stoppable(self, ctx: TaskContext) -> None:
        for _ in range(300):
            if await ctx.stopping():
                raise TaskStopped()
            await asyncio.sleep(0.05)

    async def resumable(self, ctx: TaskContext) -> None:
        done = int(ctx.state.get("done", 0))
        self.calls.append((ctx.task_id, ctx.attempt, {"from": done}))
        for i in range(done, 10):
            await ctx.checkpoint({"done": i + 1})
            if i == 4 and ctx.attempt == 1:
                raise RuntimeError("killed half-way")


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    w = World(db_url)
    await upgrade(w.db)
    yield w
    for js in w.services:
        await js.stop()
    await w.db.dispose()


async def started(w: World, **settings: Any) -> JobService:
    js = w.service(**settings)
    await js.start(run_tasks=True)
    return js


async def wait_status(w: World, execution_id: int, statuses: tuple[str, ...] = ("Success", "Error", "Stopped"),
                      timeout: float = 15.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        status = (await w.executions.get(execution_id)).status
        if status in statuses:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"execution {execution_id} still {status}")


async def test_a_submitted_task_runs_after_commit_and_logs(world: World) -> None:
    await started(world)
    eid = await world.executions.start("TEST", 7, MANUAL, [TaskSpec("record", {"n": 1}), TaskSpec("record", {"n": 2})])
    assert await wait_status(world, eid) == "Success"
    record = await world.executions.get(eid)
    assert record.vendor_type == "TEST" and record.vendor_id == 7 and record.trigger == MANUAL
    assert record.end_time is not None and record.extra_attrs == {"done": True}
    assert record.metrics["task_count"] == 2 and record.metrics["success_task_count"] == 2
    tasks = await world.executions.tasks(eid)
    assert [t.status for t in tasks] == ["Success", "Success"] and all(t.attempts == 1 for t in tasks)
    assert "hello 1" in await world.executions.log(tasks[0].id)
    assert "hello 2" in await world.executions.execution_log(eid)


async def test_work_of_a_rolled_back_transaction_is_never_enqueued(world: World) -> None:
    await started(world)
    with pytest.raises(RuntimeError):
        async with world.db.write() as uow:
            await world.executions.submit(uow, "TEST", 1, MANUAL, [TaskSpec("record", {"n": 9})])
            raise RuntimeError("the change failed")
    await asyncio.sleep(0.6)
    assert world.calls == []
    assert (await world.executions.list("TEST", None, 1, 10))[1] == 0


async def test_failed_attempts_are_retried_with_backoff(world: World) -> None:
    await started(world)
    eid = await world.executions.start("TEST", 1, MANUAL, [TaskSpec("flaky")])
    assert await wait_status(world, eid) == "Success"
    task = (await world.executions.tasks(eid))[0]
    assert task.attempts == 3
    log = await world.executions.log(task.id)
    assert log.count("retrying") == 2 and "attempt 1 fails" in log


async def test_a_task_out_of_retries_fails_with_its_error(world: World) -> None:
    await started(world)
    eid = await world.executions.start("TEST", 1, MANUAL, [TaskSpec("broken")])
    assert await wait_status(world, eid) == "Error"
    task = (await world.executions.tasks(eid))[0]
    assert task.attempts == 2 and "always broken" in task.status_message


async def test_a_task_over_its_time_limit_is_failed_not_left_running(world: World) -> None:
    await started(world)
    eid = await world.executions.start("TEST", 1, MANUAL, [TaskSpec("slow")])
    assert await wait_status(world, eid) == "Error"
    task = (await world.executions.tasks(eid))[0]
    assert "time limit" in task.status_message and task.end_time is not None


async def test_stop_ends_running_and_pending_tasks(world: World) -> None:
    await started(world, workers=1)
    eid = await world.executions.start("TEST", 1, MANUAL, [TaskSpec("stoppable"), TaskSpec("stoppable")])
    await wait_status(world, eid, ("Running",))
    await world.executions.stop(eid)
    assert await wait_status(world, eid) == "Stopped"
    assert {t.status for t in await world.executions.tasks(eid)} == {"Stopped"}


async def test_an_unknown_execution_is_not_found(world: World) -> None:
    from moorage.core.errors import NotFound

    with pytest.raises(NotFound):
        await world.executions.get(424242)


async def test_exclusive_submission_conflicts_while_one_is_unfinished(world: World) -> None:
    from moorage.core.errors import Conflict

    await world.executions.start("TEST", 3, MANUAL, [TaskSpec("record")], exclusive=True)
    with pytest.raises(Conflict):
        await world.executions.start("TEST", 3, MANUAL, [TaskSpec("record")], exclusive=True)


async def test_a_task_queued_before_a_restart_runs_afterwards(world: World) -> None:
    idle = world.service()
    await idle.start(run_tasks=False)  # a process that queues but runs nothing, then goes away
    eid = await world.executions.start("TEST", 1, MANUAL, [TaskSpec("record", {"n": 5})])
    await asyncio.sleep(0.3)
    await idle.stop()
    assert world.calls == [] and (await world.executions.get(eid)).status == "Pending"
    await started(world)  # "restarted": finds the Pending task in the database
    assert await wait_status(world, eid) == "Success"


async def test_a_task_whose_worker_died_is_retried_from_its_checkpoint(world: World) -> None:
    js = await started(world)
    eid = await world.executions.start("TEST", 1, MANUAL, [TaskSpec("resumable")])
    assert await wait_status(world, eid) == "Success"
    assert [c[2]["from"] for c in world.calls] == [0, 5]  # the retry resumed at the checkpoint
    # A worker that vanished mid-task (no heartbeat): the reaper gives the task back.
    eid2 = await world.executions.start("TEST", 2, MANUAL, [])
    async with world.db.write() as uow:
        [tid] = await jq.create_tasks(uow.conn, eid2, [("record", {"n": 7})])
        now = utcnow()
        assert await jq.claim_task(uow.conn, tid, "ghost:1", now, now + timedelta(hours=1))
        await jq.refresh_execution(uow.conn, eid2)
    assert (await world.executions.get(eid2)).status == "Running"
    del js
    assert await wait_status(world, eid2) in ("Success", "Error")


async def test_a_schedule_fires_once_per_tick_across_processes(world: World) -> None:
    for _ in range(3):
        await started(world)
    await world.schedules.set("TEST", 11, "Custom", "* * * * * *", "record", {"n": 0})
    await asyncio.sleep(3.5)
    await world.schedules.delete("TEST", 11)
    runs, total = await world.executions.list("TEST", 11, 1, 100)
    ticks = [r.extra_attrs["scheduled_at"] for r in runs]
    assert total >= 2 and len(ticks) == len(set(ticks)), ticks  # never two runs for one tick
    assert all(r.trigger == "SCHEDULE" for r in runs)


async def test_schedule_types_follow_harbor(world: World) -> None:
    from moorage.core.errors import BadRequest
    from moorage.domain.schedules import schedule_object

    daily = await world.schedules.set("TEST", 1, "Daily", None, "record", {})
    assert daily is not None and daily.cron == "0 0 0 * * *"
    obj = schedule_object(daily)
    assert obj["type"] == "Daily" and obj["next_scheduled_time"].endswith("T00:00:00.000000Z")
    with pytest.raises(BadRequest):
        await world.schedules.set("TEST", 1, "Custom", "61 * * * * *", "record", {})
    with pytest.raises(BadRequest):
        await world.schedules.set("TEST", 1, "Sometimes", None, "record", {})
    assert await world.schedules.set("TEST", 1, "None", None, "record", {}) is None
    assert await world.schedules.get("TEST", 1) is None


async def test_outbox_events_reach_each_subscriber_once(world: World) -> None:
    seen: list[EventRecord] = []

    async def subscriber(uow: Any, event: EventRecord) -> None:
        seen.append(event)
        await world.executions.submit(uow, "TEST", 99, "EVENT", [TaskSpec("record", {"n": event.id})])

    for _ in range(2):
        js = await started(world)
        js.subscribe(subscriber)
    async with world.db.write() as uow:
        await world.events.emit_in(uow, PUSH_ARTIFACT, None, "alice", {"repository": "p/r", "digest": "sha256:x"})
    with pytest.raises(RuntimeError):
        async with world.db.write() as uow:
            await world.events.emit_in(uow, PUSH_ARTIFACT, None, "bob", {})
            raise RuntimeError("rolled back")
    for _ in range(100):
        if world.calls:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert [(e.event_type, e.operator, e.data["repository"]) for e in seen] == [(PUSH_ARTIFACT, "alice", "p/r")]
    assert len(world.calls) == 1


async def test_redis_workers_run_each_task_once(world: World) -> None:
    """Scaled out: processes that only enqueue, and workers consuming the SAQ queue in Redis."""
    import uuid

    queue = f"moorage-test-{uuid.uuid4().hex[:8]}"
    for run_tasks in (False, True, True):
        js = world.service(backend="redis", queue_name=queue)
        await js.start(run_tasks=run_tasks)
    eids = [await world.executions.start("TEST", n, MANUAL, [TaskSpec("record", {"n": n}), TaskSpec("flaky")])
            for n in range(10)]
    for eid in eids:
        assert await wait_status(world, eid) == "Success"
    recorded = sorted(c[2]["n"] for c in world.calls if "n" in c[2])
    assert recorded == list(range(10))  # each task ran exactly once
    assert sum(1 for c in world.calls if "n" not in c[2]) == 30  # flaky: 3 attempts each, retried via Redis
