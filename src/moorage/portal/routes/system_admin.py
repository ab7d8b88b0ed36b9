"""System administration pages under ``/admin`` (system administrators only): users, global
labels and the run-time system configuration (garbage collection, audit logs and their purge
are in ``system_jobs``).  Every check goes through ``view.require_system`` against
``auth/rbac.py``; every change through the domain services."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from moorage.core.errors import BadRequest, Forbidden, MoorageError, NotFound
from moorage.core.query import Condition, parse_sort
from moorage.domain.configuration import KEYS
from moorage.domain.labels import GLOBAL
from moorage.metadata.queries.labels import LabelFilter
from moorage.metadata.queries.users import SORTABLE as USER_SORT
from moorage.portal.view import Form, SignedIn, View, safe_next

router = APIRouter(prefix="/admin")

UNITS = {"MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
_COLOR = re.compile(r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")


def _int(view: View, value: str, what: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise BadRequest(view._("%(field)s must be a whole number.", field=what)) from None


# Users -------------------------------------------------------------------------------------------


async def _users_page(view: View, status: int = 200, error: str = "", form: dict[str, str] | None = None
                      ) -> Response:
    search = view.query("q").strip()
    sort_raw = view.query("sort", "username")
    try:
        sort = parse_sort(sort_raw, USER_SORT)
    except MoorageError:
        sort_raw, sort = "username", [("username", False)]
    conditions = {"username": Condition("fuzzy", value=search)} if search else {}
    pager = view.pager()
    rows, pager.total = await view.services.users.list(conditions, pager.as_page(), sort)
    return view.render("admin/users.html", status=status, tab="users", users=rows, pager=pager, search=search,
                       sort=sort_raw, error=error, form=form or {}, me=view.principal.id)


@router.get("/users")
async def users_list(view: SignedIn) -> Response:
    await view.require_system("user", "list")
    return await _users_page(view)


@router.post("/users")
async def users_create(view: SignedIn) -> Response:
    await view.require_system("user", "create")
    form = await view.form()
    values = {k: form.get(k).strip() for k in ("username", "email", "realname", "comment")}
    password = form.get("password")
    if password != form.get("password_confirm"):
        return await _users_page(view, 400, view._("The passwords do not match."), values)
    try:
        await view.services.users.create(values["username"], password, view.actor(), email=values["email"],
                                         realname=values["realname"], comment=values["comment"])
    except MoorageError as exc:
        return await _users_page(view, exc.status, view.explain(exc), values)
    return view.redirect("/admin/users", flash=view._("User %(name)s created.", name=values["username"]))


@router.get("/users/{user_id}")
async def user_detail(view: SignedIn, user_id: int) -> Response:
    await view.require_system("user", "read")
    return view.render("admin/users.html", tab="users", user=await view.services.users.get(user_id),
                       me=view.principal.id, detail=True, error="")


async def _user_error(view: View, user_id: int, exc: MoorageError) -> Response:
    return view.render("admin/users.html", status=exc.status, tab="users", detail=True,
                       user=await view.services.users.get(user_id), me=view.principal.id, error=view.explain(exc))


@router.post("/users/{user_id}/profile")
async def user_profile(view: SignedIn, user_id: int) -> Response:
    await view.require_system("user", "update")
    form = await view.form()
    try:
        await view.services.users.update_profile(user_id, view.actor(), email=form.get("email").strip(),
                                                 realname=form.get("realname").strip(),
                                                 comment=form.get("comment").strip())
    except MoorageError as exc:
        return await _user_error(view, user_id, exc)
    return view.redirect(f"/admin/users/{user_id}", flash=view._("Saved."))


@router.post("/users/{user_id}/sysadmin")
async def user_sysadmin(view: SignedIn, user_id: int) -> Response:
    await view.require_system("user", "update")
    if user_id == view.principal.id:
        raise Forbidden(view._("You cannot change your own administrator flag."))
    grant = (await view.form()).get("sysadmin") == "1"
    await view.services.users.set_sysadmin(user_id, grant, view.actor())
    user = await view.services.users.get(user_id)
    message = (view._("%(name)s is now a system administrator.", name=user.username) if grant
               else view._("%(name)s is no longer a system administrator.", name=user.username))
    return view.redirect(safe_next((await view.form()).get("next"), "/admin/users"), flash=message)


@router.post("/users/{user_id}/password")
async def user_password(view: SignedIn, user_id: int) -> Response:
    await view.require_system("user", "update")
    form = await view.form()
    password = form.get("password")
    if password != form.get("password_confirm"):
        return await _user_error(view, user_id, BadRequest(view._("The passwords do not match.")))
    user = await view.services.users.get(user_id)
    try:
        await view.services.users.reset_password(user.username, password, view.actor())
    except MoorageError as exc:
        return await _user_error(view, user_id, exc)
    return view.redirect(f"/admin/users/{user_id}", flash=view._("Password of %(name)s reset.", name=user.username))


@router.post("/users/{user_id}/delete")
async def user_delete(view: SignedIn, user_id: int) -> Response:
    await view.require_system("user", "delete")
    if user_id == view.principal.id:
        raise Forbidden(view._("You cannot delete yourself."))
    user = await view.services.users.get(user_id)
    await view.services.users.delete(user_id, view.actor())
    return view.redirect("/admin/users", flash=view._("User %(name)s deleted.", name=user.username))


# Global labels -----------------------------------------------------------------------------------


def color_of(color: str) -> str:
    """A label colour safe to put in an SVG ``fill`` (else "")."""
    return color if _COLOR.match(color or "") else ""


async def _labels_page(view: View, status: int = 200, error: str = "", form: dict[str, str] | None = None,
                       edit: Any = None) -> Response:
    search = view.query("name").strip()
    f = LabelFilter(GLOBAL, None, Condition("fuzzy", value=search) if search else None)
    pager = view.pager()
    rows, pager.total = await view.services.labels.list(f, pager.as_page(), [("name", False)])
    return view.render("admin/labels.html", status=status, tab="labels", labels=rows, pager=pager, search=search,
                       error=error, form=form or {}, edit=edit, swatches={r.id: color_of(r.color) for r in rows})


@router.get("/labels")
async def labels_list(view: SignedIn) -> Response:
    await view.require_system("label", "list")
    return await _labels_page(view)


def _label_form(form: Form) -> dict[str, str]:
    return {"name": form.get("name").strip(), "description": form.get("description").strip(),
            "color": form.get("color").strip()}


@router.post("/labels")
async def labels_create(view: SignedIn) -> Response:
    await view.require_system("label", "create")
    values = _label_form(await view.form())
    try:
        await view.services.labels.create(GLOBAL, None, values["name"], values["description"], values["color"])
    except MoorageError as exc:
        return await _labels_page(view, exc.status, view.explain(exc), values)
    return view.redirect("/admin/labels", flash=view._("Label %(name)s created.", name=values["name"]))


async def _global_label(view: View, label_id: int) -> Any:
    label = await view.services.labels.get(label_id)
    if label.scope != GLOBAL:
        raise NotFound(view._("Label %(id)s not found.", id=label_id))
    return label


@router.get("/labels/{label_id}")
async def label_edit(view: SignedIn, label_id: int) -> Response:
    await view.require_system("label", "read")
    label = await _global_label(view, label_id)
    return await _labels_page(view, edit=label, form={"name": label.name, "description": label.description,
                                                      "color": label.color})


@router.post("/labels/{label_id}")
async def label_update(view: SignedIn, label_id: int) -> Response:
    await view.require_system("label", "update")
    label = await _global_label(view, label_id)
    values = _label_form(await view.form())
    try:
        await view.services.labels.update(label_id, values["name"], values["description"], values["color"])
    except MoorageError as exc:
        return await _labels_page(view, exc.status, view.explain(exc), values, edit=label)
    return view.redirect("/admin/labels", flash=view._("Label %(name)s saved.", name=values["name"]))


@router.post("/labels/{label_id}/delete")
async def label_delete(view: SignedIn, label_id: int) -> Response:
    await view.require_system("label", "delete")
    label = await _global_label(view, label_id)
    await view.services.labels.delete(label_id)
    return view.redirect("/admin/labels", flash=view._("Label %(name)s deleted.", name=label.name))


# System configuration ----------------------------------------------------------------------------


def _quota_parts(size: int) -> tuple[str, str]:
    """A byte count as (number, unit) for the form; (-1, GiB) for unlimited."""
    if size < 0:
        return "-1", "GiB"
    for unit in ("TiB", "GiB", "MiB"):
        if size and size % UNITS[unit] == 0:
            return str(size // UNITS[unit]), unit
    return str(max(size // UNITS["MiB"], 0)), "MiB"


def _config_values(view: View, form: Form) -> dict[str, Any]:
    """The editable keys from the form, typed; BadRequest names a bad number."""
    names = {"session_timeout": view._("Session timeout (minutes)"),
             "token_expiration": view._("Registry token lifetime (minutes)"),
             "robot_token_duration": view._("Default robot lifetime (days)")}
    values: dict[str, Any] = {}
    for key, spec in KEYS.items():
        if not spec.editable:
            continue
        if key == "storage_per_project":
            amount = _int(view, form.get("storage_per_project"), view._("Default storage quota"))
            unit = form.get("storage_unit", "GiB")
            values[key] = -1 if amount < 0 else amount * UNITS.get(unit, UNITS["GiB"])
        elif spec.type is bool:
            values[key] = form.flag(key)
        elif spec.type is int:
            values[key] = _int(view, form.get(key), names.get(key, key))
        else:
            values[key] = form.get(key).strip() if key != "banner_message" else form.get(key)
    return values


async def _config_page(view: View, status: int = 200, error: str = "", values: dict[str, Any] | None = None
                       ) -> Response:
    config = values or await view.services.config.get()
    amount, unit = _quota_parts(int(config["storage_per_project"]))
    return view.render("admin/configuration.html", status=status, tab="configuration", config=config,
                       quota_amount=amount, quota_unit=unit, units=list(UNITS), error=error,
                       can_update=await view.can("configuration", "update"))


@router.get("/configuration")
async def configuration_page(view: SignedIn) -> Response:
    await view.require_system("configuration", "read")
    return await _config_page(view)


@router.post("/configuration")
async def configuration_save(view: SignedIn) -> Response:
    await view.require_system("configuration", "update")
    form = await view.form()
    current = await view.services.config.get()
    try:
        values = _config_values(view, form)
        changed = {k: v for k, v in values.items() if current.get(k) != v}
        if changed:
            await view.services.config.update(changed, view.actor())
    except MoorageError as exc:
        return await _config_page(view, exc.status, view.explain(exc))
    flash = view._("Configuration saved.") if changed else view._("Nothing changed.")
    return view.redirect("/admin/configuration", flash=flash)

