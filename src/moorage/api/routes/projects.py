"""``/api/v2.0/projects``: create, check, list (filtered by what the caller may see, in SQL),
details, update, delete (refused while repositories remain), deletability, summary, and the
project metadata endpoints (``/metadatas/``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.lists import created, dump, page_of, paged
from moorage.api.schemas import (
    CVEAllowlist,
    Project,
    ProjectDeletable,
    ProjectMetadata,
    ProjectReq,
    ProjectSummary,
    ProjectSummaryQuota,
)
from moorage.api.security import Security, actor, project_ref, require_project, services_of
from moorage.auth.context import SecurityContext
from moorage.auth.rbac import Principal, Role, allowed
from moorage.core.errors import BadRequest, Forbidden, MoorageError, NotFound, Unauthorized
from moorage.core.query import parse_q, parse_sort
from moorage.domain.projects import METADATA_KEYS, ProjectDetail
from moorage.metadata.queries.projects import SORTABLE, ProjectFilter

router = APIRouter(tags=["project"])
BASE = "/api/v2.0/projects"
ONE = BASE + "/{project_name_or_id}"
# Proxy-cache keys: Harbor ignores them on projects that are not proxy caches; the filter and
# referrer keys of Harbor's schema are accepted and ignored everywhere (not implemented).
_PROXY_KEYS = ("proxy_speed_kb", "max_upstream_conn", "proxy_cache_local_on_not_found")
_IGNORED_KEYS = ("proxy_referrer_api", "proxy_cache_filter_pattern", "proxy_cache_filter_kind")


def _user_id(ctx: SecurityContext) -> int | None:
    return ctx.principal.id if ctx.principal.kind == "user" else None


def project_json(p: ProjectDetail, principal: Principal, detail: bool = True) -> dict[str, Any]:
    """A project in Harbor's shape (``with_detail=false`` leaves out metadata, owner name and allowlist)."""
    body = Project(
        project_id=p.id, owner_id=p.owner_id, name=p.name, creation_time=p.created_at, update_time=p.updated_at,
        deleted=False, togglable=allowed(principal, "project", "update", p.ref, p.role),
        current_user_role_id=p.role or 0, current_user_role_ids=[p.role] if p.role else [], repo_count=p.repo_count,
    )
    if detail:
        body.owner_name = p.owner_name
        body.metadata = ProjectMetadata(**p.metadata)
        # CVE allowlists arrive with vulnerability scanning; until then every project's is empty.
        body.cve_allowlist = CVEAllowlist(id=0, project_id=p.id, items=[], creation_time=p.created_at,
                                          update_time=p.updated_at)
    out: dict[str, Any] = dump(body)
    out.update(registry_id=p.registry_id, chart_count=0)
    return out


def _request_metadata(body: ProjectReq, proxy: bool = False) -> dict[str, str]:
    """The metadata of a ProjectReq: ``metadata`` keys, with the deprecated ``public`` flag as a
    fallback for ``metadata.public``; proxy-cache keys only for a ``proxy`` project."""
    ignored = set(_IGNORED_KEYS) | (set() if proxy else set(_PROXY_KEYS))
    values = body.metadata.model_dump(exclude_none=True, exclude=ignored) if body.metadata else {}
    if "public" not in values and body.public is not None:
        values["public"] = "true" if body.public else "false"
    return values


async def _require_create(request: Request, ctx: SecurityContext) -> None:
    """Harbor's rule: signed-in users while ``project_creation_restriction`` is ``everyone``,
    else system administrators; robots only when system-level with ``project:create``."""
    if not ctx.principal.authenticated:
        raise Unauthorized("sign in to create projects")
    if await ctx.can("project", "create"):
        return
    if ctx.principal.kind == "robot":
        raise Forbidden("only system-level robots holding project:create can create projects")
    if await services_of(request).config.value("project_creation_restriction") == "adminonly":
        raise Forbidden("only system administrators can create projects")


