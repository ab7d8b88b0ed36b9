"""``/api/v2.0/users``: local accounts — create (admins, or anyone while self-registration
is on), list and search, profiles, the sysadmin flag, passwords, deletion, and the caller's
own profile and permissions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.lists import created, dump, page_of, paged
from moorage.api.schemas import (
    PasswordReq,
    Permission,
    UserCreationReq,
    UserProfile,
    UserResp,
    UserSearchRespItem,
    UserSysAdminFlag,
)
from moorage.api.security import Security, actor, denied, require_system, services_of
from moorage.auth.context import SecurityContext
from moorage.auth.rbac import PROJECT_POLICIES, ROBOT_SYSTEM_GRANTABLE, ProjectRef
from moorage.core.errors import BadRequest, Forbidden, NotFound, PreconditionFailed, Unauthorized
from moorage.core.query import Condition, parse_q, parse_sort
from moorage.domain.audit import Actor
from moorage.metadata.models import User
from moorage.metadata.queries.users import SORTABLE

router = APIRouter(tags=["user"])
BASE = "/api/v2.0/users"

# Every (resource, action) a project can grant, for ``/users/current/permissions``.
_PROJECT_UNIVERSE = sorted({(r, a) for policy in PROJECT_POLICIES.values() for r, acts in policy.items()
                            for a in acts})
_SYSTEM_UNIVERSE = sorted((r, a) for r, acts in ROBOT_SYSTEM_GRANTABLE.items() for a in acts)


def user_resp(user: User) -> UserResp:
    """A user as Harbor shows it (never the password hash)."""
    return UserResp(
        user_id=user.id, username=user.username, email=user.email or "", realname=user.realname,
        comment=user.comment, sysadmin_flag=user.sysadmin, admin_role_in_auth=False,
        creation_time=user.created_at, update_time=user.updated_at,
    )


def _is_self(ctx: SecurityContext, user_id: int) -> bool:
    return ctx.principal.kind == "user" and ctx.principal.id == user_id


async def _require_self_or(ctx: SecurityContext, user_id: int, action: str) -> None:
    """Harbor's rule for reading and modifying a user: the user themself or a system admin."""
    if not ctx.principal.authenticated:
        raise Unauthorized(f"sign in to {action} a user")
    if not _is_self(ctx, user_id) and not await ctx.can("user", action):
        raise Forbidden(f"{ctx.username} may not {action} user {user_id}")


# Static paths first: ``/users/{user_id}`` would otherwise take ``current`` and ``search``.

@router.post(BASE, status_code=201)
async def create_user(request: Request, body: UserCreationReq, ctx: Security) -> Response:
    """Sysadmins create accounts; while ``self_registration`` is on, anonymous callers may
    register themselves.  Whatever the body says, the new user is never a sysadmin."""
    services = services_of(request)
    who: Actor = actor(request, ctx)
    if not await ctx.can("user", "create"):
        if ctx.principal.authenticated or not await services.config.value("self_registration"):
            raise denied(ctx, "create users")
        who = Actor(body.username or "", who.client_ip)  # a self-registration is its own author
    if body.password is None:
        raise BadRequest("password is required")
    user_id = await services.users.create(body.username or "", body.password, who, email=body.email,
                                          realname=body.realname, comment=body.comment)
    return created(request, f"{BASE}/{user_id}")


@router.get(BASE)
async def list_users(request: Request, ctx: Security, q: str | None = None, sort: str | None = None) -> Response:
    await require_system(ctx, "user", "list")
    conditions = parse_q(q)
    for key in ("username", "email"):  # Harbor's older filters: fuzzy on username and email
        if value := request.query_params.get(key):
            conditions[key] = Condition("fuzzy", value=value)
    page = page_of(request)
    users, total = await services_of(request).users.list(conditions, page, parse_sort(sort, SORTABLE))
    return paged(request, [user_resp(u) for u in users], page, total)


