"""``/api/v2.0/system/purgeaudit``: audit-log rotation for system administrators (resource
``purge-audit``) — run now, schedule, history, one run, stop it, read its log."""

from __future__ import annotations

from moorage.api.jobviews import system_job_router

router = system_job_router("purgeaudit", "purge-audit", "purge", lambda services: services.auditpurge)
