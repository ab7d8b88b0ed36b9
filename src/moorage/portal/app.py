"""The portal application: FastAPI for routing and dependencies (no OpenAPI), HTML pages,
errors rendered as pages in the visitor's language, static files, security headers.

Route modules live in ``portal/routes`` and are included in the fixed order of ``ROUTES``
(literal paths such as ``/projects/new`` before the ``/projects/{name}`` pages)."""

from __future__ import annotations

import hashlib
import importlib
import mimetypes
from pathlib import Path

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from moorage.core.errors import MoorageError
from moorage.portal.i18n import DEFAULT_LOCALE, load_translations, negotiate, supported
from moorage.portal.rendering import Renderer
from moorage.portal.services import PortalServices
from moorage.portal.view import LANG_COOKIE, Portal, SignInRequired, View, resolve_view
from moorage.web.http import Message, Receive, Scope, Send

log = structlog.get_logger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
ROUTES = ("account", "projects", "project_content", "project_admin", "project_policies", "project_webhooks",
          "system_admin", "system_jobs", "replication", "registry_endpoints")
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                 b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def _error_view(request: Request) -> View:
    """The request's View if it got that far, else an anonymous one in the browser's language."""
    found: View | None = getattr(request.state, "view", None)
    if found is not None:
        return found
    portal: Portal = request.app.state.portal
    locale = (supported(request.cookies.get(LANG_COOKIE)) or negotiate(request.headers.get("accept-language", ""))
              or DEFAULT_LOCALE)
    return View(request, portal, portal.services.authenticator.anonymous(), locale, "")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    view = _error_view(request)
    return view.render("error.html", status=status, status_code=status, message=message)


def build_static() -> dict[str, tuple[bytes, str, str]]:
    """Every static file with its content type and an ETag, read once."""
    files: dict[str, tuple[bytes, str, str]] = {}
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if ctype.startswith("text/") or ctype.endswith("javascript"):
                ctype += "; charset=utf-8"
            files[path.relative_to(STATIC_DIR).as_posix()] = (data, ctype, hashlib.sha256(data).hexdigest()[:16])
    return files


def build_portal(services: PortalServices) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, dependencies=[Depends(resolve_view)])
    app.state.portal = Portal(services, Renderer(load_translations()))
    app.state.static = static = build_static()
    app.state.static_version = hashlib.sha256("".join(v[2] for v in static.values()).encode()).hexdigest()[:10]
    for env in app.state.portal.renderer.environments.values():
        env.globals["static_version"] = app.state.static_version

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        from urllib.parse import quote

        return RedirectResponse(f"/sign-in?next={quote(exc.next_url, safe='/')}", status_code=303)

    @app.exception_handler(MoorageError)
    async def _moorage_error(request: Request, exc: MoorageError) -> Response:
        if exc.status == 401 and request.method == "GET":
            return await _sign_in(request, SignInRequired(request.url.path))
        return error_page(request, exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_page(request, 400, "; ".join(str(e.get("msg", "invalid")) for e in exc.errors()[:3]))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return error_page(request, exc.status_code, "")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("portal_handler_failed", method=request.method, path=request.url.path)
        return error_page(request, 500, "")

    for name in ROUTES:
        app.include_router(importlib.import_module(f"moorage.portal.routes.{name}").router)
    return app


class PortalApp:
    """ASGI wrapper: serves ``/static/`` itself (no session lookup for a stylesheet) and adds
    the security headers to every portal response."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.static: dict[str, tuple[bytes, str, str]] = app.state.static

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/static/"):
            await self._static(scope, path[len("/static/"):], send)
            return
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).extend(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _static(self, scope: Scope, path: str, send: Send) -> None:
        found = self.static.get(path)
        if found is None:
            await Response(b"not found\n", status_code=404, media_type="text/plain")(scope, _no_receive, send)
            return
        data, ctype, etag = found
        headers = {"etag": f'"{etag}"', "cache-control": "public, max-age=3600"}
        request_headers = dict(scope.get("headers", []))
        if request_headers.get(b"if-none-match", b"").decode("latin-1") == f'"{etag}"':
            response = Response(status_code=304, headers=headers)
        else:
            response = Response(b"" if scope.get("method") == "HEAD" else data, media_type=ctype, headers=headers)
        response.raw_headers.extend(SECURITY_HEADERS)
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
