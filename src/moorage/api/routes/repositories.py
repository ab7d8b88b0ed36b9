"""Harbor's repositories: ``/repositories`` (everything the caller may see),
``/projects/{project_name}/repositories`` and ``.../repositories/{repository_name}``.

A repository name in a path comes without its project and with ``/`` encoded twice
(``a/b`` → ``a%252Fb``); the server decodes once, ``repository_of`` decodes again.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.lists import dump, page_of, paged
from moorage.api.schemas import Repository
from moorage.api.security import Security, actor, require_project, services_of
from moorage.auth.rbac import ProjectRef
from moorage.core.errors import BadRequest
from moorage.core.query import parse_q, parse_sort
from moorage.metadata.queries.catalog import REPOSITORY_SORT, RepositoryFilter, RepositoryRow

router = APIRouter(tags=["repository"])
P = "/api/v2.0"
REPO = f"{P}/projects/{{project_name}}/repositories/{{repository_name}}"


async def project_named(request: Request, project_name: str) -> ProjectRef:
    """The project of a ``{project_name}`` path parameter (always a name); NotFound."""
    return await services_of(request).projects.get_ref(project_name, is_name=True)


def repository_of(project: ProjectRef, repository_name: str) -> str:
    """The full repository name of a ``{repository_name}`` path parameter."""
    return f"{project.name}/{unquote(repository_name)}"


def repository_path(repository: str) -> str:
    """The API path of a full repository name (its in-project part encoded twice, as Harbor does)."""
    project, _, name = repository.partition("/")
    return f"{P}/projects/{project}/repositories/{quote(quote(name, safe=''), safe='')}"


def flag(request: Request, name: str, default: bool) -> bool:
    """A boolean query parameter (``true``/``false``, ``1``/``0``)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1", "t"):
        return True
    if raw.lower() in ("false", "0", "f"):
        return False
    raise BadRequest(f"invalid {name} {raw!r}: must be true or false")


def _filter(raw_q: str | None) -> RepositoryFilter:
    conditions = {k.lower(): c for k, c in parse_q(raw_q).items()}
    return RepositoryFilter(name=conditions.get("name"), project_id=conditions.get("project_id"))


def _out(row: RepositoryRow) -> Repository:
    return Repository(id=row.id, project_id=row.project_id, name=row.name, description=row.description,
                      artifact_count=row.artifact_count, pull_count=row.pull_count, creation_time=row.created_at,
                      update_time=row.updated_at)


async def _list(request: Request, f: RepositoryFilter) -> Response:
    page = page_of(request)
    sort = parse_sort(request.query_params.get("sort"), REPOSITORY_SORT)
    rows, total = await services_of(request).repositories.list_repositories(f, page, sort)
    return paged(request, [_out(r) for r in rows], page, total)


@router.get(f"{P}/repositories", response_model=None)
async def list_all_repositories(request: Request, ctx: Security) -> Response:
    """Every repository of the projects the caller may see (all, for a system administrator)."""
    visible = await services_of(request).repositories.visible_projects(ctx.principal)
    return await _list(request, replace(_filter(request.query_params.get("q")), project_ids=visible))


@router.get(f"{P}/projects/{{project_name}}/repositories", response_model=None)
async def list_repositories(request: Request, project_name: str, ctx: Security) -> Response:
    project = await project_named(request, project_name)
    await require_project(ctx, project, "repository", "list")
    f = replace(_filter(request.query_params.get("q")), project_ids=frozenset({project.id}))
    return await _list(request, f)


@router.get(REPO, response_model=None)
async def get_repository(request: Request, project_name: str, repository_name: str, ctx: Security) -> Response:
    project = await project_named(request, project_name)
    await require_project(ctx, project, "repository", "list")  # Harbor's GetRepository checks list
    row = await services_of(request).repositories.get(repository_of(project, repository_name))
    return JSONResponse(dump(_out(row)))


@router.put(REPO, response_model=None)
async def update_repository(request: Request, project_name: str, repository_name: str, body: Repository,
                            ctx: Security) -> Response:
    """Only the description can be changed."""
    project = await project_named(request, project_name)
    await require_project(ctx, project, "repository", "update")
    await services_of(request).repositories.update_description(
        repository_of(project, repository_name), body.description or "")
    return Response(status_code=200)


@router.delete(REPO, response_model=None)
async def delete_repository(request: Request, project_name: str, repository_name: str, ctx: Security) -> Response:
    project = await project_named(request, project_name)
    await require_project(ctx, project, "repository", "delete")
    await services_of(request).repositories.delete(repository_of(project, repository_name), project.id,
                                                   actor(request, ctx))
    return Response(status_code=200)
