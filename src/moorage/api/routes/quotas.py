"""``/api/v2.0/quotas``: list (system administrators), read (project members holding
``quota:read``) and change (system administrators) the per-project storage quotas.

A quota's id is its project's id: every project has exactly one quota, so ``/quotas/{id}``
and ``/quotas?reference=project&reference_id={id}`` name the same thing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.lists import dump, page_of, paged
from moorage.api.schemas import Quota, QuotaUpdateReq
from moorage.api.security import Security, actor, require_project, require_system, services_of
from moorage.auth.rbac import ProjectRef
from moorage.core.errors import BadRequest, NotFound
from moorage.core.query import parse_sort
from moorage.domain.projects import MAX_ID
from moorage.metadata.queries.quotas import SORTABLE, QuotaRow

router = APIRouter(tags=["quota"])
BASE = "/api/v2.0/quotas"
ONE = BASE + "/{quota_id}"
RESOURCES = ("storage",)


def quota_json(row: QuotaRow) -> Quota:
    return Quota(id=row.project_id, ref={"id": row.project_id, "name": row.project_name, "owner_name": row.owner_name},
                 hard={"storage": row.hard}, used={"storage": row.used}, creation_time=row.creation_time,
                 update_time=row.update_time)


async def _project(request: Request, quota_id: int) -> ProjectRef:
    ref = await services_of(request).projects.find_ref(project_id=quota_id) if 0 < quota_id <= MAX_ID else None
    if ref is None:
        raise NotFound(f"quota {quota_id} not found")
    return ref


@router.get(BASE)
async def list_quotas(request: Request, ctx: Security, reference: str | None = None,
                      reference_id: str | None = None, sort: str | None = None) -> Response:
    await require_system(ctx, "quota", "list")
    page = page_of(request)
    order = parse_sort(sort, SORTABLE)
    project_id: int | None = None
    if reference_id:
        project_id = int(reference_id) if reference_id.isdigit() and int(reference_id) <= MAX_ID else 0
    if (reference and reference != "project") or project_id == 0:
        return paged(request, [], page, 0)  # projects are the only kind of quota reference
    rows, total = await services_of(request).quotas.page(project_id, page, order)
    return paged(request, [quota_json(r) for r in rows], page, total)


@router.get(ONE)
async def get_quota(request: Request, quota_id: int, ctx: Security) -> Response:
    ref = await _project(request, quota_id)
    await require_project(ctx, ref, "quota", "read")
    return JSONResponse(dump(quota_json(await services_of(request).quotas.get(ref.id))))


@router.put(ONE)
async def update_quota(request: Request, quota_id: int, body: QuotaUpdateReq, ctx: Security) -> Response:
    await require_system(ctx, "quota", "update")
    ref = await _project(request, quota_id)
    if not body.hard:
        raise BadRequest("hard is required: give {\"hard\": {\"storage\": <bytes or -1>}}")
    unknown = sorted(set(body.hard) - set(RESOURCES))
    if unknown:
        raise BadRequest(f"resource {unknown[0]} not supported: quotas limit {', '.join(RESOURCES)}")
    await services_of(request).quotas.set_limit(ref.id, body.hard["storage"], actor(request, ctx))
    return Response(status_code=200)
