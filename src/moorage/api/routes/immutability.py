"""``/api/v2.0/projects/{project_name_or_id}/immutabletagrules``: list, add, update (also to
enable or disable) and delete a project's immutable tag rules (resource ``immutable-tag``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from moorage.api.lists import created, page_of, paged
from moorage.api.schemas import ImmutableRule
from moorage.api.security import Security, actor, project_ref, require_project, services_of

router = APIRouter(tags=["immutable"])
BASE = "/api/v2.0/projects/{project_name_or_id}/immutabletagrules"
ONE = BASE + "/{immutable_rule_id}"


@router.get(BASE)
async def list_rules(request: Request, project_name_or_id: str, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "immutable-tag", "list")
    page = page_of(request)
    rules, total = await services_of(request).immutability.page(ref.id, page.offset, page.limit)
    return paged(request, [r.to_json() for r in rules], page, total)


@router.post(BASE, status_code=201)
async def create_rule(request: Request, project_name_or_id: str, body: ImmutableRule, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "immutable-tag", "create")
    rule_id = await services_of(request).immutability.create(
        ref, body.model_dump(exclude_none=True), actor(request, ctx))
    return created(request, f"{request.url.path.rstrip('/')}/{rule_id}")


@router.put(ONE)
async def update_rule(request: Request, project_name_or_id: str, immutable_rule_id: int, body: ImmutableRule,
                      ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "immutable-tag", "update")
    await services_of(request).immutability.update(
        ref, immutable_rule_id, body.model_dump(exclude_none=True), actor(request, ctx))
    return Response(status_code=200)


@router.delete(ONE)
async def delete_rule(request: Request, project_name_or_id: str, immutable_rule_id: int, ctx: Security) -> Response:
    ref = await project_ref(request, project_name_or_id)
    await require_project(ctx, ref, "immutable-tag", "delete")
    await services_of(request).immutability.delete(ref, immutable_rule_id, actor(request, ctx))
    return Response(status_code=200)