@router.get(f"{BASE}/search")
async def search_users(request: Request, ctx: Security, username: str) -> Response:
    """Any signed-in caller may look up user names (to add members, for instance)."""
    if not ctx.principal.authenticated:
        raise Unauthorized("sign in to search users")
    page = page_of(request)
    users, total = await services_of(request).users.list(
        {"username": Condition("fuzzy", value=username)}, page, [("username", False)])
    return paged(request, [UserSearchRespItem(user_id=u.id, username=u.username) for u in users], page, total)


@router.get(f"{BASE}/current")
async def current_user(request: Request, ctx: Security) -> JSONResponse:
    if not ctx.principal.authenticated:
        raise Unauthorized("sign in to see your profile")
    if ctx.principal.kind != "user" or ctx.principal.id is None:
        raise PreconditionFailed(f"get current user not available for {ctx.principal.kind} {ctx.username}")
    return JSONResponse(dump(user_resp(await services_of(request).users.get(ctx.principal.id))))


@router.get(f"{BASE}/current/permissions")
async def current_permissions(request: Request, ctx: Security, scope: str | None = None,
                              relative: bool = False) -> JSONResponse:
    """The (resource, action) pairs the caller holds in ``scope``: ``/project/<id>``, or the
    system (``/system``, ``/`` or no scope)."""
    if not ctx.principal.authenticated:
        raise Unauthorized("sign in to see your permissions")
    prefix = (scope or "").rstrip("/")
    project: ProjectRef | None = None
    if prefix in ("", "/system"):
        prefix, universe = "/system", _SYSTEM_UNIVERSE
    elif prefix.startswith("/project/") and prefix[len("/project/"):].isdigit():
        try:
            project = await services_of(request).projects.get_ref(prefix[len("/project/"):])
        except NotFound:
            return JSONResponse([])
        universe = _PROJECT_UNIVERSE
    else:
        return JSONResponse([])
    held = [Permission(resource=resource if relative else f"{prefix}/{resource}", action=action)
            for resource, action in universe if await ctx.can(resource, action, project)]
    return JSONResponse([dump(p) for p in held])


@router.get(f"{BASE}/{{user_id}}")
async def get_user(request: Request, user_id: int, ctx: Security) -> JSONResponse:
    await _require_self_or(ctx, user_id, "read")
    return JSONResponse(dump(user_resp(await services_of(request).users.get(user_id))))


@router.put(f"{BASE}/{{user_id}}")
async def update_user(request: Request, user_id: int, body: UserProfile, ctx: Security) -> Response:
    await _require_self_or(ctx, user_id, "update")
    await services_of(request).users.update_profile(user_id, actor(request, ctx), email=body.email,
                                                    realname=body.realname, comment=body.comment)
    return Response(status_code=200)


@router.delete(f"{BASE}/{{user_id}}")
async def delete_user(request: Request, user_id: int, ctx: Security) -> Response:
    await require_system(ctx, "user", "delete")
    if _is_self(ctx, user_id):
        raise Forbidden("you cannot delete yourself")
    await services_of(request).users.delete(user_id, actor(request, ctx))
    return Response(status_code=200)


@router.put(f"{BASE}/{{user_id}}/sysadmin")
async def set_sysadmin(request: Request, user_id: int, body: UserSysAdminFlag, ctx: Security) -> Response:
    await require_system(ctx, "user", "update")
    if _is_self(ctx, user_id):
        raise Forbidden("you cannot change your own sysadmin flag")
    if body.sysadmin_flag is None:
        raise BadRequest("sysadmin_flag is required")
    await services_of(request).users.set_sysadmin(user_id, body.sysadmin_flag, actor(request, ctx))
    return Response(status_code=200)


@router.put(f"{BASE}/{{user_id}}/password")
async def change_password(request: Request, user_id: int, body: PasswordReq, ctx: Security) -> Response:
    """Users change their own password (giving the current one); sysadmins reset anyone's."""
    await _require_self_or(ctx, user_id, "update")
    old = (body.old_password or "") if _is_self(ctx, user_id) else None
    if body.new_password is None:
        raise BadRequest("new_password is required")
    await services_of(request).users.change_password(user_id, body.new_password, actor(request, ctx), old)
    return Response(status_code=200)
