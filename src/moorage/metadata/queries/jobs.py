"""Executions, tasks, task logs and schedules: the job service's source of truth."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update

from moorage.core.errors import NotFound
from moorage.db.base import utcnow
from moorage.db.engine import Conn
from moorage.metadata.models import Execution, Schedule, Task, TaskLog
from moorage.metadata.queries.dialect import insert_for

UNFINISHED = ("Pending", "Running")


# Executions -----------------------------------------------------------------------------------

async def create_execution(conn: Conn, vendor_type: str, vendor_id: int, trigger: str,
                           extra_attrs: dict[str, Any]) -> int:
    now = utcnow()
    stmt = insert_for(conn, Execution).values(
        vendor_type=vendor_type, vendor_id=vendor_id, trigger=trigger, status="Pending", status_message="",
        extra_attrs=extra_attrs, start_time=now, update_time=now,
    ).returning(Execution.id)
    return int((await conn.execute(stmt)).scalar_one())


async def get_execution(conn: Conn, execution_id: int) -> Execution:
    row = (await conn.execute(select(Execution.__table__).where(Execution.id == execution_id))).first()
    if row is None:
        raise NotFound(f"execution {execution_id} not found")
    return Execution(**row._mapping)


async def find_unfinished_execution(conn: Conn, vendor_type: str, vendor_id: int) -> int | None:
    stmt = select(Execution.id).where(Execution.vendor_type == vendor_type, Execution.vendor_id == vendor_id,
                                      Execution.status.in_(UNFINISHED)).limit(1)
    found: int | None = (await conn.execute(stmt)).scalar()
    return found


def _vendor(vendor_type: str, vendor_id: int | None) -> Any:
    cond = Execution.vendor_type == vendor_type
    return cond if vendor_id is None else and_(cond, Execution.vendor_id == vendor_id)


async def count_executions(conn: Conn, vendor_type: str, vendor_id: int | None) -> int:
    stmt = select(func.count()).select_from(Execution).where(_vendor(vendor_type, vendor_id))
    return int((await conn.execute(stmt)).scalar_one())


async def list_executions(conn: Conn, vendor_type: str, vendor_id: int | None, offset: int, limit: int
                          ) -> list[Execution]:
    stmt = (select(Execution.__table__).where(_vendor(vendor_type, vendor_id))
            .order_by(Execution.id.desc()).offset(offset).limit(limit))
    return [Execution(**row._mapping) for row in await conn.execute(stmt)]


async def list_task_counts(conn: Conn, execution_ids: list[int]) -> dict[int, dict[str, int]]:
    """execution id -> task status -> count."""
    if not execution_ids:
        return {}
    stmt = (select(Task.execution_id, Task.status, func.count()).where(Task.execution_id.in_(execution_ids))
            .group_by(Task.execution_id, Task.status))
    out: dict[int, dict[str, int]] = {}
    for execution_id, status, n in await conn.execute(stmt):
        out.setdefault(execution_id, {})[status] = int(n)
    return out


async def update_execution_extra(conn: Conn, execution_id: int, extra: dict[str, Any]) -> None:
    row = (await conn.execute(select(Execution.extra_attrs).where(Execution.id == execution_id))).first()
    if row is None:
        raise NotFound(f"execution {execution_id} not found")
    await conn.execute(update(Execution).where(Execution.id == execution_id)
                       .values(extra_attrs={**(row[0] or {}), **extra}, update_time=utcnow()))


async def refresh_execution(conn: Conn, execution_id: int) -> str:
    """Derive the execution's status from its tasks (Harbor's rules) and store it.

    The execution row is locked first (PostgreSQL), so two tasks finishing at once are counted
    one after the other: the second count, a new statement, sees the first one's commit."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(Execution.id).where(Execution.id == execution_id).with_for_update())
    counts = (await list_task_counts(conn, [execution_id])).get(execution_id, {})
    if counts.get("Running") or (counts.get("Pending") and len(counts) > 1):
        status = "Running"
    elif counts.get("Pending"):
        status = "Pending"
    elif counts.get("Error"):
        status = "Error"
    elif counts.get("Stopped"):
        status = "Stopped"
    else:
        status = "Success"
    now = utcnow()
    final = status not in UNFINISHED
    await conn.execute(update(Execution).where(Execution.id == execution_id, Execution.status != status)
                       .values(status=status, update_time=now, end_time=now if final else None))
    return status


async def delete_old_executions(conn: Conn, vendor_type: str, vendor_id: int | None, keep: int) -> int:
    """Delete finished executions beyond the newest ``keep``; returns how many."""
    old = list((await conn.execute(select(Execution.id).where(_vendor(vendor_type, vendor_id))
                                   .order_by(Execution.id.desc()).offset(keep))).scalars())
    if not old:
        return 0
    result = await conn.execute(delete(Execution).where(Execution.id.in_(old), Execution.status.not_in(UNFINISHED)))
    return int(result.rowcount or 0)


