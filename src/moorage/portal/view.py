"""The per-request ``View``: who is asking (a browser session, else anonymous), in which
language, the CSRF token of the page, and the helpers every page uses to render, redirect,
read forms and check permissions.

CSRF: a signed-in browser's forms carry the session's token; an anonymous browser's (sign in,
sign up, language) carry a random token that is also in an HttpOnly ``SameSite=Strict`` cookie
(double submit).  ``resolve_view`` checks the token of EVERY ``POST`` before any handler runs,
so a handler cannot forget it.  Cookies are ``SameSite=Lax`` besides.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from moorage.auth.context import SESSION_COOKIE, SecurityContext
from moorage.auth.rbac import Principal, ProjectRef
from moorage.core.errors import BadRequest, Forbidden, MoorageError, Unauthorized
from moorage.core.query import Page
from moorage.domain.audit import Actor
from moorage.domain.projects import ProjectDetail
from moorage.metadata.models import User
from moorage.portal.i18n import DEFAULT_LOCALE, negotiate, supported
from moorage.portal.rendering import Renderer
from moorage.portal.services import PortalServices

LANG_COOKIE = "lang"
THEME_COOKIE = "theme"
FLASH_COOKIE = "flash"
ANON_CSRF_COOKIE = "pcsrf"
CSRF_FIELD = "csrf_token"
THEMES = ("auto", "light", "dark")
MAX_FORM_BYTES = 1024 * 1024
MAX_PAGE_SIZE = 100


@dataclass
class Portal:
    """What the portal application holds: the services and the template renderer."""

    services: PortalServices
    renderer: Renderer


class SignInRequired(Exception):
    """Raised for anonymous visitors of a page that needs a user; answered with a redirect to
    the sign-in page that comes back to ``next_url``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class Form:
    """A submitted ``application/x-www-form-urlencoded`` form.  Values are returned as sent
    (passwords must not be trimmed); use ``text`` for trimmed free text."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values

    def get(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[0] if found else default

    def text(self, name: str, default: str = "") -> str:
        return self.get(name, default).strip()

    def getlist(self, name: str) -> list[str]:
        return list(self.values.get(name, []))

    def flag(self, name: str) -> bool:
        return self.get(name).lower() in ("on", "true", "1", "yes")

    def integer(self, name: str, default: int | None = None) -> int | None:
        """An optional whole number; BAD_REQUEST naming the field when it is not one."""
        raw = self.text(name)
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise BadRequest(f"{name}: {raw!r} is not a whole number") from None

    def __contains__(self, name: object) -> bool:
        return name in self.values


@dataclass
class Pager:
    """Server-side paging of a list: ``?page=N&page_size=M`` in, links out."""

    page: int
    size: int
    path: str
    params: dict[str, str]
    total: int = 0

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def first_item(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last_item(self) -> int:
        return min(self.offset + self.size, self.total)

    def url(self, page: int) -> str:
        params = {**self.params, "page": str(page)}
        return f"{self.path}?{urlencode(params)}"

    def as_page(self) -> Page:
        return Page(self.page, self.size, self.offset, self.size)


def safe_next(url: str | None, default: str = "/projects") -> str:
    """A local path to go to after a form (never another site: ``//host``, ``/\\host``)."""
    if not url or not url.startswith("/") or url.startswith(("//", "/\\")) or any(c in url for c in "\r\n"):
        return default
    return url


@dataclass
class View:
    request: Request
    portal: Portal
    ctx: SecurityContext
    locale: str
    csrf_token: str
    user: User | None = None
    cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    form_values: Form | None = None
    banner: tuple[str, str] | None = None  # (kind, text) of the system's announcement banner

    # Who -------------------------------------------------------------------------------

    @property
    def services(self) -> PortalServices:
        return self.portal.services

    @property
    def principal(self) -> Principal:
        return self.ctx.principal

    @property
    def signed_in(self) -> bool:
        return self.principal.kind == "user"

    @property
    def theme(self) -> str:
        theme = self.request.cookies.get(THEME_COOKIE, "auto")
        return theme if theme in THEMES else "auto"

    def actor(self) -> Actor:
        return Actor(self.ctx.username, self.request.client.host if self.request.client else "")

    # Language --------------------------------------------------------------------------

    def _(self, message: str, **params: Any) -> str:
        """``message`` in the page's language, with ``%(name)s`` parameters filled in."""
        text = self.portal.renderer.translations[self.locale].gettext(message)
        return text % params if params else text

    def explain(self, exc: MoorageError) -> str:
        """A domain error for this page's reader.  Domain messages are English (they name
        values and rules); on a translated page they come after what kind of error it is, in
        the page's language."""
        if self.locale == DEFAULT_LOCALE:
            return exc.message
        kinds = {400: self._("The input was not accepted"), 401: self._("Sign in required"),
                 403: self._("Not allowed"), 404: self._("Not found"), 409: self._("Conflict"),
                 412: self._("Not possible right now"), 413: self._("Too large"), 422: self._("Not possible"),
                 429: self._("Too many requests")}
        kind = kinds.get(exc.status, self._("Something went wrong"))
        return self._("%(kind)s: %(detail)s", kind=kind, detail=exc.message)

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        text = self.portal.renderer.translations[self.locale].ngettext(singular, plural, n)
        return text % {"num": n, **params}

    # Input -----------------------------------------------------------------------------

    async def form(self) -> Form:
        """The submitted form (already read, and its CSRF token checked, for every POST)."""
        if self.form_values is None:
            self.form_values = await read_form(self.request, self._)
        return self.form_values

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)

    def url_with(self, **changes: str | None) -> str:
        """This page's URL with some query parameters changed (None: removed)."""
        params = {k: v for k, v in self.request.query_params.items() if k not in changes}
        params.update({k: v for k, v in changes.items() if v is not None})
        return self.request.url.path + (f"?{urlencode(params)}" if params else "")

    def pager(self, total: int = 0, default_size: int = 25) -> Pager:
        """Paging from ``?page=&page_size=`` (size 1..100); set ``.total`` once it is known."""
        def positive(name: str, fallback: int) -> int:
            try:
                return max(1, int(self.request.query_params.get(name, fallback)))
            except ValueError:
                return fallback
        params = {k: v for k, v in self.request.query_params.items() if k != "page"}
        return Pager(positive("page", 1), min(positive("page_size", default_size), MAX_PAGE_SIZE),
                     self.request.url.path, params, total)

    # Permissions -----------------------------------------------------------------------

    async def can(self, resource: str, action: str, ref: ProjectRef | None = None) -> bool:
        return await self.ctx.can(resource, action, ref)

    def _denied(self, what: str) -> MoorageError:
        if not self.principal.authenticated:
            return Unauthorized(f"sign in to {what}")
        return Forbidden(f"{self.ctx.username} may not {what}")

    async def require_system(self, resource: str, action: str) -> None:
        if not await self.ctx.can(resource, action):
            raise self._denied(f"{action} {resource}")

    async def require_project(self, ref: ProjectRef, resource: str, action: str) -> None:
        if not await self.ctx.can(resource, action, ref):
            raise self._denied(f"{action} {resource} in project {ref.name}")

    async def project(self, name: str, resource: str = "project", action: str = "read") -> ProjectDetail:
        """The project called ``name`` if the caller may ``action`` its ``resource``
        (NotFound, Unauthorized or Forbidden otherwise)."""
        ref = await self.services.projects.get_ref(name, is_name=True)
        await self.require_project(ref, resource, action)
        return await self.services.projects.get(ref.id, self.principal.id if self.signed_in else None)

    # Output ----------------------------------------------------------------------------

    def set_cookie(self, name: str, value: str, **options: Any) -> None:
        self.cookies.append((name, value, options))

    def _apply(self, response: Response) -> Response:
        for name, value, options in self.cookies:
            if value == "":
                response.delete_cookie(name, path="/")
            else:
                response.set_cookie(name, value, path="/", samesite=options.pop("samesite", "lax"),
                                    httponly=options.pop("httponly", True),
                                    secure=self.request.url.scheme == "https", **options)
        response.headers["cache-control"] = "no-store"
        return response

    def flash(self) -> tuple[str, str] | None:
        """The message a redirect left for this page: (kind, text)."""
        raw = self.request.cookies.get(FLASH_COOKIE)
        if not raw:
            return None
        kind, _, text = unquote(raw).partition("|")
        return (kind if kind in ("ok", "error") else "ok", text[:500])

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        flash = self.flash()
        if flash is not None:
            self.set_cookie(FLASH_COOKIE, "")
        body = self.portal.renderer.render(self.locale, template, {
            "view": self, "request": self.request, "principal": self.principal, "user": self.user,
            "csrf_token": self.csrf_token, "locale": self.locale, "theme": self.theme, "flash": flash,
            "path": self.request.url.path, "banner": self.banner, **context,
        })
        return self._apply(HTMLResponse(body, status_code=status))  # type: ignore[return-value]

    def redirect(self, url: str, flash: str | None = None, error: bool = False) -> Response:
        """303 to a local ``url`` (Post/Redirect/Get), with a one-time message for the next page."""
        if flash:
            self.set_cookie(FLASH_COOKIE, quote(("error|" if error else "ok|") + flash[:500]), max_age=60)
        return self._apply(RedirectResponse(safe_next(url), status_code=303))


