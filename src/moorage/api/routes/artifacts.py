"""Harbor's artifacts and tags: ``.../repositories/{repository_name}/artifacts`` (list, copy),
``.../artifacts/{reference}`` (get, delete) and ``.../artifacts/{reference}/tags``.

``{reference}`` is a tag or a digest.  Labels arrive with a later issue (``labels`` is
always empty), as do scan overviews and immutability rules (``immutable`` is false).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.lists import created, dump, page_of, paged
from moorage.api.routes.repositories import flag, project_named, repository_of, repository_path
from moorage.api.schemas import Artifact, Tag
from moorage.api.security import Security, actor, require_project, services_of
from moorage.core.errors import BadRequest
from moorage.core.query import parse_q, parse_sort
from moorage.domain.repositories import ArtifactOptions, parse_source
from moorage.metadata.queries.catalog import ARTIFACT_SORT, TAG_SORT, ArtifactFilter
from moorage.oci.names import project_of

router = APIRouter(tags=["artifact"])
ARTIFACTS = "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts"
ARTIFACT = ARTIFACTS + "/{reference}"


def _options(request: Request, detail: bool) -> ArtifactOptions:
    return ArtifactOptions(
        with_tag=flag(request, "with_tag", True), with_label=flag(request, "with_label", False),
        with_accessory=flag(request, "with_accessory", False),
        with_immutable_status=flag(request, "with_immutable_status", False), detail=detail,
    )


def _filter(raw_q: str | None) -> ArtifactFilter:
    conditions = {k.lower(): c for k, c in parse_q(raw_q).items()}
    return ArtifactFilter(tags=conditions.get("tags"), digest=conditions.get("digest"),
                          media_type=conditions.get("media_type"), type=conditions.get("type"),
                          labels=conditions.get("labels"))


@router.get(ARTIFACTS, response_model=None)
async def list_artifacts(request: Request, project_name: str, repository_name: str, ctx: Security) -> Response:
    """Top-level artifacts (not index children nor accessories), latest push first."""
    project = await project_named(request, project_name)
    await require_project(ctx, project, "artifact", "list")
    page = page_of(request)
    sort = parse_sort(request.query_params.get("sort"), ARTIFACT_SORT)
    items, total = await services_of(request).repositories.list_artifacts(
        repository_of(project, repository_name), _filter(request.query_params.get("q")), page, sort,
        _options(request, detail=False))
    return paged(request, [Artifact.model_validate(i) for i in items], page, total)


@router.post(ARTIFACTS, response_model=None)
async def copy_artifact(request: Request, project_name: str, repository_name: str, ctx: Security) -> Response:
    """Copy ``from=project/repo:tag`` or ``from=project/repo@digest`` into this repository."""
    services = services_of(request)
    project = await project_named(request, project_name)
    await require_project(ctx, project, "artifact", "create")
    raw = request.query_params.get("from")
    if not raw:
        raise BadRequest("the from query parameter is required: project/repository:tag or @digest")
    source, reference = parse_source(raw)
    source_project = await project_named(request, project_of(source))
    await require_project(ctx, source_project, "artifact", "read")
    await require_project(ctx, source_project, "repository", "pull")
    destination = repository_of(project, repository_name)
    await services.repositories.copy(source, reference, destination, project.id, actor(request, ctx))
    return created(request, f"{repository_path(destination)}/artifacts/{reference}")


@router.get(ARTIFACT, response_model=None)
async def get_artifact(request: Request, project_name: str, repository_name: str, reference: str,
                       ctx: Security) -> Response:
    project = await project_named(request, project_name)
    await require_project(ctx, project, "artifact", "read")
    item = await services_of(request).repositories.get_artifact(
        repository_of(project, repository_name), reference, _options(request, detail=True))
    return JSONResponse(dump(Artifact.model_validate(item)))


@router.delete(ARTIFACT, response_model=None)
async def delete_artifact(request: Request, project_name: str, repository_name: str, reference: str,
                          ctx: Security) -> Response:
    """Delete the artifact and all its tags (412 while an index references it)."""
    project = await project_named(request, project_name)
    await require_project(ctx, project, "artifact", "delete")
    await services_of(request).repositories.delete_artifact(
        repository_of(project, repository_name), reference, actor(request, ctx))
    return Response(status_code=200)


@router.get(ARTIFACT + "/tags", response_model=None)
async def list_tags(request: Request, project_name: str, repository_name: str, reference: str,
                    ctx: Security) -> Response:
    project = await project_named(request, project_name)
    await require_project(ctx, project, "tag", "list")
    page = page_of(request)
    sort = parse_sort(request.query_params.get("sort"), TAG_SORT)
    name = {k.lower(): c for k, c in parse_q(request.query_params.get("q")).items()}.get("name")
    items, total = await services_of(request).repositories.list_tags(
        repository_of(project, repository_name), reference, name, page, sort)
    return paged(request, [Tag.model_validate(i) for i in items], page, total)


@router.post(ARTIFACT + "/tags", response_model=None)
async def create_tag(request: Request, project_name: str, repository_name: str, reference: str, body: Tag,
                     ctx: Security) -> Response:
    """201 + Location; 409 if the repository already has the tag."""
    project = await project_named(request, project_name)
    await require_project(ctx, project, "tag", "create")
    if not body.name:
        raise BadRequest("the tag name is required")
    repository = repository_of(project, repository_name)
    await services_of(request).repositories.create_tag(repository, reference, body.name, actor(request, ctx))
    return created(request, f"{repository_path(repository)}/artifacts/{reference}/tags/{body.name}")


@router.delete(ARTIFACT + "/tags/{tag_name}", response_model=None)
async def delete_tag(request: Request, project_name: str, repository_name: str, reference: str, tag_name: str,
                     ctx: Security) -> Response:
    project = await project_named(request, project_name)
    await require_project(ctx, project, "tag", "delete")
    await services_of(request).repositories.delete_tag(
        repository_of(project, repository_name), reference, tag_name, actor(request, ctx))
    return Response(status_code=200)
