"""Replication in the portal: policies (list, create, edit, enable/disable, delete, run now),
their executions (per policy and overall), an execution's live progress, its task logs, stop
and re-run of the failed tasks.  The registry endpoint pages are ``registry_endpoints`` (which
imports the shared bits from here).  System administrators only: resources
``replication-policy`` and ``replication`` of ``auth/rbac.py``, as the API checks them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from moorage.core.errors import BadRequest, MoorageError, NotFound
from moorage.domain.executions import ERROR, PENDING, RUNNING, STOPPED, SUCCESS, TaskRecord
from moorage.domain.registries import RegistryRecord
from moorage.domain.replication import ARTIFACT_JOBS, VENDOR, ExecutionView
from moorage.domain.replication_rules import (
    EXECUTION_STATUS,
    KIND_OF_TRIGGER,
    TRIGGER_EVENT,
    TRIGGER_MANUAL,
    TRIGGER_SCHEDULED,
    resource_string,
    statuses_named,
)
from moorage.metadata.models.replication import ReplicationPolicy
from moorage.portal.view import Form, SignedIn, View

router = APIRouter()
POLICIES = "/admin/replications"
EXECUTIONS = "/admin/replications/executions"
POLICY, EXECUTION = "replication-policy", "replication"
MAX_REGISTRIES = 500  # choices in a policy's registry select
UNFINISHED = (PENDING, RUNNING)
EXECUTION_FILTERS = ("InProgress", "Succeed", "Failed", "Stopped")


def error_status(exc: MoorageError) -> int:
    """The status of a re-rendered form: the error's own when it is a client error."""
    return exc.status if 400 <= exc.status < 500 else 400


# Replication policies ----------------------------------------------------------------------------


async def _registry_names(view: View, policies: list[ReplicationPolicy]) -> dict[int, RegistryRecord]:
    ids = {i for p in policies for i in (p.src_registry_id, p.dest_registry_id) if i is not None}
    found: dict[int, RegistryRecord] = {}
    for i in sorted(ids):
        try:
            found[i] = await view.services.registries.get(i)
        except NotFound:
            continue
    return found


def _filter(policy: ReplicationPolicy, kind: str) -> dict[str, Any]:
    return next((dict(f) for f in policy.filters or [] if f.get("type") == kind), {})


def _policy_values(p: ReplicationPolicy) -> dict[str, str]:
    trigger = dict(p.trigger or {})
    values = {"name": p.name, "description": p.description,
              "mode": "push" if p.dest_registry_id is not None else "pull",
              "registry_id": str(p.dest_registry_id or p.src_registry_id or ""),
              "dest_namespace": p.dest_namespace, "replace_count": str(p.dest_namespace_replace_count),
              "trigger": str(trigger.get("type") or TRIGGER_MANUAL),
              "cron": str((trigger.get("trigger_settings") or {}).get("cron") or ""),
              "speed": str(p.speed), "override": "on" if p.override else "",
              "deletion": "on" if p.replicate_deletion else "", "enabled": "on" if p.enabled else "",
              "copy_by_chunk": "on" if p.copy_by_chunk else "",
              "single_active": "on" if p.single_active_replication else ""}
    for kind in ("name", "tag", "label"):
        f = _filter(p, kind)
        value = f.get("value", "")
        values[f"filter_{kind}"] = ", ".join(value) if isinstance(value, list) else str(value)
        values[f"filter_{kind}_decoration"] = str(f.get("decoration") or "matches")
    values["filter_resource"] = str(_filter(p, "resource").get("value") or "")
    return values


def _policy_form_values(form: Form) -> dict[str, str]:
    values = {k: form.text(k) for k in (
        "name", "description", "mode", "registry_id", "dest_namespace", "replace_count", "trigger", "cron", "speed",
        "filter_name", "filter_name_decoration", "filter_tag", "filter_tag_decoration", "filter_label",
        "filter_label_decoration", "filter_resource")}
    for flag in ("override", "deletion", "enabled", "copy_by_chunk", "single_active"):
        values[flag] = "on" if form.flag(flag) else ""
    return values