async def read_form(request: Request, gettext: Callable[[str], str] = str) -> Form:
    """Parse a URL-encoded body of at most 1 MiB (BAD_REQUEST otherwise)."""
    cached = getattr(request.state, "portal_form", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = b""
    if request.method == "POST":
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise BadRequest(gettext("The form is too large."))
    if body and ctype != "application/x-www-form-urlencoded":
        raise BadRequest(gettext("Forms must be sent as application/x-www-form-urlencoded."))
    form = Form(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
    request.state.portal_form = form
    return form


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


async def resolve_view(request: Request) -> View:
    """The request's View, once per request; checks the CSRF token of every POST."""
    cached = getattr(request.state, "view", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    portal = portal_of(request)
    services = portal.services
    auth = services.authenticator
    ctx, csrf, user = auth.anonymous(), "", None
    config = await services.config.get()
    if cookie := request.cookies.get(SESSION_COOKIE):
        found = await auth.session(cookie, int(config["session_timeout"]))
        if found is not None and found[0].id is not None:
            ctx, csrf = auth.context(found[0], "session", csrf_token=found[1]), found[1]
            user = await services.users.get(found[0].id)
    view = View(request, portal, ctx, DEFAULT_LOCALE, csrf, user, banner=parse_banner(config.get("banner_message")))
    view.locale = (supported(user.locale if user else None) or supported(request.cookies.get(LANG_COOKIE))
                   or negotiate(request.headers.get("accept-language", "")) or DEFAULT_LOCALE)
    if not csrf:
        view.csrf_token = request.cookies.get(ANON_CSRF_COOKIE) or ""
        if not view.csrf_token:
            view.csrf_token = secrets.token_urlsafe(24)
            view.set_cookie(ANON_CSRF_COOKIE, view.csrf_token, samesite="strict")
    request.state.view = view
    if request.method == "POST":
        sent = (await view.form()).get(CSRF_FIELD)
        if not sent or not hmac.compare_digest(sent.encode(), view.csrf_token.encode()):
            raise Forbidden(view._(
                "The form has expired or did not come from this site: reload the page and try again."))
    return view


def parse_banner(raw: object) -> tuple[str, str] | None:
    """Harbor's ``banner_message``: JSON ``{"message", "type", "fromDate", "toDate"}`` (dates in
    milliseconds; shown only between them), or plain text.  (kind, text), or None."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return ("info", raw.strip()[:1000])
    if not isinstance(doc, dict):
        return ("info", raw.strip()[:1000])
    message = str(doc.get("message") or "").strip()
    now_ms = time.time() * 1000
    try:
        if doc.get("fromDate") and now_ms < float(doc["fromDate"]):
            return None
        if doc.get("toDate") and now_ms > float(doc["toDate"]):
            return None
    except (TypeError, ValueError):
        pass
    kind = {"warning": "warn", "danger": "error", "success": "ok"}.get(str(doc.get("type", "")), "info")
    return (kind, message[:1000]) if message else None


async def signed_in_view(request: Request) -> View:
    view = await resolve_view(request)
    if not view.signed_in:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return view


CurrentView = Annotated[View, Depends(resolve_view)]
SignedIn = Annotated[View, Depends(signed_in_view)]
