"""Project administration pages: members, robot accounts and the project's audit log, and
the helpers the project policy and webhook pages share (``project_policies``,
``project_webhooks``).  Each handler checks the resource and action the matching
``/api/v2.0`` route checks (``auth/rbac.py``) and calls the same domain services."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from moorage.auth.rbac import ROBOT_PROJECT_GRANTABLE, Role
from moorage.core.errors import BadRequest, Forbidden, MoorageError, NotFound
from moorage.domain.projects import ProjectDetail
from moorage.domain.robots import RobotPermissions
from moorage.metadata.models import Robot
from moorage.metadata.queries.audit import AuditFilter
from moorage.metadata.queries.robots import RobotFilter
from moorage.portal.view import Form, SignedIn, View

router = APIRouter()
P = "/projects/{name}"
ROLE_ORDER = (Role.PROJECT_ADMIN, Role.MAINTAINER, Role.DEVELOPER, Role.GUEST, Role.LIMITED_GUEST)
ACTION_ORDER = ("push", "pull", "read", "list", "create", "update", "delete", "stop", "operate")
DEFAULT_ROBOT_ACCESS = frozenset({"repository:pull", "repository:push", "artifact:read", "artifact:list",
                                  "tag:list"})
AUDIT_OPERATIONS = ("create", "update", "delete", "pull")
AUDIT_RESOURCE_TYPES = ("artifact", "tag", "repository", "member", "robot", "project", "tag_retention",
                        "immutable_tag_rule", "webhook_policy", "label", "quota", "configuration")


def base_url(project: ProjectDetail) -> str:
    """Where the project's pages live."""
    return f"/projects/{quote(project.name, safe='')}"


def page(view: View, template: str, project: ProjectDetail, tab: str, status: int = 200, **context: Any
         ) -> Response:
    """A project page: the project, its active tab and ``base`` (its URL) besides ``context``."""
    return view.render(template, status=status, project=project, tab=tab, base=base_url(project), **context)


# Labels shown for domain codes ---------------------------------------------------------------


def role_labels(view: View) -> dict[int, str]:
    return {Role.PROJECT_ADMIN: view._("Project admin"), Role.MAINTAINER: view._("Maintainer"),
            Role.DEVELOPER: view._("Developer"), Role.GUEST: view._("Guest"),
            Role.LIMITED_GUEST: view._("Limited guest")}


def resource_labels(view: View) -> dict[str, str]:
    return {
        "repository": view._("Repository"), "artifact": view._("Artifact"), "tag": view._("Tag"),
        "artifact-label": view._("Artifact label"), "artifact-addition": view._("Artifact addition"),
        "accessory": view._("Accessory"), "label": view._("Label"), "scan": view._("Scan"),
        "sbom": view._("SBOM"), "scanner": view._("Scanner"), "export-cve": view._("CVE export"),
        "tag-retention": view._("Tag retention"), "immutable-tag": view._("Tag immutability"),
        "notification-policy": view._("Webhook policy"), "preheat-policy": view._("Preheat policy"),
        "member": view._("Member"), "robot": view._("Robot account"), "log": view._("Log"),
        "project": view._("Project"), "metadata": view._("Project metadata"), "quota": view._("Quota"),
    }


def action_labels(view: View) -> dict[str, str]:
    return {"push": view._("Push"), "pull": view._("Pull"), "read": view._("Read"), "list": view._("List"),
            "create": view._("Create"), "update": view._("Update"), "delete": view._("Delete"),
            "stop": view._("Stop"), "operate": view._("Run")}


def operation_labels(view: View) -> dict[str, str]:
    return {"create": view._("Create"), "update": view._("Update"), "delete": view._("Delete"),
            "pull": view._("Pull"), "push": view._("Push")}


def resource_type_labels(view: View) -> dict[str, str]:
    return {"artifact": view._("Artifact"), "tag": view._("Tag"), "repository": view._("Repository"),
            "member": view._("Member"), "robot": view._("Robot account"), "project": view._("Project"),
            "tag_retention": view._("Tag retention"), "immutable_tag_rule": view._("Tag immutability"),
            "webhook_policy": view._("Webhook policy"), "label": view._("Label"), "quota": view._("Quota"),
            "configuration": view._("Configuration")}


def whole(view: View, raw: str, what: str) -> int:
    """A whole number from a form field; BadRequest naming ``what`` otherwise."""
    try:
        return int(raw.strip())
    except ValueError:
        raise BadRequest(view._("%(what)s must be a whole number.", what=what)) from None