def _policy_body(view: View, v: dict[str, str]) -> dict[str, Any]:
    """The form as a Harbor ReplicationPolicy body (the domain validates the rest)."""
    if not v["registry_id"].isdigit():
        raise BadRequest(view._("Choose a registry endpoint."))
    if v["mode"] not in ("push", "pull"):
        raise BadRequest(view._("Choose push-based or pull-based replication."))
    side = {"id": int(v["registry_id"])}
    filters: list[dict[str, Any]] = []
    for kind in ("name", "tag"):
        if v[f"filter_{kind}"]:
            filters.append({"type": kind, "value": v[f"filter_{kind}"],
                            "decoration": v[f"filter_{kind}_decoration"] or "matches"})
    labels = [x.strip() for x in v["filter_label"].split(",") if x.strip()]
    if labels:
        filters.append({"type": "label", "value": labels, "decoration": v["filter_label_decoration"] or "matches"})
    if v["filter_resource"]:
        filters.append({"type": "resource", "value": v["filter_resource"]})

    def number(key: str, default: int) -> int:
        raw = v[key]
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise BadRequest(view._("%(value)s is not a whole number.", value=raw)) from None

    return {
        "name": v["name"], "description": v["description"],
        "src_registry": side if v["mode"] == "pull" else None,
        "dest_registry": side if v["mode"] == "push" else None,
        "dest_namespace": v["dest_namespace"], "dest_namespace_replace_count": number("replace_count", -1),
        "trigger": {"type": v["trigger"] or TRIGGER_MANUAL,
                    "trigger_settings": {"cron": v["cron"] if v["trigger"] == TRIGGER_SCHEDULED else ""}},
        "filters": filters, "replicate_deletion": bool(v["deletion"]), "override": bool(v["override"]),
        "enabled": bool(v["enabled"]), "speed": number("speed", -1), "copy_by_chunk": bool(v["copy_by_chunk"]),
        "single_active_replication": bool(v["single_active"]),
    }


def _row_body(p: ReplicationPolicy, **changes: Any) -> dict[str, Any]:
    """A stored policy as a body (to change one thing, e.g. enabled)."""
    return {"name": p.name, "description": p.description,
            "src_registry": {"id": p.src_registry_id} if p.src_registry_id is not None else None,
            "dest_registry": {"id": p.dest_registry_id} if p.dest_registry_id is not None else None,
            "dest_namespace": p.dest_namespace, "dest_namespace_replace_count": p.dest_namespace_replace_count,
            "trigger": dict(p.trigger or {}), "filters": list(p.filters or []),
            "replicate_deletion": p.replicate_deletion, "override": p.override, "enabled": p.enabled,
            "speed": p.speed, "copy_by_chunk": p.copy_by_chunk,
            "single_active_replication": p.single_active_replication, **changes}


async def _policy_form(view: View, values: dict[str, str], policy: ReplicationPolicy | None, *, error: str = "",
                       status: int = 200) -> Response:
    items, _total = await view.services.registries.page(0, MAX_REGISTRIES, sort=[("name", False)])
    registries = [(str(r.id), f"{r.name} ({r.url})") for r in items]
    return view.render("admin/replication_form.html", status=status, tab="replications", values=values,
                       policy=policy, error=error, registries=registries)


def _trigger_names(view: View) -> dict[str, str]:
    return {TRIGGER_MANUAL: view._("Manual"), TRIGGER_SCHEDULED: view._("Scheduled (cron)"),
            TRIGGER_EVENT: view._("Event-based")}


@router.get(POLICIES)
async def policies_page(view: SignedIn) -> Response:
    await view.require_system(POLICY, "list")
    query = view.query("q").strip()
    pager = view.pager()
    policies, pager.total = await view.services.replication.page(query or None, True, pager.offset, pager.size)
    next_runs = {}
    last_runs = {}
    for p in policies:
        latest, _total = await view.services.replication.page_executions(p.id, None, None, 0, 1)
        if latest:
            last_runs[p.id] = latest[0].record
        if p.enabled and (p.trigger or {}).get("type") == TRIGGER_SCHEDULED:
            schedule = await view.services.schedules.get(VENDOR, p.id)
            if schedule is not None:
                next_runs[p.id] = schedule.next_run
    return view.render("admin/replications.html", tab="replications", policies=policies, pager=pager, q=query,
                       next_runs=next_runs, last_runs=last_runs,
                       registries=await _registry_names(view, policies), triggers=_trigger_names(view),
                       can_run=await view.can(EXECUTION, "create"))


