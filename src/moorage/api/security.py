"""Who is calling the API: Basic credentials (users and robots) or a browser session cookie
(with CSRF protection on writes), else anonymous; and the two permission gates every
handler uses, ``require_system`` and ``require_project``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from moorage.api.services import ApiServices
from moorage.auth.context import CSRF_HEADER, SESSION_COOKIE, SecurityContext
from moorage.auth.rbac import ProjectRef
from moorage.core.errors import Forbidden, MoorageError, Unauthorized
from moorage.domain.audit import Actor

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def services_of(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def security_context(request: Request) -> SecurityContext:
    """Resolve the caller once per request (cached on ``request.state``)."""
    cached = getattr(request.state, "security", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    services = services_of(request)
    auth = services.authenticator
    ctx = auth.anonymous()
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        principal = await auth.basic(header, client_ip(request))
        if principal is None:
            raise Unauthorized("invalid username or password")
        ctx = auth.context(principal, "basic")
    elif cookie := request.cookies.get(SESSION_COOKIE):
        timeout = int(await services.config.value("session_timeout"))
        found = await auth.session(cookie, timeout)
        if found is not None:
            ctx = auth.context(found[0], "session", csrf_token=found[1])
            if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != found[1]:
                raise Forbidden("CSRF token invalid: send the X-Harbor-CSRF-Token header of this session")
            request.state.csrf_token = found[1]
    request.state.security = ctx
    return ctx


Security = Annotated[SecurityContext, Depends(security_context)]


def actor(request: Request, ctx: SecurityContext) -> Actor:
    return Actor(ctx.username, client_ip(request))


def denied(ctx: SecurityContext, what: str) -> MoorageError:
    """401 for anonymous callers (sign in and retry), 403 for signed-in ones."""
    if not ctx.principal.authenticated:
        return Unauthorized(f"sign in to {what}")
    return Forbidden(f"{ctx.username} may not {what}")


async def require_system(ctx: SecurityContext, resource: str, action: str) -> None:
    if not await ctx.can(resource, action):
        raise denied(ctx, f"{action} {resource}")


async def require_project(ctx: SecurityContext, project: ProjectRef, resource: str, action: str) -> None:
    if not await ctx.can(resource, action, project):
        raise denied(ctx, f"{action} {resource} in project {project.name}")


async def project_ref(request: Request, project_name_or_id: str) -> ProjectRef:
    """Resolve ``{project_name_or_id}`` (honouring ``X-Is-Resource-Name``) or raise NotFound."""
    is_name = request.headers.get("x-is-resource-name", "").lower() == "true"
    return await services_of(request).projects.get_ref(project_name_or_id, is_name)