# Members -------------------------------------------------------------------------------------


async def _members_page(view: View, project: ProjectDetail, status: int = 200, error: str | None = None,
                        values: dict[str, Any] | None = None) -> Response:
    q = view.query("q").strip()
    pager = view.pager()
    rows, pager.total = await view.services.members.page(project.id, q or None, pager.offset, pager.size)
    labels = role_labels(view)
    return page(view, "project/members.html", project, "members", status, members=rows, pager=pager, q=q,
                 role_labels=labels, role_options=[(int(r), labels[r]) for r in ROLE_ORDER],
                 can_create=await view.can("member", "create", project.ref),
                 can_update=await view.can("member", "update", project.ref),
                 can_delete=await view.can("member", "delete", project.ref),
                 me=view.principal.id, own_locked=not view.principal.sysadmin,
                 error=error, values=values or {"username": "", "role": int(Role.DEVELOPER)})


@router.get(P + "/members")
async def members_page(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "member", "list")
    return await _members_page(view, project)


@router.post(P + "/members")
async def add_member(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "member", "create")
    form = await view.form()
    username, role = form.text("username"), form.text("role")
    try:
        if not username:
            raise BadRequest(view._("Enter the username of the user to add."))
        role_id = whole(view, role, view._("Role"))
        await view.services.members.add(project.ref, role_id, view.actor(), username=username)
    except MoorageError as exc:
        return await _members_page(view, project, exc.status, view.explain(exc), {"username": username, "role": role})
    label = role_labels(view).get(role_id, role)
    return view.redirect(base_url(project) + "/members",
                         flash=view._("%(user)s was added as %(role)s.", user=username, role=label))


async def _own_member(view: View, project: ProjectDetail, member_id: int, what: str) -> str:
    """The member's username; Forbidden for a user's own membership (as the API)."""
    member = await view.services.members.get(project.id, member_id)
    principal = view.principal
    if not principal.sysadmin and principal.id == member.user_id:
        raise Forbidden(what)
    return member.username


@router.post(P + "/members/{member_id}/role")
async def change_role(view: SignedIn, name: str, member_id: int) -> Response:
    project = await view.project(name, "member", "update")
    form = await view.form()
    try:
        username = await _own_member(view, project, member_id, view._("You cannot change your own role."))
        role_id = whole(view, form.text("role"), view._("Role"))
        await view.services.members.update_role(project.ref, member_id, role_id, view.actor())
    except MoorageError as exc:
        return await _members_page(view, project, exc.status, view.explain(exc))
    return view.redirect(base_url(project) + "/members", flash=view._(
        "%(user)s is now %(role)s.", user=username, role=role_labels(view).get(role_id, str(role_id))))


@router.post(P + "/members/{member_id}/delete")
async def remove_member(view: SignedIn, name: str, member_id: int) -> Response:
    project = await view.project(name, "member", "delete")
    try:
        username = await _own_member(view, project, member_id, view._("You cannot remove yourself."))
        await view.services.members.remove(project.ref, member_id, view.actor())
    except MoorageError as exc:
        return await _members_page(view, project, exc.status, view.explain(exc))
    return view.redirect(base_url(project) + "/members",
                         flash=view._("%(user)s was removed from the project.", user=username))


# Robot accounts ------------------------------------------------------------------------------


async def _grantable(view: View, project: ProjectDetail) -> list[tuple[str, list[str]]]:
    """Resource → the actions the caller may grant a robot in the project (it must hold them)."""
    out = []
    first = ("repository", "artifact", "tag")
    for resource in sorted(ROBOT_PROJECT_GRANTABLE, key=lambda r: (first.index(r) if r in first else 9, r)):
        actions = [a for a in ACTION_ORDER if a in ROBOT_PROJECT_GRANTABLE[resource]
                   and await view.can(resource, a, project.ref)]
        if actions:
            out.append((resource, actions))
    return out


def robot_access(robot: Robot) -> set[str]:
    return {f"{a.get('resource')}:{a.get('action')}" for p in robot.permissions or []
            for a in p.get("access") or [] if a.get("effect", "allow") != "deny"}