@router.get(POLICIES + "/new")
async def new_policy_page(view: SignedIn) -> Response:
    await view.require_system(POLICY, "create")
    values = {k: "" for k in ("name", "description", "registry_id", "dest_namespace", "cron", "filter_name",
                              "filter_tag", "filter_label", "filter_resource", "deletion", "copy_by_chunk",
                              "single_active")}
    values.update(mode="push", replace_count="-1", trigger=TRIGGER_MANUAL, speed="-1", override="on",
                  enabled="on", filter_name_decoration="matches", filter_tag_decoration="matches",
                  filter_label_decoration="matches")
    return await _policy_form(view, values, None)


@router.post(POLICIES + "/new")
async def create_policy(view: SignedIn) -> Response:
    await view.require_system(POLICY, "create")
    values = _policy_form_values(await view.form())
    try:
        await view.services.replication.create(_policy_body(view, values), view.actor())
    except MoorageError as exc:
        return await _policy_form(view, values, None, error=view.explain(exc), status=error_status(exc))
    return view.redirect(POLICIES, flash=view._("Replication policy %(name)s created.", name=values["name"]))


@router.get(POLICIES + "/{policy_id:int}")
async def policy_page(policy_id: int, view: SignedIn) -> Response:
    await view.require_system(POLICY, "read")
    policy = await view.services.replication.get(policy_id)
    return await _policy_form(view, _policy_values(policy), policy)


@router.post(POLICIES + "/{policy_id:int}")
async def update_policy(policy_id: int, view: SignedIn) -> Response:
    await view.require_system(POLICY, "update")
    policy = await view.services.replication.get(policy_id)
    values = _policy_form_values(await view.form())
    try:
        await view.services.replication.update(policy_id, _policy_body(view, values), view.actor())
    except MoorageError as exc:
        return await _policy_form(view, values, policy, error=view.explain(exc), status=error_status(exc))
    return view.redirect(POLICIES, flash=view._("Replication policy %(name)s saved.", name=values["name"]))


@router.post(POLICIES + "/{policy_id:int}/enable")
async def enable_policy(policy_id: int, view: SignedIn) -> Response:
    await view.require_system(POLICY, "update")
    policy = await view.services.replication.get(policy_id)
    enabled = (await view.form()).flag("enabled")
    back = (await view.form()).get("next") or POLICIES
    try:
        await view.services.replication.update(policy_id, _row_body(policy, enabled=enabled), view.actor())
    except MoorageError as exc:
        return view.redirect(back, flash=view.explain(exc), error=True)
    return view.redirect(back, flash=view._("Replication policy %(name)s enabled.", name=policy.name) if enabled
                         else view._("Replication policy %(name)s disabled.", name=policy.name))


@router.post(POLICIES + "/{policy_id:int}/delete")
async def delete_policy(policy_id: int, view: SignedIn) -> Response:
    await view.require_system(POLICY, "delete")
    policy = await view.services.replication.get(policy_id)
    try:
        await view.services.replication.delete(policy_id, view.actor())
    except MoorageError as exc:
        return view.redirect(POLICIES, flash=view._(
            "Replication policy %(name)s cannot be deleted while it runs: stop the run first.", name=policy.name)
            if exc.status == 412 else view.explain(exc), error=True)
    return view.redirect(POLICIES, flash=view._("Replication policy %(name)s deleted.", name=policy.name))


@router.post(POLICIES + "/{policy_id:int}/run")
async def run_policy(policy_id: int, view: SignedIn) -> Response:
    await view.require_system(EXECUTION, "create")
    policy = await view.services.replication.get(policy_id)
    back = (await view.form()).get("next") or POLICIES
    try:
        execution_id = await view.services.replication.start(policy_id, view.ctx.username)
    except MoorageError as exc:
        if not policy.enabled:
            text = view._("Replication policy %(name)s is disabled: enable it first.", name=policy.name)
        elif exc.status == 409:
            text = view._("Replication policy %(name)s allows one run at a time and one is running.",
                          name=policy.name)
        else:
            text = view.explain(exc)
        return view.redirect(back, flash=text, error=True)
    return view.redirect(f"{EXECUTIONS}/{execution_id}",
                         flash=view._("Replication policy %(name)s started.", name=policy.name))


