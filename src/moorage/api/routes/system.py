"""System endpoints: ``/ping``, ``/health``, ``/systeminfo``, ``/statistics``,
``/configurations`` and ``/api/version``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

import moorage
from moorage.api.schemas import ComponentHealthStatus, GeneralInfo, OverallHealthStatus, Statistic
from moorage.api.security import Security, actor, require_system, services_of
from moorage.core.errors import BadRequest, Unauthorized
from moorage.db.base import utcnow
from moorage.domain.configuration import KEYS
from moorage.domain.statistics import statistics

router = APIRouter(tags=["system"])
P = "/api/v2.0"


@router.get(f"{P}/ping", response_class=PlainTextResponse)
async def ping() -> str:
    return "Pong"


@router.get(f"{P}/health", response_model=OverallHealthStatus, response_model_exclude_none=True)
async def health(request: Request) -> OverallHealthStatus:
    components = await services_of(request).health()
    status = "healthy" if all(s == "healthy" for s in components.values()) else "unhealthy"
    return OverallHealthStatus(status=status, components=[
        ComponentHealthStatus(name=name, status=state) for name, state in sorted(components.items())])


@router.get(f"{P}/systeminfo", response_model=GeneralInfo, response_model_exclude_none=True)
async def systeminfo(request: Request, ctx: Security) -> GeneralInfo:
    """Anonymous callers get the sign-in facts; signed-in callers also the registry's."""
    services = services_of(request)
    config = await services.config.get()
    info = GeneralInfo(auth_mode=config["auth_mode"], primary_auth_mode=config["primary_auth_mode"],
                       self_registration=config["self_registration"], banner_message=config["banner_message"])
    if ctx.principal.authenticated:
        external = services.settings.auth.external_url or str(request.base_url).rstrip("/")
        info.current_time = utcnow()
        info.external_url = external
        info.registry_url = external.split("://", 1)[-1]
        info.project_creation_restriction = config["project_creation_restriction"]
        info.has_ca_root = False
        info.harbor_version = f"moorage-{moorage.__version__}"
        info.registry_storage_provider_name = services.settings.storage.driver
        info.read_only = False
        info.notification_enable = False
    return info


@router.get(f"{P}/statistics", response_model=Statistic, response_model_exclude_none=True)
async def get_statistics(request: Request, ctx: Security) -> Statistic:
    if not ctx.principal.authenticated:
        raise Unauthorized("sign in to read statistics")
    return Statistic(**await statistics(services_of(request).authenticator.db, ctx.principal))


@router.get(f"{P}/configurations")
async def get_configurations(request: Request, ctx: Security) -> JSONResponse:
    await require_system(ctx, "configuration", "read")
    values = await services_of(request).config.get()
    return JSONResponse({k: {"value": v, "editable": KEYS[k].editable} for k, v in values.items()})


@router.put(f"{P}/configurations")
async def put_configurations(request: Request, ctx: Security, body: Annotated[dict[str, Any], Body()]) -> Response:
    await require_system(ctx, "configuration", "update")
    if not body:
        raise BadRequest("no configuration keys given")
    await services_of(request).config.update(body, actor(request, ctx))
    return Response(status_code=200)


@router.get("/api/version", include_in_schema=False)
async def version() -> JSONResponse:
    return JSONResponse({"version": "v2.0"})
