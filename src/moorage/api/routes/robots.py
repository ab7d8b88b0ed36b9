"""Harbor's robot accounts (v2): ``/robots`` and ``/robots/{robot_id}``.

System robots need system ``robot`` permissions (the administrator, or a system robot
holding them); project robots need ``robot`` permissions in their project.  A robot may be
given only accesses its granter holds itself.  The secret is shown at creation and on
refresh only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.lists import dump, page_of, paged
from moorage.api.schemas import Robot as RobotOut
from moorage.api.schemas import RobotCreate, RobotCreated, RobotPermission, RobotSec
from moorage.api.security import Security, actor, denied, require_project, require_system, services_of
from moorage.auth.context import SecurityContext
from moorage.auth.rbac import ProjectRef
from moorage.core.errors import BadRequest, Forbidden, NotFound
from moorage.core.query import Condition, parse_q, parse_sort
from moorage.domain.robots import ALL_PROJECTS, RobotPermissions
from moorage.metadata.models import Robot
from moorage.metadata.queries.robots import SORTABLE, RobotFilter

router = APIRouter(tags=["robot"])
BASE = "/api/v2.0/robots"


def _permissions(perms: list[RobotPermission] | None) -> list[dict[str, Any]] | None:
    return None if perms is None else [p.model_dump(exclude_none=True) for p in perms]


def _expires_at(robot: Robot) -> int:
    return int(robot.expires_at.timestamp()) if robot.expires_at is not None else -1


def _out(robot: Robot) -> RobotOut:
    return RobotOut.model_validate(
        {
            "id": robot.id,
            "name": robot.name,
            "description": robot.description,
            "level": robot.level,
            "duration": robot.duration,
            "editable": True,
            "disable": robot.disabled,
            "expires_at": _expires_at(robot),
            "permissions": robot.permissions or [],
            "creation_time": robot.created_at,
            "update_time": robot.updated_at,
        },
        strict=False,
    )


async def _require(
    ctx: SecurityContext, request: Request, robot: Robot | None, level: str, project: ProjectRef | None, action: str
) -> None:
    """``robot:<action>`` at the robot's level: system-wide, or in its project."""
    if level == "project":
        if project is None:
            assert robot is not None and robot.project_id is not None
            project = await services_of(request).projects.get_ref(str(robot.project_id))
        await require_project(ctx, project, "robot", action)
    else:
        await require_system(ctx, "robot", action)


async def _require_grants(ctx: SecurityContext, permissions: RobotPermissions) -> None:
    """The caller must itself hold every access it grants."""
    for grant in permissions.grants:
        if not await ctx.can(grant.resource, grant.action, grant.project):
            where = (
                "system-wide"
                if grant.project is None
                else ("in every project" if grant.project is ALL_PROJECTS else f"in project {grant.project.name}")
            )
            raise Forbidden(
                f"{ctx.username} may not grant {grant.resource}:{grant.action} {where}: "
                "a robot may hold only permissions its creator holds"
            )


async def _robot(request: Request, ctx: SecurityContext, robot_id: int, action: str) -> Robot:
    if not ctx.principal.authenticated:
        raise denied(ctx, f"{action} robots")
    robot = await services_of(request).robots.get(robot_id)
    await _require(ctx, request, robot, robot.level, None, action)
    return robot


@router.post(BASE, status_code=201, response_model=None)
async def create_robot(request: Request, body: RobotCreate, ctx: Security) -> Response:
    if not ctx.principal.authenticated:
        raise denied(ctx, "create robots")
    robots = services_of(request).robots
    level = body.level or ""
    permissions = await robots.check_permissions(level, _permissions(body.permissions))
    await _require(ctx, request, None, level, permissions.project, "create")
    await _require_grants(ctx, permissions)
    robot, secret = await robots.create(
        name=body.name or "",
        description=body.description or "",
        level=level,
        permissions=permissions,
        duration=body.duration,
        disabled=bool(body.disable),
        secret=body.secret,
        creator=actor(request, ctx),
    )
    created = RobotCreated(
        id=robot.id, name=robot.name, secret=secret, creation_time=robot.created_at, expires_at=_expires_at(robot)
    )
    return JSONResponse(dump(created), status_code=201, headers={"Location": f"{BASE}/{robot.id}"})


