"""Project policy pages: tag retention (rules from Harbor's templates, schedule, runs and dry
runs with each repository's RETAIN/DEL log) and tag immutability rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from moorage.core.errors import BadRequest, MoorageError, NotFound
from moorage.domain.executions import ERROR, RETENTION, STOPPED, SUCCESS, ExecutionRecord
from moorage.domain.immutability import ImmutableRule
from moorage.domain.projects import ProjectDetail
from moorage.domain.retention import Policy
from moorage.domain.retention_rules import TEMPLATES, Rule
from moorage.domain.schedules import PRESETS, cron_for
from moorage.domain.selectors import Selector
from moorage.portal.routes.project_admin import P, base_url, page, whole
from moorage.portal.view import Form, SignedIn, View

router = APIRouter()
FINAL = frozenset({SUCCESS, ERROR, STOPPED})


# Rules in words ------------------------------------------------------------------------------


def schedule_labels(view: View) -> dict[str, str]:
    return {"None": view._("None"), "Hourly": view._("Hourly"), "Daily": view._("Daily"),
            "Weekly": view._("Weekly"), "Custom": view._("Custom")}


def template_text(view: View, template: str, value: int) -> str:
    """What a retention rule's template keeps, in words."""
    match template:
        case "latestPushedK":
            return view.ngettext("retain the most recently pushed %(num)s artifact",
                                 "retain the most recently pushed %(num)s artifacts", value, num=value)
        case "latestPulledN":
            return view.ngettext("retain the most recently pulled %(num)s artifact",
                                 "retain the most recently pulled %(num)s artifacts", value, num=value)
        case "latestActiveK":
            return view.ngettext("retain the most recently pushed or pulled %(num)s artifact",
                                 "retain the most recently pushed or pulled %(num)s artifacts", value, num=value)
        case "nDaysSinceLastPush":
            return view.ngettext("retain the artifacts pushed within the last %(num)s day",
                                 "retain the artifacts pushed within the last %(num)s days", value, num=value)
        case "nDaysSinceLastPull":
            return view.ngettext("retain the artifacts pulled within the last %(num)s day",
                                 "retain the artifacts pulled within the last %(num)s days", value, num=value)
        case "always":
            return view._("retain always")
        case "nothing":
            return view._("retain nothing")
    return template


def template_options(view: View) -> list[tuple[str, str]]:
    return [("latestPushedK", view._("the most recently pushed # artifacts")),
            ("latestPulledN", view._("the most recently pulled # artifacts")),
            ("nDaysSinceLastPush", view._("pushed within the last # days")),
            ("nDaysSinceLastPull", view._("pulled within the last # days")),
            ("always", view._("always"))]


def selectors_text(view: View, selectors: tuple[Selector, ...]) -> str:
    parts = []
    for s in selectors:
        if s.decoration in ("matches", "repoMatches"):
            parts.append(view._("matching %(pattern)s", pattern=s.pattern))
        else:
            parts.append(view._("excluding %(pattern)s", pattern=s.pattern))
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class RuleView:
    """A retention or immutability rule as a page shows it."""

    id: int
    disabled: bool
    repositories: str
    tags: str
    untagged: bool
    action: str  # what the rule does, in words


def retention_rule_view(view: View, policy: Policy) -> list[RuleView]:
    return [RuleView(r.id, r.disabled, selectors_text(view, r.repository_selectors),
                     selectors_text(view, r.tag_selectors), any(s.untagged for s in r.tag_selectors),
                     template_text(view, r.template, r.value)) for r in policy.rules]


def immutable_rule_view(view: View, rule: ImmutableRule) -> RuleView:
    return RuleView(rule.id, rule.disabled, selectors_text(view, rule.repository_selectors),
                    selectors_text(view, rule.tag_selectors), False, view._("immutable"))


# Forms ---------------------------------------------------------------------------------------


def _selector(decoration: str, pattern: str, extras: str = "") -> dict[str, str]:
    return {"kind": "doublestar", "decoration": decoration, "pattern": pattern, "extras": extras}


