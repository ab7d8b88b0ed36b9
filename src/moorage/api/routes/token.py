"""``GET /service/token``: the Docker token authentication endpoint (Basic credentials or
none → a signed JWT for the granted subset of the requested scopes)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from moorage.api.security import client_ip, services_of
from moorage.auth.grants import grant, parse_scope
from moorage.auth.tokens import Access
from moorage.core.errors import BadRequest, Unauthorized
from moorage.domain.audit import Actor, AuditEntry

router = APIRouter(include_in_schema=False)


@router.get("/service/token")
async def token(request: Request) -> JSONResponse:
    services = services_of(request)
    auth = services.authenticator
    service = request.query_params.get("service") or services.settings.auth.token_service
    if service != services.settings.auth.token_service:
        raise BadRequest(f"unknown service {service!r}: this registry is {services.settings.auth.token_service!r}")
    ctx = auth.anonymous()
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        principal = await auth.basic(header, client_ip(request))
        if principal is None:
            await services.audit.record_now(Actor(_account(request, header), client_ip(request)), AuditEntry(
                "login", "user", _account(request, header), description="registry token refused", success=False))
            raise Unauthorized("invalid username or password")
        ctx = auth.context(principal, "basic")
    requested: list[Access] = []
    for raw in request.query_params.getlist("scope"):
        for part in raw.split(" "):
            if part and (parsed := parse_scope(part)) is not None:
                requested.append(parsed)
    granted = await grant(ctx, requested)
    lifetime = int(await services.config.value("token_expiration"))
    jwt, expires_in, issued = services.tokens.issue(ctx.principal.name if ctx.principal.authenticated else "",
                                                    granted, service, lifetime)
    return JSONResponse({"token": jwt, "access_token": jwt, "expires_in": expires_in,
                         "issued_at": issued.isoformat().replace("+00:00", "Z")})


def _account(request: Request, header: str) -> str:
    import base64
    import binascii

    try:
        return base64.b64decode(header[6:].strip()).decode().partition(":")[0][:255]
    except (binascii.Error, UnicodeDecodeError):
        return request.query_params.get("account", "")[:255]
