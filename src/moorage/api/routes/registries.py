"""``/api/v2.0/registries``: registry endpoints for replication and proxy caches (list, create,
read, update, delete, ping, info), and the adapter types (``/replication/adapters``,
``/replication/adapterinfos``).  System administrators only (resources ``registry`` and
``replication-adapter``).  The secret is never returned: responses show ``*****``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.lists import created, dump, page_of, paged
from moorage.api.schemas import (
    FilterStyle,
    Registry,
    RegistryCredential,
    RegistryInfo,
    RegistryPing,
    RegistryProviderCredentialPattern,
    RegistryProviderEndpointPattern,
    RegistryProviderInfo,
    RegistryUpdate,
)
from moorage.api.security import Security, actor, require_system, services_of
from moorage.core.errors import BadRequest
from moorage.core.query import parse_q, parse_sort
from moorage.domain.registries import MASK, TYPES, RegistryInput, RegistryRecord
from moorage.metadata.queries.registries import SORTABLE

router = APIRouter(tags=["registry"])
BASE = "/api/v2.0/registries"
ONE = BASE + "/{id}"
RESOURCE = "registry"
ADAPTER = "replication-adapter"


def registry_model(r: RegistryRecord) -> Registry:
    return Registry(
        id=r.id, url=r.url, name=r.name, type=r.type, insecure=r.insecure, ca_certificate=r.ca_bundle,
        description=r.description, status=r.status, creation_time=r.creation_time, update_time=r.update_time,
        credential=RegistryCredential(type=r.credential_type, access_key=r.access_key,
                                      access_secret=MASK if r.has_secret else ""))


@router.get(BASE)
async def list_registries(request: Request, ctx: Security, q: str | None = None, sort: str | None = None,
                          name: str | None = None) -> Response:
    await require_system(ctx, RESOURCE, "list")
    conditions = parse_q(q)
    unknown = set(conditions) - {"name", "type"}
    if unknown:
        raise BadRequest(f"invalid query key(s) {', '.join(sorted(unknown))}: registries filter by name and type")
    by_name, by_type = conditions.get("name"), conditions.get("type")
    if by_name is not None and by_name.kind not in ("exact", "fuzzy"):
        raise BadRequest("the name filter must be name=value or name=~value")
    if by_type is not None and by_type.kind != "exact":
        raise BadRequest("the type filter must be type=value")
    fuzzy = by_name is not None and by_name.kind == "fuzzy"
    if by_name is None and name is not None:  # Harbor's deprecated ?name= is a fuzzy match
        name_value: str | None = name
        fuzzy = True
    else:
        name_value = by_name.value if by_name is not None else None
    page = page_of(request)
    rows, total = await services_of(request).registries.page(
        page.offset, page.limit, name=name_value, name_fuzzy=fuzzy, kind=by_type.value if by_type else None,
        sort=parse_sort(sort, SORTABLE), refresh=True)
    return paged(request, [registry_model(r) for r in rows], page, total)


@router.post(BASE, status_code=201)
async def create_registry(request: Request, body: Registry, ctx: Security) -> Response:
    await require_system(ctx, RESOURCE, "create")
    credential = body.credential or RegistryCredential()
    registry_id = await services_of(request).registries.create(RegistryInput(
        name=body.name, description=body.description, type=body.type, url=body.url, insecure=body.insecure,
        ca_bundle=body.ca_certificate, credential_type=credential.type, access_key=credential.access_key,
        access_secret=credential.access_secret), actor(request, ctx))
    return created(request, f"{BASE}/{registry_id}")


@router.post(BASE + "/ping")
async def ping_registry(request: Request, body: RegistryPing, ctx: Security) -> Response:
    await require_system(ctx, RESOURCE, "read")
    await services_of(request).registries.ping(body.id, RegistryInput(
        type=body.type, url=body.url, insecure=body.insecure, ca_bundle=body.ca_certificate,
        credential_type=body.credential_type, access_key=body.access_key, access_secret=body.access_secret))
    return Response(status_code=200)


@router.get(ONE)
async def get_registry(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002 - Harbor's name
    await require_system(ctx, RESOURCE, "read")
    return JSONResponse(dump(registry_model(await services_of(request).registries.get(id, refresh=True))))


@router.put(ONE)
async def update_registry(request: Request, id: int, body: RegistryUpdate, ctx: Security  # noqa: A002
                          ) -> Response:
    await require_system(ctx, RESOURCE, "update")
    await services_of(request).registries.update(id, RegistryInput(
        name=body.name, description=body.description, url=body.url, insecure=body.insecure,
        ca_bundle=body.ca_certificate, credential_type=body.credential_type, access_key=body.access_key,
        access_secret=body.access_secret), actor(request, ctx))
    return Response(status_code=200)


@router.delete(ONE)
async def delete_registry(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002
    await require_system(ctx, RESOURCE, "delete")
    await services_of(request).registries.delete(id, actor(request, ctx))
    return Response(status_code=200)


@router.get(ONE + "/info")
async def get_registry_info(request: Request, id: int, ctx: Security) -> Response:  # noqa: A002
    await require_system(ctx, RESOURCE, "read")
    info = await services_of(request).registries.info(id)
    return JSONResponse(dump(RegistryInfo(
        type=info.type, description=info.description,
        supported_resource_filters=[FilterStyle(**f) for f in info.supported_resource_filters],
        supported_triggers=info.supported_triggers, supported_copy_by_chunk=info.supported_copy_by_chunk)))


@router.get("/api/v2.0/replication/adapters")
async def list_adapters(ctx: Security) -> Response:
    await require_system(ctx, ADAPTER, "list")
    return JSONResponse(list(TYPES))


@router.get("/api/v2.0/replication/adapterinfos")
async def list_adapter_infos(ctx: Security) -> Response:
    """Every adapter takes a free-form URL and a key/secret pair (Harbor's "standard" patterns)."""
    await require_system(ctx, ADAPTER, "list")
    info = RegistryProviderInfo(
        endpoint_pattern=RegistryProviderEndpointPattern(endpoint_type="EndpointPatternTypeStandard", endpoints=[]),
        credential_pattern=RegistryProviderCredentialPattern(access_key_type="AccessKeyTypeStandard",
                                                             access_secret_type="AccessSecretTypeStandard"))
    return JSONResponse({kind: dump(info) for kind in TYPES})
