"""Harbor's labels: ``/labels`` (global labels for administrators, project labels for those
holding ``label`` in the project) and attaching them to artifacts
(``.../artifacts/{reference}/labels[/{label_id}]``, resource ``artifact-label``).

Global labels are readable by every signed-in caller, so that any user can see and filter
by them; Harbor lists them to everyone but reserves a global label's detail to administrators.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.lists import created, dump, page_of, paged
from moorage.api.routes.repositories import project_named, repository_of
from moorage.api.schemas import Label
from moorage.api.security import Security, denied, require_project, require_system, services_of
from moorage.auth.context import SecurityContext
from moorage.core.errors import BadRequest, NotFound
from moorage.core.query import Condition, parse_q, parse_sort
from moorage.domain.labels import GLOBAL, valid_scope
from moorage.metadata.queries.labels import LABEL_SORT, MAX_ID, LabelFilter, LabelRow

router = APIRouter(prefix="/api/v2.0")
LABELS = "/labels"
ONE = LABELS + "/{label_id}"
ARTIFACT_LABELS = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/labels"


async def _require(request: Request, ctx: SecurityContext, scope: str, project_id: int | None, action: str) -> None:
    """Global labels: read by any signed-in caller, changed by administrators (system ``label``);
    project labels: the project's ``label`` permission.  NotFound for a missing project."""
    if scope == GLOBAL:
        if action in ("read", "list"):
            if not ctx.principal.authenticated:
                raise denied(ctx, "read global labels")
            return
        await require_system(ctx, "label", action)
        return
    found = project_id is not None and 0 < project_id <= MAX_ID
    project = await services_of(request).projects.find_ref(project_id=project_id) if found else None
    if project is None:
        raise NotFound(f"project {project_id} not found")
    await require_project(ctx, project, "label", action)


async def _label(request: Request, ctx: SecurityContext, label_id: int, action: str) -> LabelRow:
    label = await services_of(request).labels.get(label_id)
    await _require(request, ctx, label.scope, label.project_id, action)
    return label


@router.get(LABELS, tags=["label"], response_model=list[Label])
async def list_labels(request: Request, ctx: Security, scope: str | None = None, project_id: int | None = None,
                      name: str | None = None) -> Response:
    """Labels of one scope (``g``, or ``p`` with ``project_id``), newest first; ``name`` is a
    substring match."""
    scope, pid = valid_scope(scope, project_id)
    await _require(request, ctx, scope, pid, "list")
    conditions = parse_q(request.query_params.get("q"))
    unknown = set(conditions) - {"name"}
    if unknown:
        raise BadRequest(f"q: unknown key(s) {', '.join(sorted(unknown))}: labels are queried by name")
    name_cond = Condition("fuzzy", value=name) if name else conditions.get("name")
    page = page_of(request)
    sort = parse_sort(request.query_params.get("sort"), LABEL_SORT)
    rows, total = await services_of(request).labels.list(LabelFilter(scope, pid, name_cond), page, sort)
    return paged(request, [Label.model_validate(asdict(r)) for r in rows], page, total)


@router.post(LABELS, tags=["label"], status_code=201)
async def create_label(request: Request, body: Label, ctx: Security) -> Response:
    """201 + Location; 409 if the scope (or project) already has a label of that name."""
    scope, pid = valid_scope(body.scope, body.project_id)
    await _require(request, ctx, scope, pid, "create")
    label_id = await services_of(request).labels.create(scope, pid, body.name, body.description, body.color)
    return created(request, f"/api/v2.0/labels/{label_id}")


@router.get(ONE, tags=["label"], response_model=Label)
async def get_label(request: Request, label_id: int, ctx: Security) -> Response:
    return JSONResponse(dump(Label.model_validate(asdict(await _label(request, ctx, label_id, "read")))))


@router.put(ONE, tags=["label"])
async def update_label(request: Request, label_id: int, body: Label, ctx: Security) -> Response:
    """Change name, description and color; scope and project stay as they are."""
    await _label(request, ctx, label_id, "update")
    await services_of(request).labels.update(label_id, body.name, body.description, body.color)
    return Response(status_code=200)


@router.delete(ONE, tags=["label"])
async def delete_label(request: Request, label_id: int, ctx: Security) -> Response:
    """Delete the label, detaching it from every artifact."""
    await _label(request, ctx, label_id, "delete")
    await services_of(request).labels.delete(label_id)
    return Response(status_code=200)


@router.post(ARTIFACT_LABELS, tags=["artifact"])
async def add_label(request: Request, project_name: str, repository_name: str, reference: str, body: Label,
                    ctx: Security) -> Response:
    """Attach a global label or one of the project's labels (only ``id`` is read); 409 if attached."""
    project = await project_named(request, project_name)
    await require_project(ctx, project, "artifact-label", "create")
    if body.id is None:
        raise BadRequest("the label id is required")
    await services_of(request).labels.attach(repository_of(project, repository_name), reference, body.id)
    return Response(status_code=200)


@router.delete(ARTIFACT_LABELS + "/{label_id}", tags=["artifact"])
async def remove_label(request: Request, project_name: str, repository_name: str, reference: str, label_id: int,
                       ctx: Security) -> Response:
    project = await project_named(request, project_name)
    await require_project(ctx, project, "artifact-label", "delete")
    await services_of(request).labels.detach(repository_of(project, repository_name), reference, label_id)
    return Response(status_code=200)
