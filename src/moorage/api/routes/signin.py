"""Browser sign-in: ``POST /c/login`` (form ``principal``, ``password``) starts a session
(HttpOnly, SameSite=Lax cookie, Secure under TLS); ``/c/log_out`` ends it."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from moorage.api.security import client_ip, services_of
from moorage.auth.context import SESSION_COOKIE
from moorage.core.errors import Unauthorized
from moorage.domain.audit import Actor, AuditEntry

router = APIRouter(include_in_schema=False)


@router.post("/c/login")
async def login(request: Request) -> Response:
    services = services_of(request)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    principal_name = (form.get("principal") or [""])[0]
    password = (form.get("password") or [""])[0]
    actor = Actor(principal_name[:255], client_ip(request))
    principal = await services.authenticator.password(principal_name, password, client_ip(request))
    if principal is None or principal.kind != "user" or principal.id is None:
        await services.audit.record_now(actor, AuditEntry("login", "user", principal_name[:255], success=False))
        raise Unauthorized("invalid username or password")
    await services.authenticator.cleared(principal.name)
    timeout = int(await services.config.value("session_timeout"))
    cookie, csrf = await services.authenticator.start_session(principal.id, timeout)
    await services.audit.record_now(actor, AuditEntry("login", "user", principal.name))
    response = JSONResponse({"username": principal.name, "sysadmin_flag": principal.sysadmin},
                            headers={"X-Harbor-CSRF-Token": csrf})
    response.set_cookie(SESSION_COOKIE, cookie, max_age=timeout * 60, path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


@router.get("/c/log_out")
async def log_out(request: Request) -> Response:
    services = services_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = await services.authenticator.session(cookie, 1)
        await services.authenticator.end_session(cookie)
        if found is not None:
            await services.audit.record_now(Actor(found[0].name, client_ip(request)),
                                            AuditEntry("logout", "user", found[0].name))
    response = Response(status_code=200)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
