"""Project webhook pages: policies (create, edit, enable, delete) and each policy's delivery
log (executions, their tasks and task logs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from moorage.core.errors import MoorageError
from moorage.domain.executions import TaskRecord
from moorage.domain.projects import ProjectDetail
from moorage.domain.webhooks import EVENT_TYPES, PAYLOAD_FORMATS, PolicyInput
from moorage.metadata.queries.webhooks import PolicyRow
from moorage.portal.routes.project_admin import P, base_url, page
from moorage.portal.view import Form, SignedIn, View

router = APIRouter()


# Labels --------------------------------------------------------------------------------------


def event_labels(view: View) -> dict[str, str]:
    return {"PUSH_ARTIFACT": view._("Artifact pushed"), "PULL_ARTIFACT": view._("Artifact pulled"),
            "DELETE_ARTIFACT": view._("Artifact deleted"), "QUOTA_EXCEED": view._("Quota exceeded"),
            "QUOTA_WARNING": view._("Quota near threshold"), "TAG_RETENTION": view._("Tag retention finished"),
            "REPLICATION": view._("Replication finished")}


# Webhooks ------------------------------------------------------------------------------------


def webhook_form_values(policy: PolicyRow | None, form: Form | None) -> dict[str, Any]:
    if form is not None:
        return {"name": form.text("name"), "description": form.text("description"),
                "notify_type": form.text("notify_type"), "payload_format": form.text("payload_format"),
                "address": form.text("address"), "skip_cert_verify": form.flag("skip_cert_verify"),
                "event_types": set(form.getlist("event_types")), "enabled": form.flag("enabled"),
                "has_auth": False}
    if policy is None:
        return {"name": "", "description": "", "notify_type": "http", "payload_format": "Default", "address": "",
                "skip_cert_verify": False, "event_types": set(EVENT_TYPES), "enabled": True, "has_auth": False}
    target = policy.targets[0] if policy.targets else {}
    return {"name": policy.name, "description": policy.description, "notify_type": target.get("type") or "http",
            "payload_format": target.get("payload_format") or "Default", "address": target.get("address") or "",
            "skip_cert_verify": bool(target.get("skip_cert_verify")), "event_types": set(policy.event_types),
            "enabled": policy.enabled, "has_auth": bool(target.get("auth_header"))}


def _webhook_input(form: Form, policy: PolicyRow | None) -> PolicyInput:
    """The form's policy; the form edits the first target (others, added through the API, stay).
    An empty auth header keeps the current one unless "remove" is ticked."""
    current = dict(policy.targets[0]) if policy and policy.targets else {}
    auth = form.get("auth_header").strip()
    if not auth and not form.flag("clear_auth"):
        auth = str(current.get("auth_header") or "")
    target = {"type": form.text("notify_type") or "http", "address": form.text("address"),
              "payload_format": form.text("payload_format") or "Default", "auth_header": auth,
              "skip_cert_verify": form.flag("skip_cert_verify")}
    rest = list(policy.targets[1:]) if policy else []
    return PolicyInput(name=form.text("name"), description=form.text("description"), enabled=form.flag("enabled"),
                       targets=[target, *rest], event_types=form.getlist("event_types"))


async def _webhook_form(view: View, project: ProjectDetail, policy: PolicyRow | None, status: int = 200,
                        error: str | None = None, form: Form | None = None) -> Response:
    return page(view, "project/_admin_webhook_form.html", project, "webhooks", status, policy=policy,
                 values=webhook_form_values(policy, form), error=error, event_labels=event_labels(view),
                 event_types=EVENT_TYPES, formats=PAYLOAD_FORMATS)


@router.get(P + "/webhooks")
async def webhooks_page(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "notification-policy", "list")
    pager = view.pager()
    policies, pager.total = await view.services.webhooks.page(project.id, pager.offset, pager.size)
    triggers: dict[str, datetime] = {}
    for t in await view.services.webhooks.last_triggers(project.id):
        if t.last_trigger_time and (t.policy_name not in triggers or t.last_trigger_time > triggers[t.policy_name]):
            triggers[t.policy_name] = t.last_trigger_time
    ref = project.ref
    return page(view, "project/webhooks.html", project, "webhooks", policies=policies, pager=pager,
                 last_triggers=triggers, event_labels=event_labels(view),
                 enabled=bool(await view.services.config.value("notification_enable")),
                 can_create=await view.can("notification-policy", "create", ref),
                 can_update=await view.can("notification-policy", "update", ref),
                 can_delete=await view.can("notification-policy", "delete", ref))


@router.get(P + "/webhooks/new")
async def new_webhook(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "notification-policy", "create")
    return await _webhook_form(view, project, None)


@router.post(P + "/webhooks")
async def create_webhook(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "notification-policy", "create")
    form = await view.form()
    try:
        await view.services.webhooks.create(project.ref, _webhook_input(form, None), view.actor())
    except MoorageError as exc:
        return await _webhook_form(view, project, None, exc.status, view.explain(exc), form)
    return view.redirect(base_url(project) + "/webhooks",
                         flash=view._("Webhook %(name)s was created.", name=form.text("name")))


@router.get(P + "/webhooks/{policy_id}/edit")
async def edit_webhook(view: SignedIn, name: str, policy_id: int) -> Response:
    project = await view.project(name, "notification-policy", "update")
    return await _webhook_form(view, project, await view.services.webhooks.get(project.id, policy_id))


@router.post(P + "/webhooks/{policy_id}")
async def update_webhook(view: SignedIn, name: str, policy_id: int) -> Response:
    project = await view.project(name, "notification-policy", "update")
    policy = await view.services.webhooks.get(project.id, policy_id)
    form = await view.form()
    try:
        await view.services.webhooks.update(project.ref, policy_id, _webhook_input(form, policy), view.actor())
    except MoorageError as exc:
        return await _webhook_form(view, project, policy, exc.status, view.explain(exc), form)
    return view.redirect(base_url(project) + "/webhooks",
                         flash=view._("Webhook %(name)s was saved.", name=form.text("name")))


@router.post(P + "/webhooks/{policy_id}/toggle")
async def toggle_webhook(view: SignedIn, name: str, policy_id: int) -> Response:
    project = await view.project(name, "notification-policy", "update")
    policy = await view.services.webhooks.get(project.id, policy_id)
    await view.services.webhooks.update(project.ref, policy_id, PolicyInput(name=None, enabled=not policy.enabled),
                                        view.actor())
    flash = (view._("Webhook %(name)s was enabled.", name=policy.name) if not policy.enabled
             else view._("Webhook %(name)s was disabled.", name=policy.name))
    return view.redirect(base_url(project) + "/webhooks", flash=flash)


@router.post(P + "/webhooks/{policy_id}/delete")
async def delete_webhook(view: SignedIn, name: str, policy_id: int) -> Response:
    project = await view.project(name, "notification-policy", "delete")
    policy = await view.services.webhooks.get(project.id, policy_id)
    await view.services.webhooks.delete(project.ref, policy_id, view.actor())
    return view.redirect(base_url(project) + "/webhooks",
                         flash=view._("Webhook %(name)s was deleted.", name=policy.name))


@router.get(P + "/webhooks/{policy_id}")
async def webhook_executions(view: SignedIn, name: str, policy_id: int) -> Response:
    """The policy's delivery log: one execution per event, newest first."""
    project = await view.project(name, "notification-policy", "list")
    policy = await view.services.webhooks.get(project.id, policy_id)
    pager = view.pager()
    executions, pager.total = await view.services.webhooks.executions_page(project.id, policy_id, pager.page,
                                                                           pager.size)
    return page(view, "project/_admin_webhook_executions.html", project, "webhooks", policy=policy,
                 executions=executions, pager=pager, event_labels=event_labels(view),
                 can_update=await view.can("notification-policy", "update", project.ref))


