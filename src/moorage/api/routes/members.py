"""``/api/v2.0/projects/{project_name_or_id}/members``: list, add, read, change the role of
and remove project members (users; user groups arrive with LDAP/OIDC)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.lists import created, dump, page_of, paged
from moorage.api.schemas import ProjectMember, ProjectMemberEntity, RoleRequest
from moorage.api.security import Security, actor, project_ref, require_project, services_of
from moorage.auth.context import SecurityContext
from moorage.core.errors import BadRequest, Forbidden
from moorage.domain.members import role_name
from moorage.metadata.queries.members import MemberRow

router = APIRouter(tags=["member"])
BASE = "/api/v2.0/projects/{project_name_or_id}/members"
ONE = BASE + "/{mid}"


def member_entity(m: MemberRow) -> ProjectMemberEntity:
    return ProjectMemberEntity(id=m.id, project_id=m.project_id, entity_name=m.username, role_name=role_name(m.role),
                               role_id=m.role, entity_id=m.user_id, entity_type="u")


def _not_self(ctx: SecurityContext, member: MemberRow, what: str) -> None:
    """Members may not change or remove their own membership (system administrators need none)."""
    principal = ctx.principal
    if principal.kind == "user" and not principal.sysadmin and principal.id == member.user_id:
        raise Forbidden(f"you cannot {what} your own membership")


@router.get(BASE)
async def list_members(request: Request, project_name_or_id: str, ctx: Security,
                       entityname: str | None = None) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "member", "list")
    page = page_of(request)
    rows, total = await services_of(request).members.page(ref.id, entityname or None, page.offset, page.limit)
    return paged(request, [member_entity(m) for m in rows], page, total)


@router.post(BASE, status_code=201)
async def add_member(request: Request, project_name_or_id: str, body: ProjectMember, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "member", "create")
    user = body.member_user
    if user is None or not (user.user_id or user.username):
        if body.member_group is not None:
            raise BadRequest("user groups cannot be project members yet: give member_user")
        raise BadRequest("member_user with a user_id or a username is required")
    member_id = await services_of(request).members.add(ref, body.role_id, actor(request, ctx),
                                                       user_id=user.user_id, username=user.username)
    return created(request, f"/api/v2.0/projects/{project_name_or_id}/members/{member_id}")


@router.get(ONE)
async def get_member(request: Request, project_name_or_id: str, mid: int, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "member", "read")
    return JSONResponse(dump(member_entity(await services_of(request).members.get(ref.id, mid))))


@router.put(ONE)
async def update_member(request: Request, project_name_or_id: str, mid: int, body: RoleRequest,
                        ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "member", "update")
    members = services_of(request).members
    _not_self(ctx, await members.get(ref.id, mid), "change")
    await members.update_role(ref, mid, body.role_id, actor(request, ctx))
    return Response(status_code=200)


@router.delete(ONE)
async def delete_member(request: Request, project_name_or_id: str, mid: int, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "member", "delete")
    members = services_of(request).members
    _not_self(ctx, await members.get(ref.id, mid), "remove")
    await members.remove(ref, mid, actor(request, ctx))
    return Response(status_code=200)
