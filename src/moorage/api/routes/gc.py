"""``/api/v2.0/system/gc``: garbage collection for system administrators (resource
``garbage-collection``) — run now, schedule, history, one run, stop it, read its log."""

from __future__ import annotations

from moorage.api.jobviews import system_job_router

router = system_job_router("gc", "garbage-collection", "gc", lambda services: services.gc)