@router.post(BASE, status_code=201)
async def create_project(request: Request, body: ProjectReq, ctx: Security) -> Response:
    await _require_create(request, ctx)
    if body.registry_id is not None:  # a proxy cache: system administrators only, an existing endpoint
        if not ctx.principal.sysadmin:
            raise Forbidden("only system administrators can create proxy cache projects")
        try:
            await services_of(request).registries.get(body.registry_id)
        except NotFound:
            raise BadRequest(f"registry_id {body.registry_id}: no such registry endpoint (create it first with "
                             "POST /api/v2.0/registries)") from None
    if body.storage_limit is not None and body.storage_limit < -1:
        raise BadRequest("storage_limit must be -1 (unlimited) or a number of bytes")
    if not body.project_name:
        raise BadRequest("project_name is required")
    metadata = _request_metadata(body, proxy=body.registry_id is not None)
    if metadata.pop("retention_id", ""):
        raise BadRequest("the retention_id in the request should be omitted when creating a project")
    # Harbor: only a system administrator's storage_limit counts; others get storage_per_project.
    limit = await services_of(request).quotas.limit_for_new_project(body.storage_limit, ctx.principal.sysadmin)
    try:
        project_id = await services_of(request).projects.create(
            body.project_name, metadata=metadata, owner_id=_user_id(ctx), actor=actor(request, ctx),
            storage_limit=limit, registry_id=body.registry_id)
    except MoorageError as exc:
        if exc.code == "NAME_INVALID":
            raise BadRequest(exc.message) from exc
        raise
    by_name = request.headers.get("x-resource-name-in-location", "").lower() == "true"
    return created(request, f"{BASE}/{body.project_name if by_name else project_id}")


@router.head(BASE)
async def head_project(request: Request, project_name: str, ctx: Security) -> Response:
    """200 if the project exists and the caller may read it; 404 if it does not exist; 401/403
    otherwise (as Harbor's HeadProject, which checks project read)."""
    ref = await services_of(request).projects.find_ref(name=project_name)
    if ref is None:
        raise NotFound(f"project {project_name} not found")
    await require_project(ctx, ref, "project", "read")
    return Response(status_code=200)


async def _visible(ctx: SecurityContext) -> ProjectFilter:
    """The visibility part of a list filter: everything for system administrators (and system
    robots listing projects), else public projects plus memberships or a robot's projects."""
    if await ctx.can("project", "list"):
        return ProjectFilter(everything=True)
    principal = ctx.principal
    if principal.kind == "robot":
        namespaces = [str(p.get("namespace")) for p in principal.permissions if p.get("kind") == "project"]
        if "*" in namespaces:
            return ProjectFilter(everything=True)
        return ProjectFilter(named=tuple(namespaces))
    return ProjectFilter(member_user_id=_user_id(ctx))


@router.get(BASE)
async def list_projects(request: Request, ctx: Security, q: str | None = None, sort: str | None = None,
                        name: str | None = None, public: bool | None = None, owner: str | None = None,
                        with_detail: bool = True) -> Response:
    page = page_of(request)
    order = parse_sort(sort, SORTABLE)
    visible = await _visible(ctx)
    if not ctx.principal.authenticated and public is False:
        return paged(request, [], page, 0)  # anonymous callers see no private project
    f = replace(visible, conditions=parse_q(q), name_fuzzy=name or None, public=public, owner=owner or None)
    projects, total = await services_of(request).projects.page(f, page.offset, page.limit, order, _user_id(ctx))
    return paged(request, [project_json(p, ctx.principal, with_detail) for p in projects], page, total)


@router.get(ONE)
async def get_project(request: Request, project_name_or_id: str, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "project", "read")
    detail = await services_of(request).projects.get(ref.id, _user_id(ctx))
    return JSONResponse(project_json(detail, ctx.principal))


@router.put(ONE)
async def update_project(request: Request, project_name_or_id: str, body: ProjectReq, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "project", "update")
    allowlist = body.cve_allowlist
    if allowlist is not None:
        if allowlist.project_id not in (None, 0, ref.id):
            raise BadRequest(f"project_id in cve_allowlist must be {ref.id} but it is {allowlist.project_id}")
        if allowlist.items:
            raise BadRequest("project CVE allowlists are not supported yet: send an empty items list")
    proxy = body.metadata is not None and (await services_of(request).projects.get(ref.id)).registry_id is not None
    await services_of(request).projects.update(ref, actor(request, ctx), _request_metadata(body, proxy))
    return Response(status_code=200)


