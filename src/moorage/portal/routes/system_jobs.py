"""System jobs and the audit trail under ``/admin`` (system administrators only): garbage
collection (run now, dry run, schedule, history, live status, logs, stop), the audit logs
(filters, paging) and the audit-log purge (run now, dry run, schedule, history, logs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from moorage.core.errors import BadRequest, MoorageError
from moorage.domain.executions import PENDING, RUNNING, ExecutionRecord
from moorage.domain.schedules import KINDS
from moorage.domain.systemjobs import SystemJob
from moorage.metadata.queries.audit import AuditFilter
from moorage.portal.view import Form, SignedIn, View

router = APIRouter(prefix="/admin")

UNFINISHED = (PENDING, RUNNING)
PURGE_EVENT_TYPES = ("create_artifact", "delete_artifact", "pull_artifact", "create_project", "delete_project",
                     "delete_repository", "login_user", "logout_user", "create_user", "delete_user", "update_user",
                     "create_robot", "delete_robot", "update_configuration", "other")
PURGE = "/admin/audit-logs/purge"


# System jobs: garbage collection and audit-log purge ---------------------------------------------


def _active(runs: list[ExecutionRecord]) -> bool:
    return any(r.status in UNFINISHED for r in runs)


async def _history(view: View, job: SystemJob, path: str) -> dict[str, Any]:
    """A page of runs; the pager's links point at ``path`` (the page, also from its fragment)."""
    pager = view.pager(default_size=10)
    pager.path = path
    runs, pager.total = await job.history(pager.page, pager.size)
    return {"runs": runs, "pager": pager, "active": _active(runs)}


def _schedule_form(view: View, form: Form) -> tuple[str, str | None]:
    kind = form.get("kind", "None")
    if kind not in KINDS:
        raise BadRequest(view._("Choose a schedule."))
    return kind, (form.get("cron").strip() or None) if kind == "Custom" else None


async def _gc_page(view: View, status: int = 200, error: str = "") -> Response:
    gc = view.services.gc
    return view.render("admin/gc.html", status=status, tab="gc", schedule=await gc.schedule(), error=error,
                       kinds=KINDS, window=gc.settings.blob_time_window_hours,
                       workers=[(str(n), str(n)) for n in range(1, 6)], **await _history(view, gc, "/admin/gc"))


@router.get("/gc")
async def gc_page(view: SignedIn) -> Response:
    await view.require_system("garbage-collection", "list")
    return await _gc_page(view)


@router.get("/gc/-/history")
async def gc_history_fragment(view: SignedIn) -> Response:
    """The history table alone (the page's ``data-poll`` target while a run is unfinished)."""
    await view.require_system("garbage-collection", "list")
    return view.render("admin/_sys_gc_history.html", **await _history(view, view.services.gc, "/admin/gc"))


@router.post("/gc/run")
async def gc_run(view: SignedIn) -> Response:
    await view.require_system("garbage-collection", "create")
    form = await view.form()
    dry_run = form.get("mode") == "dry"
    gc = view.services.gc
    try:
        params = {"delete_untagged": form.flag("delete_untagged"), "dry_run": dry_run,
                  "workers": form.integer("workers", 1)}
        run_id = await gc.run_now(gc.parse(params))
    except MoorageError as exc:
        return await _gc_page(view, exc.status, view.explain(exc))
    flash = view._("Dry run %(id)s started.", id=run_id) if dry_run else view._("Garbage collection %(id)s started.",
                                                                               id=run_id)
    return view.redirect("/admin/gc", flash=flash)


@router.post("/gc/schedule")
async def gc_schedule(view: SignedIn) -> Response:
    await view.require_system("garbage-collection", "update")
    form = await view.form()
    try:
        kind, cron = _schedule_form(view, form)
        await view.services.gc.set_schedule(kind, cron, {"delete_untagged": form.flag("delete_untagged"),
                                                         "workers": form.integer("workers", 1)})
    except MoorageError as exc:
        return await _gc_page(view, exc.status, view.explain(exc))
    return view.redirect("/admin/gc", flash=view._("Schedule saved."))


def _plain(text: str) -> Response:
    return PlainTextResponse(text, headers={"cache-control": "no-store"})


async def _run_page(view: View, job: SystemJob, run_id: int, template: str, base: str) -> Response:
    """One run with its log (``template``: the page, or its self-refreshing status fragment)."""
    run = await job.get(run_id)
    return view.render(template, tab="gc" if base == "/admin/gc" else "audit", run=run, log=await job.log(run_id),
                       active=run.status in UNFINISHED, base=base)


@router.get("/gc/{run_id}")
async def gc_run_page(view: SignedIn, run_id: int) -> Response:
    await view.require_system("garbage-collection", "read")
    return await _run_page(view, view.services.gc, run_id, "admin/_sys_run.html", "/admin/gc")


@router.get("/gc/{run_id}/-/status")
async def gc_run_fragment(view: SignedIn, run_id: int) -> Response:
    await view.require_system("garbage-collection", "read")
    return await _run_page(view, view.services.gc, run_id, "admin/_sys_run_status.html", "/admin/gc")


@router.get("/gc/{run_id}/log")
async def gc_log(view: SignedIn, run_id: int) -> Response:
    await view.require_system("garbage-collection", "read")
    return _plain(await view.services.gc.log(run_id))