def selectors_from_form(view: View, form: Form) -> tuple[list[dict[str, str]], dict[str, list[dict[str, str]]]]:
    """(tag selectors, scope selectors) of a rule form; BadRequest for a missing pattern."""
    repo_decoration = form.text("repo_decoration") or "repoMatches"
    tag_decoration = form.text("tag_decoration") or "matches"
    if repo_decoration not in ("repoMatches", "repoExcludes") or tag_decoration not in ("matches", "excludes"):
        raise BadRequest(view._("Choose whether the patterns match or exclude."))
    repo_pattern, tag_pattern = form.text("repo_pattern"), form.text("tag_pattern")
    if not repo_pattern or not tag_pattern:
        raise BadRequest(view._("Enter a repository pattern and a tag pattern (** for all)."))
    untagged = '{"untagged":true}' if form.flag("untagged") else '{"untagged":false}'
    return ([_selector(tag_decoration, tag_pattern, untagged)],
            {"repository": [_selector(repo_decoration, repo_pattern)]})


def rule_form_values(form: Form | None) -> dict[str, Any]:
    """What a rule form shows: the defaults, or what was sent."""
    if form is None:
        return {"template": "latestPushedK", "value": "10", "repo_decoration": "repoMatches", "repo_pattern": "**",
                "tag_decoration": "matches", "tag_pattern": "**", "untagged": True}
    return {"template": form.text("template"), "value": form.text("value"),
            "repo_decoration": form.text("repo_decoration"), "repo_pattern": form.text("repo_pattern"),
            "tag_decoration": form.text("tag_decoration"), "tag_pattern": form.text("tag_pattern"),
            "untagged": form.flag("untagged")}


def retention_rule_values(rule: Rule) -> dict[str, Any]:
    """What the edit form of a stored retention rule shows."""
    repo, tag = rule.repository_selectors[0], rule.tag_selectors[0]
    template = TEMPLATES.get(rule.template)
    return {"template": rule.template, "value": str(rule.value) if template and template.unit else "",
            "repo_decoration": repo.decoration, "repo_pattern": repo.pattern, "tag_decoration": tag.decoration,
            "tag_pattern": tag.pattern, "untagged": tag.untagged}


def immutable_form_values(rule: ImmutableRule | None, form: Form | None) -> dict[str, Any]:
    if form is not None:
        return rule_form_values(form)
    if rule is None:
        return {"repo_decoration": "repoMatches", "repo_pattern": "**", "tag_decoration": "matches",
                "tag_pattern": "**"}
    repo, tag = rule.repository_selectors[0], rule.tag_selectors[0]
    return {"repo_decoration": repo.decoration, "repo_pattern": repo.pattern, "tag_decoration": tag.decoration,
            "tag_pattern": tag.pattern}


# Policies: tag retention ---------------------------------------------------------------------


async def retention_policy(view: View, project: ProjectDetail) -> Policy | None:
    """The project's retention policy (its ``retention_id`` metadata), or None."""
    raw = project.metadata.get("retention_id", "")
    if not raw.isdigit():
        return None
    try:
        policy = await view.services.retention.get(int(raw))
    except NotFound:
        return None
    return policy if policy.project_id == project.id else None


def schedule_kind(cron: str) -> str:
    if not cron:
        return "None"
    return next((kind for kind, preset in PRESETS.items() if preset == cron), "Custom")


def _policy_body(project: ProjectDetail, rules: list[dict[str, Any]], cron: str) -> dict[str, Any]:
    return {"algorithm": "or", "rules": rules, "trigger": {"kind": "Schedule", "settings": {"cron": cron}},
            "scope": {"level": "project", "ref": project.id}}


async def _save_retention(view: View, project: ProjectDetail, policy: Policy | None, rules: list[dict[str, Any]],
                          cron: str) -> None:
    """Create the project's policy, or replace the rules and schedule of the one it has."""
    body = _policy_body(project, rules, cron)
    if policy is None:
        await view.require_project(project.ref, "tag-retention", "create")
        await view.services.retention.create(project.ref, body, view.actor())
    else:
        await view.require_project(project.ref, "tag-retention", "update")
        await view.services.retention.update(policy.id, project.ref, body, view.actor())


async def _retention_page(view: View, project: ProjectDetail, status: int = 200, error: str | None = None,
                          form: Form | None = None, schedule_error: str | None = None) -> Response:
    policy = await retention_policy(view, project)
    pager = view.pager(default_size=10)
    executions: list[ExecutionRecord] = []
    if policy is not None:
        executions, pager.total = await view.services.executions.list(RETENTION, policy.id, pager.page, pager.size)
    ref = project.ref
    cron = policy.cron if policy else ""
    scheduled = await view.services.schedules.get(RETENTION, policy.id) if policy and cron else None
    return page(
        view, "project/policies.html", project, "policies", status, section="retention", policy=policy,
        rules=retention_rule_view(view, policy) if policy else [], executions=executions, pager=pager,
        schedule={"kind": schedule_kind(cron), "cron": cron, "next": scheduled.next_run if scheduled else None},
        schedule_labels=schedule_labels(view),
        template_options=template_options(view), values=rule_form_values(form), error=error,
        schedule_error=schedule_error,
        can_edit=await view.can("tag-retention", "update", ref) and await view.can("tag-retention", "create", ref),
        can_run=await view.can("tag-retention", "operate", ref),
        can_immutability=await view.can("immutable-tag", "list", ref))