# Executions --------------------------------------------------------------------------------------


def _counts(v: ExecutionView) -> dict[str, int]:
    c = v.counts
    total = sum(c.values())
    done = c.get(SUCCESS, 0) + c.get(ERROR, 0) + c.get(STOPPED, 0)
    return {"total": total, "succeeded": c.get(SUCCESS, 0), "failed": c.get(ERROR, 0),
            "stopped": c.get(STOPPED, 0), "in_progress": c.get(PENDING, 0) + c.get(RUNNING, 0),
            "finished": done, "percent": round(100 * done / total) if total else 0}


def _execution_trigger_names(view: View) -> dict[str, str]:
    names = _trigger_names(view)
    return {kind: names[trigger] for trigger, kind in KIND_OF_TRIGGER.items()}


async def _executions(view: View, policy: ReplicationPolicy | None) -> Response:
    await view.require_system(EXECUTION, "list")
    status = view.query("status")
    trigger = view.query("trigger")
    statuses = statuses_named(status, EXECUTION_STATUS) if status in EXECUTION_FILTERS else None
    kind = KIND_OF_TRIGGER.get(trigger)
    pager = view.pager()
    pager.params.pop("fragment", None)  # the fragment's paging links lead to the page
    views, pager.total = await view.services.replication.page_executions(
        policy.id if policy else None, statuses, kind, pager.offset, pager.size)
    names: dict[int, str] = {}
    for v in views:
        if v.record.vendor_id not in names:
            try:
                names[v.record.vendor_id] = (await view.services.replication.get(v.record.vendor_id)).name
            except NotFound:
                names[v.record.vendor_id] = ""
    template = "admin/_repl_exec_table.html" if view.query("fragment") else "admin/executions.html"
    return view.render(template, tab="replications", policy=policy, executions=views,
                       active=any(v.record.status in UNFINISHED for v in views),
                       poll_url=view.url_with(fragment="1"),
                       counts={v.record.id: _counts(v) for v in views}, policy_names=names, pager=pager,
                       status_filter=status if statuses else "", trigger_filter=trigger if kind else "",
                       triggers=_execution_trigger_names(view), trigger_choices=_trigger_names(view),
                       can_run=await view.can(EXECUTION, "create"))


@router.get(EXECUTIONS)
async def all_executions_page(view: SignedIn) -> Response:
    return await _executions(view, None)


@router.get(POLICIES + "/{policy_id:int}/executions")
async def policy_executions_page(policy_id: int, view: SignedIn) -> Response:
    await view.require_system(POLICY, "read")
    return await _executions(view, await view.services.replication.get(policy_id))


def _task_row(t: TaskRecord) -> dict[str, Any]:
    p = t.params
    tags, digest = [str(x) for x in p.get("tags") or []], str(p.get("digest", ""))
    return {"id": t.id, "status": t.status, "message": t.status_message, "start": t.start_time, "end": t.end_time,
            "operation": str(p.get("operation", "copy")), "resource_type": str(p.get("resource_type", "artifact")),
            "src": resource_string(str(p.get("src_repo", "")), tags, digest),
            "dst": resource_string(str(p.get("dst_repo", "")), tags, digest)}


