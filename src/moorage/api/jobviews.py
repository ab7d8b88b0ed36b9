"""Harbor's job-history shapes shared by ``/system/gc`` and ``/system/purgeaudit``: an
execution or a schedule as an ``ExecHistory`` (``GCHistory`` is the same object), and the
``Schedule`` request body (``{"schedule": {"type", "cron"}, "parameters": {...}}``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from moorage.core.errors import BadRequest
from moorage.domain.executions import ExecutionRecord
from moorage.domain.schedules import ScheduleRecord, schedule_object

SCHEDULE_TYPES = ("Hourly", "Daily", "Weekly", "Custom", "Manual", "None")


class ScheduleObject(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    type: str | None = None
    cron: str | None = None


class ScheduleRequest(BaseModel):
    """Harbor's ``Schedule`` body (its read-only fields are ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    schedule: ScheduleObject | None = None
    parameters: dict[str, Any] | None = None

    def kind(self) -> str:
        """The schedule type; BadRequest when missing or unknown."""
        kind = self.schedule.type if self.schedule is not None else None
        if kind not in SCHEDULE_TYPES:
            raise BadRequest(f"schedule.type must be one of {', '.join(SCHEDULE_TYPES)}")
        assert kind is not None
        return kind


def timestamp(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment is not None else None


def execution_history(record: ExecutionRecord, job_name: str) -> dict[str, Any]:
    """One run as Harbor lists it: the trigger is the kind (``MANUAL``/``SCHEDULE``) and, title-cased,
    the schedule type; the execution's extra attributes are the job parameters (JSON text)."""
    return {
        "id": record.id, "job_name": job_name, "job_kind": record.trigger,
        "job_parameters": json.dumps(record.extra_attrs, sort_keys=True),
        "schedule": {"type": record.trigger.title(), "cron": ""},
        "job_status": record.status, "deleted": False,
        "creation_time": timestamp(record.start_time), "update_time": timestamp(record.update_time),
    }


def schedule_history(record: ScheduleRecord | None) -> dict[str, Any]:
    """The schedule as Harbor returns it from ``GET .../schedule`` (type "None" when unset)."""
    obj = {k: v for k, v in schedule_object(record).items() if v is not None}
    if record is None:
        return {"schedule": obj}
    return {
        "id": record.id, "job_name": "", "job_kind": record.cron,
        "job_parameters": json.dumps(record.params, sort_keys=True), "schedule": obj, "job_status": "",
        "deleted": False, "creation_time": timestamp(record.creation_time),
        "update_time": timestamp(record.update_time),
    }