@router.get(P + "/policies")
async def policies_page(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "tag-retention", "list")
    return await _retention_page(view, project)


@router.post(P + "/policies/retention/rules")
async def add_retention_rule(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "tag-retention", "list")
    form = await view.form()
    policy = await retention_policy(view, project)
    try:
        rules = [r.to_json() for r in policy.rules] if policy else []
        await _save_retention(view, project, policy, [*rules, _retention_rule(view, form, False)],
                              policy.cron if policy else "")
    except MoorageError as exc:
        return await _retention_page(view, project, exc.status, view.explain(exc), form)
    return view.redirect(base_url(project) + "/policies", flash=view._("The retention rule was added."))


def _retention_rule(view: View, form: Form, disabled: bool) -> dict[str, Any]:
    """A retention rule in Harbor's shape from the rule form (BadRequest when incomplete)."""
    template = form.text("template")
    if template not in TEMPLATES:
        raise BadRequest(view._("Choose what the rule retains."))
    params = {}
    if TEMPLATES[template].unit:
        params[template] = whole(view, form.text("value"), view._("Count"))
    tag_selectors, scope_selectors = selectors_from_form(view, form)
    return {"disabled": disabled, "action": "retain", "template": template, "params": params,
            "tag_selectors": tag_selectors, "scope_selectors": scope_selectors}


async def _stored_rule(view: View, project: ProjectDetail, rule_id: int) -> tuple[Policy, Rule]:
    policy = await retention_policy(view, project)
    rule = next((r for r in policy.rules if r.id == rule_id), None) if policy else None
    if policy is None or rule is None:
        raise NotFound(view._("Retention rule %(id)s not found.", id=rule_id))
    return policy, rule


async def _retention_rule_form(view: View, project: ProjectDetail, rule: Rule, status: int = 200,
                               error: str | None = None, form: Form | None = None) -> Response:
    return page(view, "project/_admin_retention_rule_form.html", project, "policies", status, rule=rule,
                 values=rule_form_values(form) if form else retention_rule_values(rule),
                 template_options=template_options(view), error=error)


@router.get(P + "/policies/retention/rules/{rule_id}")
async def edit_retention_rule(view: SignedIn, name: str, rule_id: int) -> Response:
    project = await view.project(name, "tag-retention", "update")
    _, rule = await _stored_rule(view, project, rule_id)
    return await _retention_rule_form(view, project, rule)


@router.post(P + "/policies/retention/rules/{rule_id}")
async def update_retention_rule(view: SignedIn, name: str, rule_id: int) -> Response:
    project = await view.project(name, "tag-retention", "update")
    policy, rule = await _stored_rule(view, project, rule_id)
    form = await view.form()
    try:
        edited = _retention_rule(view, form, rule.disabled)
        rules = [edited if r.id == rule_id else r.to_json() for r in policy.rules]
        await _save_retention(view, project, policy, rules, policy.cron)
    except MoorageError as exc:
        return await _retention_rule_form(view, project, rule, exc.status, view.explain(exc), form)
    return view.redirect(base_url(project) + "/policies", flash=view._("The retention rule was saved."))


async def _change_rule(view: View, name: str, rule_id: int, change: str) -> Response:
    project = await view.project(name, "tag-retention", "update")
    policy = await retention_policy(view, project)
    if policy is None or not any(r.id == rule_id for r in policy.rules):
        raise NotFound(view._("Retention rule %(id)s not found.", id=rule_id))
    rules = []
    for r in policy.rules:
        value = r.to_json()
        if r.id == rule_id:
            if change == "delete":
                continue
            value["disabled"] = not r.disabled
        rules.append(value)
    try:
        await _save_retention(view, project, policy, rules, policy.cron)
    except MoorageError as exc:
        return await _retention_page(view, project, exc.status, view.explain(exc))
    messages = {"delete": view._("The retention rule was deleted."),
                "toggle": view._("The retention rule was updated.")}
    return view.redirect(base_url(project) + "/policies", flash=messages[change])


@router.post(P + "/policies/retention/rules/{rule_id}/toggle")
async def toggle_retention_rule(view: SignedIn, name: str, rule_id: int) -> Response:
    return await _change_rule(view, name, rule_id, "toggle")


