"""Harbor's ``/search``: the projects and repositories the caller may see whose name contains ``q``
(anonymous callers see public ones)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.lists import dump
from moorage.api.schemas import Project, ProjectMetadata, Search, SearchRepository
from moorage.api.security import Security, services_of
from moorage.core.errors import BadRequest

router = APIRouter(tags=["search"])


@router.get("/api/v2.0/search", response_model=None)
async def search(request: Request, ctx: Security) -> Response:
    text = request.query_params.get("q")
    if text is None:
        raise BadRequest("the q query parameter is required")
    repositories = services_of(request).repositories
    projects, repos = await repositories.search(await repositories.visible_projects(ctx.principal), text.strip())
    result = Search(
        project=[Project(project_id=p.id, name=p.name, owner_id=p.owner_id, creation_time=p.created_at,
                         update_time=p.updated_at, repo_count=p.repo_count, deleted=False,
                         metadata=ProjectMetadata(public="true" if p.public else "false"))
                 for p in projects],
        repository=[SearchRepository(project_id=r.project_id, project_name=r.project_name,
                                     project_public=r.project_public, repository_name=r.name,
                                     pull_count=r.pull_count, artifact_count=r.artifact_count) for r in repos],
    )
    return JSONResponse(dump(result))
