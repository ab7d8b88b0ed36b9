"""Signing in and out, self-registration, and the signed-in user's own settings: password,
language (remembered on the user, and in a cookie for the sign-in page), theme."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from moorage.auth.context import SESSION_COOKIE
from moorage.core.errors import MoorageError
from moorage.domain.audit import Actor, AuditEntry
from moorage.portal.i18n import supported
from moorage.portal.view import LANG_COOKIE, THEME_COOKIE, THEMES, CurrentView, SignedIn, safe_next

router = APIRouter()
YEAR = 365 * 24 * 3600


@router.get("/sign-in")
async def sign_in_page(view: CurrentView) -> Response:
    if view.signed_in:
        return view.redirect(safe_next(view.query("next")))
    return await _sign_in_form(view)


async def _sign_in_form(view: CurrentView, error: str = "", username: str = "", status: int = 200) -> Response:
    registration = bool(await view.services.config.value("self_registration"))
    return view.render("account/sign_in.html", status=status, error=error, username=username,
                       next=safe_next(view.query("next")), registration=registration)


@router.post("/sign-in")
async def sign_in(view: CurrentView) -> Response:
    form = await view.form()
    username, password = form.text("principal")[:255], form.get("password")
    services = view.services
    ip = view.actor().client_ip
    principal = await services.authenticator.password(username, password, ip) if username and password else None
    if principal is None or principal.kind != "user" or principal.id is None:
        await services.audit.record_now(Actor(username, ip), AuditEntry("login", "user", username, success=False))
        return await _sign_in_form(view, view._("Invalid user name or password."), username, status=401)
    await services.authenticator.cleared(principal.name)
    timeout = int(await services.config.value("session_timeout"))
    cookie, _csrf = await services.authenticator.start_session(principal.id, timeout)
    await services.audit.record_now(Actor(principal.name, ip), AuditEntry("login", "user", principal.name))
    view.set_cookie(SESSION_COOKIE, cookie, max_age=timeout * 60)
    return view.redirect(safe_next(form.get("next")))


@router.post("/sign-out")
async def sign_out(view: CurrentView) -> Response:
    cookie = view.request.cookies.get(SESSION_COOKIE)
    if cookie:
        await view.services.authenticator.end_session(cookie)
        if view.signed_in:
            await view.services.audit.record_now(view.actor(), AuditEntry("logout", "user", view.principal.name))
    view.set_cookie(SESSION_COOKIE, "")
    return view.redirect("/sign-in", flash=view._("You have signed out."))


@router.get("/sign-up")
async def sign_up_page(view: CurrentView) -> Response:
    if not await view.services.config.value("self_registration"):
        return view.render("error.html", status=404, status_code=404,
                           message=view._("Self-registration is turned off. Ask an administrator for an account."))
    return view.render("account/sign_up.html", values={}, error="")


@router.post("/sign-up")
async def sign_up(view: CurrentView) -> Response:
    if not await view.services.config.value("self_registration"):
        return view.render("error.html", status=404, status_code=404,
                           message=view._("Self-registration is turned off. Ask an administrator for an account."))
    form = await view.form()
    values = {k: form.text(k) for k in ("username", "email", "realname", "comment")}
    error = ""
    if form.get("password") != form.get("confirm"):
        error = view._("The two passwords do not match.")
    else:
        try:
            await view.services.users.create(values["username"], form.get("password"), Actor(values["username"],
                                             view.actor().client_ip), email=values["email"] or None,
                                             realname=values["realname"], comment=values["comment"])
        except MoorageError as exc:
            error = view.explain(exc)
    if error:
        return view.render("account/sign_up.html", status=400, values=values, error=error)
    return view.redirect("/sign-in", flash=view._("Your account %(name)s is ready: sign in.", name=values["username"]))


@router.get("/account/password")
async def password_page(view: SignedIn) -> Response:
    return view.render("account/password.html", error="")


@router.post("/account/password")
async def change_password(view: SignedIn) -> Response:
    form = await view.form()
    assert view.principal.id is not None
    if form.get("new_password") != form.get("confirm"):
        return view.render("account/password.html", status=400, error=view._("The two new passwords do not match."))
    try:
        await view.services.users.change_password(view.principal.id, form.get("new_password"), view.actor(),
                                                  old_password=form.get("old_password"))
    except MoorageError as exc:
        return view.render("account/password.html", status=exc.status if exc.status < 500 else 400,
                           error=view.explain(exc))
    # Changing the password ends every session of the user, this one included.
    view.set_cookie(SESSION_COOKIE, "")
    return view.redirect("/sign-in", flash=view._("Password changed: sign in with the new one."))


@router.post("/account/language")
async def set_language(view: CurrentView) -> Response:
    form = await view.form()
    locale = supported(form.get("locale"))
    if locale is None:
        return view.redirect(safe_next(form.get("next")), flash=view._("Unknown language."), error=True)
    if view.signed_in and view.principal.id is not None:
        await view.services.users.set_locale(view.principal.id, locale)
    view.set_cookie(LANG_COOKIE, locale, max_age=YEAR)
    return view.redirect(safe_next(form.get("next")))


@router.post("/account/theme")
async def set_theme(view: CurrentView) -> Response:
    form = await view.form()
    theme = form.get("theme")
    view.set_cookie(THEME_COOKIE, theme if theme in THEMES else "auto", max_age=YEAR, httponly=False)
    return view.redirect(safe_next(form.get("next")))