# Tasks ------------------------------------------------------------------------------------------

async def create_tasks(conn: Conn, execution_id: int, tasks: list[tuple[str, dict[str, Any]]]) -> list[int]:
    now = utcnow()
    ids = []
    for job, params in tasks:  # one statement each: RETURNING of multi-row inserts is not portable
        stmt = insert_for(conn, Task).values(
            execution_id=execution_id, job=job, params=params, status="Pending", status_message="", attempts=0,
            state={}, stop_requested=False, creation_time=now, update_time=now,
        ).returning(Task.id)
        ids.append(int((await conn.execute(stmt)).scalar_one()))
    return ids


async def get_task(conn: Conn, task_id: int) -> Task:
    row = (await conn.execute(select(Task.__table__).where(Task.id == task_id))).first()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return Task(**row._mapping)


async def list_tasks(conn: Conn, execution_id: int) -> list[Task]:
    stmt = select(Task.__table__).where(Task.execution_id == execution_id).order_by(Task.id)
    return [Task(**row._mapping) for row in await conn.execute(stmt)]


async def list_runnable_task_ids(conn: Conn, now: datetime, limit: int) -> list[int]:
    stmt = (select(Task.id).where(Task.status == "Pending", or_(Task.not_before.is_(None), Task.not_before <= now))
            .order_by(Task.id).limit(limit))
    return list((await conn.execute(stmt)).scalars())


async def claim_task(conn: Conn, task_id: int, owner: str, now: datetime, deadline: datetime | None) -> bool:
    """Pending → Running for ``owner`` (a compare-and-set: one claimant wins)."""
    result = await conn.execute(
        update(Task).where(Task.id == task_id, Task.status == "Pending",
                           or_(Task.not_before.is_(None), Task.not_before <= now))
        .values(status="Running", attempts=Task.attempts + 1, owner=owner, heartbeat_at=now, deadline=deadline,
                start_time=func.coalesce(Task.start_time, now), update_time=now, not_before=None)
    )
    return bool(result.rowcount)


async def finish_task(conn: Conn, task_id: int, owner: str | None, status: str, message: str,
                      retry_at: datetime | None = None) -> bool:
    """Record the end of an attempt: ``status`` (or Pending again with ``retry_at``).  Only the
    owner of a Running task may do so (a reaped task's late finish is ignored)."""
    now = utcnow()
    cond = [Task.id == task_id, Task.status == "Running"]
    if owner is not None:
        cond.append(Task.owner == owner)
    values: dict[str, Any] = {"status": status, "status_message": message[:4000], "update_time": now}
    if retry_at is not None:
        values.update(status="Pending", not_before=retry_at)
    else:
        values["end_time"] = now
    result = await conn.execute(update(Task).where(*cond).values(**values))
    return bool(result.rowcount)


async def heartbeat(conn: Conn, task_id: int, owner: str) -> bool | None:
    """Prove the task is alive; returns whether a stop was requested (None: no longer ours)."""
    now = utcnow()
    result = await conn.execute(update(Task).where(Task.id == task_id, Task.owner == owner, Task.status == "Running")
                                .values(heartbeat_at=now))
    if not result.rowcount:
        return None
    return bool((await conn.execute(select(Task.stop_requested).where(Task.id == task_id))).scalar())


async def save_task_state(conn: Conn, task_id: int, state: dict[str, Any]) -> None:
    await conn.execute(update(Task).where(Task.id == task_id).values(state=state, update_time=utcnow()))


async def execution_stop_requested(conn: Conn, execution_id: int) -> bool:
    """Whether any task of the execution was asked to stop or was stopped (one indexed probe,
    not a listing: every task of a large run asks this when it starts)."""
    found = await conn.execute(select(Task.id).where(
        Task.execution_id == execution_id, or_(Task.stop_requested.is_(True), Task.status == "Stopped")).limit(1))
    return found.first() is not None


async def stop_execution_tasks(conn: Conn, execution_id: int) -> None:
    now = utcnow()
    await conn.execute(update(Task).where(Task.execution_id == execution_id, Task.status == "Pending")
                       .values(status="Stopped", status_message="stopped", end_time=now, update_time=now))
    await conn.execute(update(Task).where(Task.execution_id == execution_id, Task.status == "Running")
                       .values(stop_requested=True, update_time=now))


async def list_lost_tasks(conn: Conn, silent_since: datetime, now: datetime) -> list[Task]:
    """Running tasks whose worker stopped proving it is alive, or past their deadline."""
    stmt = select(Task.__table__).where(Task.status == "Running", or_(
        Task.heartbeat_at < silent_since, and_(Task.deadline.is_not(None), Task.deadline < now)))
    return [Task(**row._mapping) for row in await conn.execute(stmt)]