@router.delete(ONE)
async def delete_project(request: Request, project_name_or_id: str, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "project", "delete")
    await services_of(request).projects.delete(ref, actor(request, ctx))
    return Response(status_code=200)


@router.get(ONE + "/_deletable")
async def project_deletable(request: Request, project_name_or_id: str, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "project", "delete")
    deletable, message = await services_of(request).projects.deletable(ref.id)
    return JSONResponse(dump(ProjectDeletable(deletable=deletable, message=message)))


@router.get(ONE + "/summary")
async def project_summary(request: Request, project_name_or_id: str, ctx: Security) -> Response:
    """Repository count, member counts per role for callers who may list members, and the
    quota for those who may read it (while quotas are enabled), as Harbor shows them."""
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "project", "read")
    summary = await services_of(request).projects.summary(ref.id)
    body = ProjectSummary(repo_count=summary.repo_count)
    if await ctx.can("member", "list", ref):
        counts = summary.members_by_role
        body.project_admin_count = counts.get(Role.PROJECT_ADMIN, 0)
        body.maintainer_count = counts.get(Role.MAINTAINER, 0)
        body.developer_count = counts.get(Role.DEVELOPER, 0)
        body.guest_count = counts.get(Role.GUEST, 0)
        body.limited_guest_count = counts.get(Role.LIMITED_GUEST, 0)
    quota = summary.quota
    if quota is not None and await ctx.can("quota", "read", ref) and await services_of(request).quotas.enabled():
        body.quota = ProjectSummaryQuota(hard={"storage": quota.hard}, used={"storage": quota.used})
    return JSONResponse(dump(body))


# Metadata ---------------------------------------------------------------------------------

METADATAS = ONE + "/metadatas"


def _known(meta_name: str) -> str:
    if meta_name not in METADATA_KEYS:
        raise BadRequest(f"invalid metadata key {meta_name!r}: allowed keys are {', '.join(sorted(METADATA_KEYS))}")
    return meta_name


@router.get(METADATAS + "/")
@router.get(METADATAS, include_in_schema=False)
async def list_metadata(request: Request, project_name_or_id: str, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "metadata", "read")
    return JSONResponse(await services_of(request).projects.metadata(ref.id))


@router.post(METADATAS + "/")
@router.post(METADATAS, include_in_schema=False)
async def add_metadata(request: Request, project_name_or_id: str, ctx: Security,
                       metadata: dict[str, str] = Body(...)) -> Response:  # noqa: B008 - FastAPI's idiom
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "metadata", "create")
    if not metadata:
        raise BadRequest("no metadata given")
    await services_of(request).projects.add_metadata(ref, actor(request, ctx), metadata)
    return Response(status_code=200)


@router.get(METADATAS + "/{meta_name}")
async def get_metadata(request: Request, project_name_or_id: str, meta_name: str, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "metadata", "read")
    values = await services_of(request).projects.metadata(ref.id)
    if _known(meta_name) not in values:
        raise NotFound(f"metadata {meta_name} not found in project {ref.name}")
    return JSONResponse({meta_name: values[meta_name]})


@router.put(METADATAS + "/{meta_name}")
async def update_metadata(request: Request, project_name_or_id: str, meta_name: str, ctx: Security,
                          metadata: dict[str, str] = Body(...)) -> Response:  # noqa: B008 - FastAPI's idiom
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "metadata", "update")
    if _known(meta_name) not in metadata:
        raise BadRequest(f"the body must hold the value of {meta_name}, e.g. {{\"{meta_name}\": \"true\"}}")
    await services_of(request).projects.update(ref, actor(request, ctx), {meta_name: metadata[meta_name]})
    return Response(status_code=200)


@router.delete(METADATAS + "/{meta_name}")
async def delete_metadata(request: Request, project_name_or_id: str, meta_name: str, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "metadata", "delete")
    await services_of(request).projects.delete_metadata(ref, actor(request, ctx), _known(meta_name))
    return Response(status_code=200)