async def _execution_context(view: View, execution_id: int) -> dict[str, Any]:
    execution = await view.services.replication.view(execution_id)
    task_status = view.query("task_status")
    wanted = statuses_named(task_status, EXECUTION_STATUS) if task_status in EXECUTION_FILTERS else None
    pager = view.pager(default_size=50)
    pager.path = f"{EXECUTIONS}/{execution_id}"
    tasks, pager.total = await view.services.replication.page_tasks(execution_id, wanted, pager.offset, pager.size)
    try:
        policy: ReplicationPolicy | None = await view.services.replication.get(execution.record.vendor_id)
    except NotFound:
        policy = None
    counts = _counts(execution)
    active = execution.record.status in UNFINISHED
    retry_of = execution.record.extra_attrs.get("retry_of")
    fragment = f"{EXECUTIONS}/{execution_id}/progress"
    query = view.request.url.query
    return {"tab": "replications", "execution": execution, "record": execution.record, "policy": policy,
            "counts": counts, "active": active, "tasks": [_task_row(t) for t in tasks],
            "pager": pager, "task_status": task_status if wanted else "",
            "poll_url": fragment + (f"?{query}" if query else ""),
            "triggers": _execution_trigger_names(view), "retry_of": retry_of if isinstance(retry_of, int) else None,
            "can_stop": active and await view.can(EXECUTION, "stop"),
            "can_retry": not active and counts["failed"] + counts["stopped"] > 0
            and await view.can(EXECUTION, "create")}


@router.get(EXECUTIONS + "/{execution_id:int}")
async def execution_page(execution_id: int, view: SignedIn) -> Response:
    await view.require_system(EXECUTION, "read")
    return view.render("admin/execution.html", **await _execution_context(view, execution_id))


@router.get(EXECUTIONS + "/{execution_id:int}/progress")
async def execution_progress(execution_id: int, view: SignedIn) -> Response:
    """The live part of the execution page, as an HTML fragment the page polls every 2 s."""
    await view.require_system(EXECUTION, "read")
    return view.render("admin/_repl_progress.html", **await _execution_context(view, execution_id))


@router.post(EXECUTIONS + "/{execution_id:int}/stop")
async def stop_execution(execution_id: int, view: SignedIn) -> Response:
    await view.require_system(EXECUTION, "stop")
    here = f"{EXECUTIONS}/{execution_id}"
    try:
        await view.services.replication.stop(execution_id)
    except MoorageError as exc:
        return view.redirect(here, flash=view.explain(exc), error=True)
    return view.redirect(here, flash=view._("Stop requested: running tasks stop at their next step."))


@router.post(EXECUTIONS + "/{execution_id:int}/retry")
async def retry_execution(execution_id: int, view: SignedIn) -> Response:
    await view.require_system(EXECUTION, "create")
    here = f"{EXECUTIONS}/{execution_id}"
    try:
        new_id = await view.services.replication.retry(execution_id, view.ctx.username)
    except MoorageError as exc:
        if exc.status == 409:
            text = view._("This run is still in progress, or its policy allows one run at a time and one is "
                          "running: wait for it to finish.")
        elif exc.status == 422:
            text = view._("No task of this run failed: there is nothing to re-run.")
        else:
            text = view.explain(exc)
        return view.redirect(here, flash=text, error=True)
    return view.redirect(f"{EXECUTIONS}/{new_id}",
                         flash=view._("The failed tasks of run %(id)s are running again.", id=execution_id))


async def _task(view: View, execution_id: int, task_id: int) -> TaskRecord:
    await view.services.replication.execution(execution_id)
    task = await view.services.executions.task(task_id)
    if task.execution_id != execution_id or task.job not in ARTIFACT_JOBS:
        raise NotFound(view._("Task %(task)s of run %(id)s not found.", task=task_id, id=execution_id))
    return task


@router.get(EXECUTIONS + "/{execution_id:int}/tasks/{task_id:int}/log")
async def task_log_page(execution_id: int, task_id: int, view: SignedIn) -> Response:
    await view.require_system(EXECUTION, "read")
    task = await _task(view, execution_id, task_id)
    text = await view.services.replication.task_log(execution_id, task_id)
    if view.query("format") == "text":
        return PlainTextResponse(text, headers={"cache-control": "no-store"})
    base = f"{EXECUTIONS}/{execution_id}/tasks/{task_id}/log"
    template = "admin/_repl_log_fragment.html" if view.query("fragment") else "admin/_repl_task_log.html"
    return view.render(template, tab="replications", task=_task_row(task), execution_id=execution_id, log=text,
                       active=task.status in UNFINISHED, poll_url=base + "?fragment=1", text_url=base + "?format=text")