async def list_stale_pending_ids(conn: Conn, before: datetime, limit: int) -> list[int]:
    """Pending tasks due since ``before`` that no worker took (their enqueue may have been lost)."""
    stmt = (select(Task.id).where(Task.status == "Pending", Task.update_time < before,
                                  or_(Task.not_before.is_(None), Task.not_before < before))
            .order_by(Task.id).limit(limit))
    return list((await conn.execute(stmt)).scalars())


async def reset_lost_task(conn: Conn, task: Task, status: str, message: str, retry_at: datetime | None) -> bool:
    now = utcnow()
    values: dict[str, Any] = {"status": status, "status_message": message, "owner": None, "update_time": now}
    if status == "Pending":
        values["not_before"] = retry_at
    else:
        values["end_time"] = now
    result = await conn.execute(update(Task).where(Task.id == task.id, Task.status == "Running",
                                                   Task.owner == task.owner).values(**values))
    return bool(result.rowcount)


async def release_owned_tasks(conn: Conn, owner: str) -> int:
    """Give back the Running tasks of a worker that is shutting down (they run again elsewhere)."""
    result = await conn.execute(update(Task).where(Task.owner == owner, Task.status == "Running").values(
        status="Pending", owner=None, attempts=Task.attempts - 1, update_time=utcnow()))
    return int(result.rowcount or 0)


async def create_task_log(conn: Conn, task_id: int, line: str) -> None:
    await conn.execute(insert_for(conn, TaskLog).values(task_id=task_id, line=line, logged_at=utcnow()))


async def list_task_log(conn: Conn, task_ids: list[int]) -> list[tuple[int, datetime, str]]:
    stmt = (select(TaskLog.task_id, TaskLog.logged_at, TaskLog.line).where(TaskLog.task_id.in_(task_ids))
            .order_by(TaskLog.id))
    return [(r[0], r[1], r[2]) for r in await conn.execute(stmt)]


# Schedules ---------------------------------------------------------------------------------------

async def find_schedule(conn: Conn, vendor_type: str, vendor_id: int) -> Schedule | None:
    row = (await conn.execute(select(Schedule.__table__).where(
        Schedule.vendor_type == vendor_type, Schedule.vendor_id == vendor_id))).first()
    return Schedule(**row._mapping) if row else None


async def upsert_schedule(conn: Conn, vendor_type: str, vendor_id: int, kind: str, cron: str, job: str,
                          params: dict[str, Any], next_run: datetime) -> None:
    now = utcnow()
    existing = await find_schedule(conn, vendor_type, vendor_id)
    if existing is None:
        await conn.execute(insert_for(conn, Schedule).values(
            vendor_type=vendor_type, vendor_id=vendor_id, kind=kind, cron=cron, job=job, params=params,
            next_run=next_run, creation_time=now, update_time=now))
    else:
        await conn.execute(update(Schedule).where(Schedule.id == existing.id).values(
            kind=kind, cron=cron, job=job, params=params, next_run=next_run, update_time=now))


async def delete_schedule(conn: Conn, vendor_type: str, vendor_id: int) -> None:
    await conn.execute(delete(Schedule).where(Schedule.vendor_type == vendor_type, Schedule.vendor_id == vendor_id))


async def list_schedules(conn: Conn) -> list[Schedule]:
    return [Schedule(**row._mapping) for row in await conn.execute(select(Schedule.__table__).order_by(Schedule.id))]


async def list_due_schedules(conn: Conn, now: datetime) -> list[Schedule]:
    stmt = select(Schedule.__table__).where(Schedule.next_run <= now).order_by(Schedule.next_run)
    return [Schedule(**row._mapping) for row in await conn.execute(stmt)]


async def advance_schedule(conn: Conn, schedule_id: int, due: datetime, next_run: datetime) -> bool:
    """Move a due schedule to its next run; True for the one process that moved it (the tick is its)."""
    result = await conn.execute(update(Schedule).where(Schedule.id == schedule_id, Schedule.next_run == due)
                                .values(next_run=next_run, last_run=due))
    return bool(result.rowcount)


async def list_queue_stats(conn: Conn) -> list[tuple[str, int, datetime | None]]:
    """(job, Pending tasks, oldest Pending creation time) per job with Pending tasks."""
    stmt = (select(Task.job, func.count(), func.min(Task.creation_time)).where(Task.status == "Pending")
            .group_by(Task.job).order_by(Task.job))
    return [(r[0], int(r[1]), r[2]) for r in await conn.execute(stmt)]


async def stop_pending_tasks_of_job(conn: Conn, job: str) -> list[int]:
    """Stop every Pending task of a job type; returns the executions touched."""
    now = utcnow()
    ids = list((await conn.execute(select(Task.execution_id).where(Task.job == job, Task.status == "Pending")
                                   .distinct())).scalars())
    await conn.execute(update(Task).where(Task.job == job, Task.status == "Pending")
                       .values(status="Stopped", status_message="stopped from the job queue", end_time=now,
                               update_time=now))
    return ids
