"""The job service's records: executions and their tasks (the source of truth for status),
task log lines, cron schedules, and the event outbox.

An execution is one run of something (a GC, a retention run, a webhook delivery); its
tasks are the units a worker runs.  Harbor keeps the same two levels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moorage.db.base import Base, UTCDateTime, utcnow


class Execution(Base):
    __tablename__ = "executions"
    __table_args__ = (Index("ix_executions_vendor_type_vendor_id_id", "vendor_type", "vendor_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor_type: Mapped[str] = mapped_column(String(64))  # GARBAGE_COLLECTION, RETENTION, WEBHOOK, ...
    vendor_id: Mapped[int] = mapped_column(BigInteger, default=0)  # the policy it ran for (0: none)
    trigger: Mapped[str] = mapped_column(String(16))  # MANUAL, SCHEDULE, EVENT
    status: Mapped[str] = mapped_column(String(16), default="Pending", index=True)
    status_message: Mapped[str] = mapped_column(Text, default="")
    extra_attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    start_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"), index=True)
    job: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="Pending", index=True)
    status_message: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # checkpoint: a retry resumes from it
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # retry backoff
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)  # worker running it
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stop_requested: Mapped[bool] = mapped_column(default=False)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskLog(Base):
    __tablename__ = "task_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    line: Mapped[str] = mapped_column(Text)


class Schedule(Base):
    """A cron schedule: at each due tick exactly one process claims it (compare-and-set on
    ``next_run``) and submits an execution of ``job`` with ``params``."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("vendor_type", "vendor_id", name="uq_schedules_vendor_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor_type: Mapped[str] = mapped_column(String(64))
    vendor_id: Mapped[int] = mapped_column(BigInteger, default=0)
    kind: Mapped[str] = mapped_column(String(16))  # Hourly, Daily, Weekly, Custom
    cron: Mapped[str] = mapped_column(String(128))  # Harbor's six fields, seconds first
    job: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_run: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_run: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """The outbox: written in the transaction that caused the event; the dispatcher hands
    each committed row to the subscribers (webhooks, later replication and scanning) and
    deletes it in one transaction, so each event is handled once."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    operator: Mapped[str] = mapped_column(String(255), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occur_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