@router.post(P + "/policies/retention/rules/{rule_id}/delete")
async def delete_retention_rule(view: SignedIn, name: str, rule_id: int) -> Response:
    return await _change_rule(view, name, rule_id, "delete")


@router.post(P + "/policies/retention/schedule")
async def retention_schedule(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "tag-retention", "list")
    form = await view.form()
    policy = await retention_policy(view, project)
    try:
        kind = form.text("kind") or "None"
        cron = "" if kind == "None" else cron_for(kind, form.text("cron"))
        rules = [r.to_json() for r in policy.rules] if policy else []
        await _save_retention(view, project, policy, rules, cron)
    except MoorageError as exc:
        return await _retention_page(view, project, exc.status, schedule_error=view.explain(exc))
    return view.redirect(base_url(project) + "/policies", flash=view._("The retention schedule was saved."))


@router.post(P + "/policies/retention/run")
async def run_retention(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "tag-retention", "operate")
    form = await view.form()
    policy = await retention_policy(view, project)
    if policy is None:
        return await _retention_page(view, project, 400, view._("Add a retention rule first."))
    dry_run = form.flag("dry_run")
    try:
        execution_id = await view.services.retention.trigger(policy, dry_run, view.ctx.username)
    except MoorageError as exc:
        return await _retention_page(view, project, exc.status, view.explain(exc))
    flash = view._("The dry run has started.") if dry_run else view._("The retention run has started.")
    return view.redirect(f"{base_url(project)}/policies/retention/executions/{execution_id}", flash=flash)


async def _execution_context(view: View, name: str, execution_id: int, action: str
                             ) -> tuple[ProjectDetail, Policy, ExecutionRecord]:
    project = await view.project(name, "tag-retention", action)
    policy = await retention_policy(view, project)
    if policy is None:
        raise NotFound(view._("This project has no retention policy."))
    return project, policy, await view.services.retention.execution(policy.id, execution_id)


@router.get(P + "/policies/retention/executions/{execution_id}")
async def retention_execution(view: SignedIn, name: str, execution_id: int) -> Response:
    project, policy, execution = await _execution_context(view, name, execution_id, "list")
    pager = view.pager()
    pager.params.pop("fragment", None)  # the page links of a polled fragment lead to the full page
    tasks, pager.total, totals = await view.services.retention.repository_tasks_page(
        policy.id, execution_id, pager.offset, pager.size)
    fragment = view.query("fragment") or view.request.headers.get("x-fragment")
    template = "project/_admin_retention_tasks.html" if fragment else "project/_admin_retention_execution.html"
    return page(view, template, project, "policies", policy=policy, execution=execution, tasks=tasks,
                 pager=pager, final=execution.status in FINAL, judged=totals.judged, retained=totals.retained,
                 can_run=await view.can("tag-retention", "operate", project.ref))


@router.post(P + "/policies/retention/executions/{execution_id}/stop")
async def stop_retention(view: SignedIn, name: str, execution_id: int) -> Response:
    project, _, execution = await _execution_context(view, name, execution_id, "operate")
    await view.services.executions.stop(execution.id)
    return view.redirect(f"{base_url(project)}/policies/retention/executions/{execution_id}",
                         flash=view._("The run is stopping."))


@dataclass(frozen=True, slots=True)
class LogRow:
    digest: str
    tags: str
    pushed: str
    pulled: str
    action: str
    reason: str


def retention_rows(log: str) -> list[LogRow]:
    """The artifact rows of a retention task log's table (digest, tags, pushed, pulled, RETAIN/DEL, why)."""
    rows = []
    for line in log.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 6 and cells[0].startswith("sha256:"):
            rows.append(LogRow(*cells))
    return rows


def reason_text(view: View, reason: str) -> str:
    """Why the run kept or deleted an artifact, in the page's language (the log's words otherwise)."""
    if reason == "no rule retains it":
        return view._("no rule retains it")
    if reason == "kept: the run was stopped":
        return view._("kept: the run was stopped")
    if reason.startswith("rule "):
        return view._("kept by rule %(rules)s", rules=reason[len("rule "):])
    if reason.startswith("immutable tag "):
        return view._("immutable tag %(tags)s", tags=reason[len("immutable tag "):])
    return reason