@router.get(P + "/webhooks/{policy_id}/executions/{execution_id}")
async def webhook_execution(view: SignedIn, name: str, policy_id: int, execution_id: int) -> Response:
    project = await view.project(name, "notification-policy", "list")
    policy = await view.services.webhooks.get(project.id, policy_id)
    execution = await view.services.webhooks.execution(project.id, policy_id, execution_id)
    tasks: list[TaskRecord] = await view.services.webhooks.tasks(project.id, policy_id, execution_id)
    pager = view.pager(len(tasks))
    return page(view, "project/_admin_webhook_execution.html", project, "webhooks", policy=policy,
                 execution=execution, tasks=tasks[pager.offset:pager.offset + pager.size], pager=pager,
                 event_labels=event_labels(view))


@router.get(P + "/webhooks/{policy_id}/executions/{execution_id}/tasks/{task_id}")
async def webhook_task(view: SignedIn, name: str, policy_id: int, execution_id: int, task_id: int) -> Response:
    project = await view.project(name, "notification-policy", "read")
    policy = await view.services.webhooks.get(project.id, policy_id)
    execution = await view.services.webhooks.execution(project.id, policy_id, execution_id)
    log = await view.services.webhooks.task_log(project.id, policy_id, execution_id, task_id)
    task = await view.services.executions.task(task_id)
    return page(view, "project/_admin_webhook_task.html", project, "webhooks", policy=policy,
                 execution=execution, task=task, log=log, event_labels=event_labels(view))


