"""Cron schedules in Harbor's terms (None / Hourly / Daily / Weekly / Custom, six-field cron
with seconds first).  The schedule rows live in the database; the job service's ticker fires
each due one exactly once, whichever process sees it first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from moorage.core.errors import BadRequest
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.metadata.models import Schedule
from moorage.metadata.queries import jobs as jq

PRESETS = {"Hourly": "0 0 * * * *", "Daily": "0 0 0 * * *", "Weekly": "0 0 0 * * 0"}
KINDS = ("None", "Hourly", "Daily", "Weekly", "Custom")


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    id: int
    vendor_type: str
    vendor_id: int
    kind: str
    cron: str
    job: str
    params: dict[str, Any]
    next_run: datetime
    creation_time: datetime
    update_time: datetime


def _record(row: Schedule) -> ScheduleRecord:
    return ScheduleRecord(row.id, row.vendor_type, row.vendor_id, row.kind, row.cron, row.job,
                          dict(row.params or {}), row.next_run, row.creation_time, row.update_time)


def next_after(cron: str, moment: datetime) -> datetime:
    """The first time after ``moment`` the six-field cron names."""
    result: datetime = croniter(cron, moment.astimezone(UTC), second_at_beginning=True).get_next(datetime)
    return result.astimezone(UTC)


def cron_for(kind: str, cron: str | None) -> str:
    """The cron of a Harbor schedule type; BadRequest for an unknown type or invalid cron."""
    if kind in PRESETS:
        return PRESETS[kind]
    if kind != "Custom":
        raise BadRequest(f"unknown schedule type {kind!r}: use one of {', '.join(KINDS)}")
    cron = (cron or "").strip()
    if len(cron.split()) != 6 or not croniter.is_valid(cron, second_at_beginning=True):
        raise BadRequest(f"invalid cron {cron!r}: six fields are expected, seconds first (e.g. '0 0 3 * * *')")
    return cron


def schedule_object(record: ScheduleRecord | None) -> dict[str, Any]:
    """Harbor's ScheduleObj."""
    if record is None:
        return {"type": "None", "cron": "", "next_scheduled_time": None}
    return {"type": record.kind, "cron": record.cron,
            "next_scheduled_time": record.next_run.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


class ScheduleService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set(self, vendor_type: str, vendor_id: int, kind: str, cron: str | None, job: str,
                  params: dict[str, Any]) -> ScheduleRecord | None:
        """Create or replace the vendor's schedule; type "None" (or empty) removes it."""
        if kind in ("", "None"):
            await self.delete(vendor_type, vendor_id)
            return None
        expression = cron_for(kind, cron)
        async with self.db.write() as uow:
            await jq.upsert_schedule(uow.conn, vendor_type, vendor_id, kind, expression, job, params,
                                     next_after(expression, utcnow()))
        return await self.get(vendor_type, vendor_id)

    async def get(self, vendor_type: str, vendor_id: int) -> ScheduleRecord | None:
        async with self.db.read() as conn:
            row = await jq.find_schedule(conn, vendor_type, vendor_id)
        return _record(row) if row else None

    async def list(self) -> list[ScheduleRecord]:
        async with self.db.read() as conn:
            return [_record(r) for r in await jq.list_schedules(conn)]

    async def delete(self, vendor_type: str, vendor_id: int) -> None:
        async with self.db.write() as uow:
            await jq.delete_schedule(uow.conn, vendor_type, vendor_id)