def _filter(raw_q: str | None, prefix: str) -> tuple[RobotFilter, str, int | None]:
    """Harbor's ``q`` for robots: ``Level``, ``ProjectID``, ``name``, ``description``; returns
    the filter, the level asked for and the project id (project level)."""
    conditions = parse_q(raw_q)
    lower = {k.lower(): c for k, c in conditions.items()}

    def exact(key: str) -> str | None:
        cond = lower.get(key)
        if cond is None:
            return None
        if cond.kind != "exact" or not cond.value:
            raise BadRequest(f"query {key} takes one exact value")
        return cond.value

    project_raw = exact("projectid") or exact("project_id")
    level = exact("level") or ("project" if project_raw is not None else "system")
    if level not in ("system", "project"):
        raise BadRequest(f"bad request error level input: {level}")
    project_id: int | None = None
    if level == "project":
        if project_raw is None:
            raise BadRequest("must with project ID when to query project robots")
        if not project_raw.isdigit():
            raise BadRequest("Project ID must be int type.")
        project_id = int(project_raw)
    names, name_contains = _name_filter(lower.get("name"), prefix)
    description = lower.get("description")
    if description is not None and description.kind not in ("exact", "fuzzy"):
        raise BadRequest("query description takes one value")
    return (
        RobotFilter(
            level=level,
            project_id=project_id,
            names=names,
            name_contains=name_contains,
            description_contains=description.value if description else None,
        ),
        level,
        project_id,
    )


def _name_filter(cond: Condition | None, prefix: str) -> tuple[tuple[str, ...], str | None]:
    """An exact name matches the full name, or the name without the prefix (as Harbor stores it)."""
    if cond is None:
        return (), None
    if cond.kind == "fuzzy":
        return (), cond.value or ""
    if cond.kind == "exact" and cond.value is not None:
        return (cond.value, prefix + cond.value), None
    if cond.kind == "or":
        return tuple(n for v in cond.values for n in (v, prefix + v)), None
    raise BadRequest("query name takes an exact value, ~fuzzy or {a b}")


@router.get(BASE, response_model=None)
async def list_robots(request: Request, ctx: Security) -> Response:
    if not ctx.principal.authenticated:
        raise denied(ctx, "list robots")
    services = services_of(request)
    page = page_of(request)
    sort = parse_sort(request.query_params.get("sort"), SORTABLE)
    filters, level, project_id = _filter(request.query_params.get("q"), await services.robots.name_prefix())
    project = None
    if project_id is not None:
        project = await services.projects.find_ref(project_id=project_id)
        if project is None:
            raise NotFound(f"project {project_id} not found")
    await _require(ctx, request, None, level, project, "list")
    robots, total = await services.robots.list(filters, page.offset, page.limit, sort)
    return paged(request, [_out(r) for r in robots], page, total)


@router.get(BASE + "/{robot_id}", response_model=None)
async def get_robot(request: Request, robot_id: int, ctx: Security) -> Response:
    robot = await _robot(request, ctx, robot_id, "read")
    return JSONResponse(dump(_out(robot)))


@router.put(BASE + "/{robot_id}", response_model=None)
async def update_robot(request: Request, robot_id: int, body: RobotOut, ctx: Security) -> Response:
    robot = await _robot(request, ctx, robot_id, "update")
    if body.name is not None and body.name != robot.name:
        raise BadRequest("cannot update the level or name of robot")
    if body.level is not None and body.level != robot.level:
        raise BadRequest("cannot update the level or name of robot")
    robots = services_of(request).robots
    permissions = None
    if body.permissions is not None:
        permissions = await robots.check_permissions(robot.level, _permissions(body.permissions))
        await _require_grants(ctx, permissions)
    await robots.update(
        robot,
        description=body.description,
        disabled=body.disable,
        duration=body.duration,
        permissions=permissions,
        actor=actor(request, ctx),
    )
    return Response(status_code=200)


@router.patch(BASE + "/{robot_id}", response_model=None)
async def refresh_secret(request: Request, robot_id: int, body: RobotSec, ctx: Security) -> Response:
    robot = await _robot(request, ctx, robot_id, "update")
    secret = await services_of(request).robots.refresh_secret(robot, body.secret, actor(request, ctx))
    return JSONResponse(dump(RobotSec(secret=secret)))


@router.delete(BASE + "/{robot_id}", response_model=None)
async def delete_robot(request: Request, robot_id: int, ctx: Security) -> Response:
    robot = await _robot(request, ctx, robot_id, "delete")
    await services_of(request).robots.delete(robot, actor(request, ctx))
    return Response(status_code=200)