async def _robot_form(view: View, project: ProjectDetail, robot: Robot | None, status: int = 200,
                      error: str | None = None, form: Form | None = None) -> Response:
    if form is not None:
        values: dict[str, Any] = {"name": form.text("name"), "description": form.text("description"),
                                  "duration": form.text("duration"), "never": form.flag("never"),
                                  "access": set(form.getlist("access"))}
    elif robot is not None:
        values = {"name": robot.name, "description": robot.description,
                  "duration": "" if robot.duration == -1 else str(robot.duration), "never": robot.duration == -1,
                  "access": robot_access(robot)}
    else:
        duration = int(await view.services.config.value("robot_token_duration"))
        values = {"name": "", "description": "", "duration": "" if duration == -1 else str(duration),
                  "never": duration == -1, "access": set(DEFAULT_ROBOT_ACCESS)}
    return page(view, "project/_admin_robot_form.html", project, "robots", status, robot=robot, values=values,
                 grantable=await _grantable(view, project), resource_labels=resource_labels(view),
                 action_labels=action_labels(view), prefix=await view.services.robots.name_prefix(), error=error)


async def _robots_page(view: View, project: ProjectDetail, status: int = 200, error: str | None = None
                       ) -> Response:
    q = view.query("q").strip()
    pager = view.pager()
    robots, pager.total = await view.services.robots.list(
        RobotFilter(level="project", project_id=project.id, name_contains=q or None), pager.offset, pager.size, [])
    return page(view, "project/robots.html", project, "robots", status, robots=robots, pager=pager, q=q,
                 now=datetime.now(UTC), error=error,
                 can_create=await view.can("robot", "create", project.ref),
                 can_update=await view.can("robot", "update", project.ref),
                 can_delete=await view.can("robot", "delete", project.ref))


def _robot_permissions(project: ProjectDetail, form: Form) -> list[dict[str, Any]]:
    access = []
    for item in dict.fromkeys(form.getlist("access")):
        resource, _, action = item.partition(":")
        access.append({"resource": resource, "action": action, "effect": "allow"})
    return [{"kind": "project", "namespace": project.name, "access": access}]


def _duration(view: View, form: Form) -> int:
    if form.flag("never"):
        return -1
    raw = form.text("duration")
    if not raw:
        raise BadRequest(view._("Enter the number of days the robot account is valid, or choose never to expire."))
    return whole(view, raw, view._("Expiration"))


async def _check_grants(view: View, project: ProjectDetail, form: Form) -> RobotPermissions:
    """The form's permissions, validated; Forbidden for one the caller does not hold."""
    robots = view.services.robots
    if not form.getlist("access"):
        raise BadRequest(view._("Choose at least one permission."))
    permissions = await robots.check_permissions("project", _robot_permissions(project, form))
    for grant in permissions.grants:
        if not await view.can(grant.resource, grant.action, grant.project):
            raise Forbidden(view._("You may not grant %(permission)s: a robot account may hold only permissions "
                                   "you hold.", permission=f"{grant.resource}:{grant.action}"))
    return permissions


async def _project_robot(view: View, project: ProjectDetail, robot_id: int) -> Robot:
    robot = await view.services.robots.get(robot_id)
    if robot.level != "project" or robot.project_id != project.id:
        raise NotFound(view._("Robot account %(id)s not found in this project.", id=robot_id))
    return robot


def _secret_page(view: View, project: ProjectDetail, robot: Robot, secret: str, refreshed: bool) -> Response:
    host = view.request.headers.get("host") or view.request.url.netloc
    return page(view, "project/_admin_robot_secret.html", project, "robots", robot=robot, secret=secret,
                 refreshed=refreshed, login=f"docker login {host} -u '{robot.name}'")


@router.get(P + "/robots")
async def robots_page(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "robot", "list")
    return await _robots_page(view, project)


@router.get(P + "/robots/new")
async def new_robot(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "robot", "create")
    return await _robot_form(view, project, None)


@router.post(P + "/robots")
async def create_robot(view: SignedIn, name: str) -> Response:
    """The secret is shown in this response only: never in a URL, a cookie or a later page."""
    project = await view.project(name, "robot", "create")
    form = await view.form()
    try:
        permissions = await _check_grants(view, project, form)
        robot, secret = await view.services.robots.create(
            name=form.text("name"), description=form.text("description"), level="project",
            permissions=permissions, duration=_duration(view, form), disabled=False, secret=None,
            creator=view.actor())
    except MoorageError as exc:
        return await _robot_form(view, project, None, exc.status, view.explain(exc), form)
    return _secret_page(view, project, robot, secret, refreshed=False)