@router.post("/gc/{run_id}/stop")
async def gc_stop(view: SignedIn, run_id: int) -> Response:
    await view.require_system("garbage-collection", "stop")
    await view.services.gc.stop(run_id)
    return view.redirect(f"/admin/gc/{run_id}", flash=view._("Stop requested."))


# Audit logs --------------------------------------------------------------------------------------


def _moment(view: View, raw: str, what: str) -> datetime | None:
    """A ``datetime-local`` (or ISO) value, read as UTC; BadRequest when unreadable."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(view._("%(field)s: “%(value)s” is not a date and time.", field=what, value=raw)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/audit-logs")
async def audit_logs(view: SignedIn) -> Response:
    await view.require_system("audit-log", "list")
    filters = {k: view.query(k).strip() for k in ("username", "operation", "resource_type", "resource", "since",
                                                  "until")}
    error, status = "", 200
    try:
        f = AuditFilter(username=filters["username"] or None, username_fuzzy=True,
                        resource=filters["resource"] or None, resource_fuzzy=True,
                        resource_type=filters["resource_type"] or None, operation=filters["operation"] or None,
                        since=_moment(view, filters["since"], view._("From")),
                        until=_moment(view, filters["until"], view._("To")))
    except MoorageError as exc:
        f, error, status = AuditFilter(), view.explain(exc), exc.status
    pager = view.pager()
    rows, pager.total = await view.services.audit.list(f, pager.offset, pager.size, [])
    return view.render("admin/audit.html", status=status, tab="audit", entries=rows, pager=pager, filters=filters,
                       error=error, can_purge=await view.can("purge-audit", "list"))


async def _purge_page(view: View, status: int = 200, error: str = "") -> Response:
    purge = view.services.auditpurge
    schedule = await purge.schedule()
    params = schedule.params if schedule else {}
    included = params.get("include_event_types")
    chosen = set(included.split(",")) if isinstance(included, str) else set(PURGE_EVENT_TYPES)
    return view.render("admin/_sys_purge.html", status=status, tab="audit", schedule=schedule, error=error,
                       kinds=KINDS, event_types=PURGE_EVENT_TYPES, chosen=chosen,
                       hours=params.get("audit_retention_hour", 24 * 30), **await _history(view, purge, PURGE))


def _purge_params(form: Form, dry_run: bool) -> dict[str, Any]:
    chosen = [t for t in form.getlist("event_types") if t in PURGE_EVENT_TYPES]
    params: dict[str, Any] = {"audit_retention_hour": form.get("retention_hours").strip(), "dry_run": dry_run}
    if set(chosen) != set(PURGE_EVENT_TYPES):
        params["include_event_types"] = ",".join(chosen)
    return params


@router.get("/audit-logs/purge")
async def purge_page(view: SignedIn) -> Response:
    await view.require_system("purge-audit", "list")
    return await _purge_page(view)


@router.get("/audit-logs/purge/-/history")
async def purge_history_fragment(view: SignedIn) -> Response:
    await view.require_system("purge-audit", "list")
    return view.render("admin/_sys_purge_history.html", **await _history(view, view.services.auditpurge, PURGE))


@router.post("/audit-logs/purge/run")
async def purge_run(view: SignedIn) -> Response:
    await view.require_system("purge-audit", "create")
    form = await view.form()
    dry_run = form.get("mode") == "dry"
    purge = view.services.auditpurge
    try:
        run_id = await purge.run_now(purge.parse(_purge_params(form, dry_run)))
    except MoorageError as exc:
        return await _purge_page(view, exc.status, view.explain(exc))
    return view.redirect("/admin/audit-logs/purge", flash=view._("Purge %(id)s started.", id=run_id))


@router.post("/audit-logs/purge/schedule")
async def purge_schedule(view: SignedIn) -> Response:
    await view.require_system("purge-audit", "update")
    form = await view.form()
    try:
        kind, cron = _schedule_form(view, form)
        await view.services.auditpurge.set_schedule(kind, cron, _purge_params(form, False))
    except MoorageError as exc:
        return await _purge_page(view, exc.status, view.explain(exc))
    return view.redirect("/admin/audit-logs/purge", flash=view._("Schedule saved."))


@router.get("/audit-logs/purge/{run_id}")
async def purge_run_page(view: SignedIn, run_id: int) -> Response:
    await view.require_system("purge-audit", "read")
    return await _run_page(view, view.services.auditpurge, run_id, "admin/_sys_run.html", PURGE)


@router.get("/audit-logs/purge/{run_id}/-/status")
async def purge_run_fragment(view: SignedIn, run_id: int) -> Response:
    await view.require_system("purge-audit", "read")
    return await _run_page(view, view.services.auditpurge, run_id, "admin/_sys_run_status.html", PURGE)


@router.get("/audit-logs/purge/{run_id}/log")
async def purge_log(view: SignedIn, run_id: int) -> Response:
    await view.require_system("purge-audit", "read")
    return _plain(await view.services.auditpurge.log(run_id))


@router.post("/audit-logs/purge/{run_id}/stop")
async def purge_stop(view: SignedIn, run_id: int) -> Response:
    await view.require_system("purge-audit", "stop")
    await view.services.auditpurge.stop(run_id)
    return view.redirect(f"/admin/audit-logs/purge/{run_id}", flash=view._("Stop requested."))