@router.get(P + "/policies/retention/executions/{execution_id}/tasks/{task_id}")
async def retention_task(view: SignedIn, name: str, execution_id: int, task_id: int) -> Response:
    project, policy, execution = await _execution_context(view, name, execution_id, "read")
    log = await view.services.retention.task_log(policy.id, execution_id, task_id)
    task = await view.services.executions.task(task_id)
    rows = [LogRow(r.digest, r.tags, r.pushed, r.pulled, r.action, reason_text(view, r.reason))
            for r in retention_rows(log)]
    return page(view, "project/_admin_retention_log.html", project, "policies", policy=policy,
                 execution=execution, task=task, log=log, rows=rows,
                 deleted=sum(1 for r in rows if r.action == "DEL"),
                 retained=sum(1 for r in rows if r.action == "RETAIN"))


# Policies: tag immutability ------------------------------------------------------------------


async def _immutability_page(view: View, project: ProjectDetail, status: int = 200, error: str | None = None,
                             form: Form | None = None) -> Response:
    pager = view.pager()
    rules, pager.total = await view.services.immutability.page(project.id, pager.offset, pager.size)
    ref = project.ref
    return page(view, "project/policies.html", project, "policies", status, section="immutability",
                 immutable_rules=[immutable_rule_view(view, r) for r in rules], pager=pager,
                 values=immutable_form_values(None, form), error=error,
                 can_create=await view.can("immutable-tag", "create", ref),
                 can_update=await view.can("immutable-tag", "update", ref),
                 can_delete=await view.can("immutable-tag", "delete", ref),
                 can_immutability=True)


def _immutable_body(view: View, form: Form) -> dict[str, Any]:
    tag_selectors, scope_selectors = selectors_from_form(view, form)
    tag_selectors[0]["extras"] = ""
    return {"action": "immutable", "template": "immutable_template", "tag_selectors": tag_selectors,
            "scope_selectors": scope_selectors}


@router.get(P + "/policies/immutability")
async def immutability_page(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "immutable-tag", "list")
    return await _immutability_page(view, project)


@router.post(P + "/policies/immutability")
async def add_immutable_rule(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "immutable-tag", "create")
    form = await view.form()
    try:
        await view.services.immutability.create(project.ref, _immutable_body(view, form), view.actor())
    except MoorageError as exc:
        return await _immutability_page(view, project, exc.status, view.explain(exc), form)
    return view.redirect(base_url(project) + "/policies/immutability",
                         flash=view._("The immutability rule was added."))


async def _immutable_form(view: View, project: ProjectDetail, rule: ImmutableRule, status: int = 200,
                          error: str | None = None, form: Form | None = None) -> Response:
    return page(view, "project/_admin_immutable_form.html", project, "policies", status, rule=rule,
                 values=immutable_form_values(rule, form), error=error)


@router.get(P + "/policies/immutability/{rule_id}")
async def edit_immutable_rule(view: SignedIn, name: str, rule_id: int) -> Response:
    project = await view.project(name, "immutable-tag", "update")
    return await _immutable_form(view, project, await view.services.immutability.get(project.id, rule_id))


@router.post(P + "/policies/immutability/{rule_id}")
async def update_immutable_rule(view: SignedIn, name: str, rule_id: int) -> Response:
    project = await view.project(name, "immutable-tag", "update")
    rule = await view.services.immutability.get(project.id, rule_id)
    form = await view.form()
    try:
        await view.services.immutability.update(project.ref, rule_id, _immutable_body(view, form), view.actor())
    except MoorageError as exc:
        return await _immutable_form(view, project, rule, exc.status, view.explain(exc), form)
    return view.redirect(base_url(project) + "/policies/immutability",
                         flash=view._("The immutability rule was saved."))


@router.post(P + "/policies/immutability/{rule_id}/toggle")
async def toggle_immutable_rule(view: SignedIn, name: str, rule_id: int) -> Response:
    project = await view.project(name, "immutable-tag", "update")
    rule = await view.services.immutability.get(project.id, rule_id)
    await view.services.immutability.update(project.ref, rule_id, {"disabled": not rule.disabled}, view.actor())
    flash = view._("The immutability rule was enabled.") if rule.disabled else \
        view._("The immutability rule was disabled.")
    return view.redirect(base_url(project) + "/policies/immutability", flash=flash)


@router.post(P + "/policies/immutability/{rule_id}/delete")
async def delete_immutable_rule(view: SignedIn, name: str, rule_id: int) -> Response:
    project = await view.project(name, "immutable-tag", "delete")
    await view.services.immutability.delete(project.ref, rule_id, view.actor())
    return view.redirect(base_url(project) + "/policies/immutability",
                         flash=view._("The immutability rule was deleted."))