@router.get(P + "/robots/{robot_id}")
async def robot_page(view: SignedIn, name: str, robot_id: int) -> Response:
    project = await view.project(name, "robot", "read")
    robot = await _project_robot(view, project, robot_id)
    if await view.can("robot", "update", project.ref):
        return await _robot_form(view, project, robot)
    return page(view, "project/_admin_robot_form.html", project, "robots", robot=robot, values={
        "name": robot.name, "description": robot.description, "duration": str(robot.duration),
        "never": robot.duration == -1, "access": robot_access(robot)}, grantable=[],
        resource_labels=resource_labels(view), action_labels=action_labels(view), prefix="", error=None,
        readonly=True)


@router.post(P + "/robots/{robot_id}")
async def update_robot(view: SignedIn, name: str, robot_id: int) -> Response:
    project = await view.project(name, "robot", "update")
    robot = await _project_robot(view, project, robot_id)
    form = await view.form()
    try:
        permissions = await _check_grants(view, project, form)
        await view.services.robots.update(robot, description=form.text("description"), disabled=None,
                                          duration=_duration(view, form), permissions=permissions,
                                          actor=view.actor())
    except MoorageError as exc:
        return await _robot_form(view, project, robot, exc.status, view.explain(exc), form)
    return view.redirect(base_url(project) + "/robots", flash=view._("Robot account %(name)s was saved.",
                                                                       name=robot.name))


@router.post(P + "/robots/{robot_id}/enable")
async def enable_robot(view: SignedIn, name: str, robot_id: int) -> Response:
    return await _set_disabled(view, name, robot_id, False)


@router.post(P + "/robots/{robot_id}/disable")
async def disable_robot(view: SignedIn, name: str, robot_id: int) -> Response:
    return await _set_disabled(view, name, robot_id, True)


async def _set_disabled(view: View, name: str, robot_id: int, disabled: bool) -> Response:
    project = await view.project(name, "robot", "update")
    robot = await _project_robot(view, project, robot_id)
    await view.services.robots.update(robot, description=None, disabled=disabled, duration=None, permissions=None,
                                      actor=view.actor())
    message = (view._("Robot account %(name)s was disabled.", name=robot.name) if disabled
               else view._("Robot account %(name)s was enabled.", name=robot.name))
    return view.redirect(base_url(project) + "/robots", flash=message)


@router.post(P + "/robots/{robot_id}/refresh")
async def refresh_robot(view: SignedIn, name: str, robot_id: int) -> Response:
    project = await view.project(name, "robot", "update")
    robot = await _project_robot(view, project, robot_id)
    secret = await view.services.robots.refresh_secret(robot, None, view.actor())
    assert secret is not None  # generated when none is given
    return _secret_page(view, project, robot, secret, refreshed=True)


@router.post(P + "/robots/{robot_id}/delete")
async def delete_robot(view: SignedIn, name: str, robot_id: int) -> Response:
    project = await view.project(name, "robot", "delete")
    robot = await _project_robot(view, project, robot_id)
    await view.services.robots.delete(robot, view.actor())
    return view.redirect(base_url(project) + "/robots",
                         flash=view._("Robot account %(name)s was deleted.", name=robot.name))


# Logs ----------------------------------------------------------------------------------------


def _day(view: View, raw: str, end: bool) -> datetime | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise BadRequest(view._("%(value)s is not a date (YYYY-MM-DD).", value=raw)) from None
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


@router.get(P + "/logs")
async def logs_page(view: SignedIn, name: str) -> Response:
    project = await view.project(name, "log", "list")
    operations, types = operation_labels(view), resource_type_labels(view)
    filters = {k: view.query(k).strip() for k in ("username", "resource", "resource_type", "operation", "since",
                                                   "until")}
    pager = view.pager()
    error = None
    entries: list[Any] = []
    try:
        found = AuditFilter(
            project_id=project.id, username=filters["username"] or None, username_fuzzy=True,
            resource=filters["resource"] or None, resource_fuzzy=True,
            resource_type=filters["resource_type"] or None, operation=filters["operation"] or None,
            since=_day(view, filters["since"], False), until=_day(view, filters["until"], True))
        entries, pager.total = await view.services.audit.list(found, pager.offset, pager.size, [])
    except BadRequest as exc:
        error = view.explain(exc)
    return page(view, "project/logs.html", project, "logs", 400 if error else 200, entries=entries,
                 pager=pager, filters=filters, error=error, operation_labels=operations, type_labels=types,
                 operations=[(o, operations[o]) for o in AUDIT_OPERATIONS],
                 resource_types=[(t, types.get(t, t)) for t in AUDIT_RESOURCE_TYPES])
