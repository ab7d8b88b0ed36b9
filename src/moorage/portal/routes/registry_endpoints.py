"""Registry endpoints in the portal: the list with each endpoint's health, create, edit,
delete (refused in plain words while a replication policy or a proxy cache project uses it),
and the test-connection button (on the list for a stored endpoint; on the form for what the
form says, saved or not).  System administrators only (resource ``registry``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from moorage.core.errors import BadRequest, MoorageError
from moorage.domain.registries import CREDENTIAL_TYPES, TYPES, RegistryInput, RegistryRecord
from moorage.portal.routes.replication import error_status
from moorage.portal.view import Form, SignedIn, View

router = APIRouter()
REGISTRIES = "/admin/registries"
REGISTRY = "registry"


def _registry_form_values(form: Form) -> dict[str, str]:
    values = {k: form.text(k) for k in ("name", "description", "type", "url", "credential_type", "access_key")}
    values["access_secret"] = form.get("access_secret")
    values["ca_bundle"] = form.get("ca_bundle")
    values["insecure"] = "on" if form.flag("insecure") else ""
    return values


def _registry_record_values(r: RegistryRecord) -> dict[str, str]:
    return {"name": r.name, "description": r.description, "type": r.type, "url": r.url,
            "credential_type": r.credential_type, "access_key": r.access_key, "access_secret": "",
            "ca_bundle": r.ca_bundle or "", "insecure": "on" if r.insecure else ""}


def _registry_input(values: dict[str, str]) -> RegistryInput:
    """What the form says (an empty secret: none for a new endpoint, keep the stored one on edit)."""
    return RegistryInput(
        name=values["name"], description=values["description"], type=values["type"], url=values["url"],
        insecure=bool(values["insecure"]), ca_bundle=values["ca_bundle"],
        credential_type=values["credential_type"] or "basic", access_key=values["access_key"],
        access_secret=values["access_secret"] or None)


def _type_options(view: View) -> list[tuple[str, str]]:
    names = {"docker-registry": view._("Docker Registry (distribution)"), "harbor": view._("Harbor or Moorage"),
             "oci": view._("Other OCI registry")}
    return [(t, names.get(t, t)) for t in TYPES]


def _credential_options(view: View) -> list[tuple[str, str]]:
    names = {"basic": view._("Username and password"), "oauth": view._("Bearer token")}
    return [(t, names.get(t, t)) for t in CREDENTIAL_TYPES]


async def _registry_form(view: View, values: dict[str, str], registry: RegistryRecord | None, *,
                         error: str = "", result: tuple[str, str] | None = None, status: int = 200) -> Response:
    return view.render("admin/registry_form.html", status=status, tab="registries", values=values,
                       registry=registry, error=error, result=result, types=_type_options(view),
                       credential_types=_credential_options(view))


@router.get(REGISTRIES)
async def registries_page(view: SignedIn) -> Response:
    await view.require_system(REGISTRY, "list")
    query = view.query("q").strip()
    pager = view.pager()
    items, pager.total = await view.services.registries.page(
        pager.offset, pager.size, name=query or None, name_fuzzy=True, sort=[("name", False)], refresh=True)
    return view.render("admin/registries.html", tab="registries", registries=items, pager=pager, q=query,
                       types=dict(_type_options(view)), can_edit=await view.can(REGISTRY, "update"))


@router.get(REGISTRIES + "/new")
async def new_registry_page(view: SignedIn) -> Response:
    await view.require_system(REGISTRY, "create")
    return await _registry_form(view, {"name": "", "description": "", "type": "docker-registry", "url": "",
                                       "credential_type": "basic", "access_key": "", "access_secret": "",
                                       "ca_bundle": "", "insecure": ""}, None)


@router.post(REGISTRIES + "/new")
async def create_registry(view: SignedIn) -> Response:
    await view.require_system(REGISTRY, "create")
    values = _registry_form_values(await view.form())
    try:
        if not values["name"]:
            raise BadRequest(view._("Enter a name for the endpoint."))
        if not values["url"]:
            raise BadRequest(view._("Enter the endpoint URL."))
        await view.services.registries.create(_registry_input(values), view.actor())
    except MoorageError as exc:
        return await _registry_form(view, values, None, error=view.explain(exc), status=error_status(exc))
    return view.redirect(REGISTRIES, flash=view._("Registry endpoint %(name)s created.", name=values["name"]))


async def _test(view: View, registry: RegistryRecord | None) -> Response:
    """Ping what the form says (a stored endpoint's secret is kept when the field is empty)."""
    values = _registry_form_values(await view.form())
    body = _registry_input(values)
    try:
        if not values["url"]:
            raise BadRequest(view._("Enter the endpoint URL."))
        await view.services.registries.ping(registry.id if registry else None, body)
    except MoorageError as exc:
        result = ("error", view._("Connection failed: %(reason)s", reason=view.explain(exc)))
        return await _registry_form(view, values, registry, result=result)
    return await _registry_form(view, values, registry, result=(
        "ok", view._("Connection succeeded: %(url)s answers and accepts the credentials.", url=values["url"])))


@router.post(REGISTRIES + "/test")
async def test_new_registry(view: SignedIn) -> Response:
    await view.require_system(REGISTRY, "read")
    return await _test(view, None)


@router.get(REGISTRIES + "/{registry_id:int}")
async def registry_page(registry_id: int, view: SignedIn) -> Response:
    await view.require_system(REGISTRY, "read")
    registry = await view.services.registries.get(registry_id)
    return await _registry_form(view, _registry_record_values(registry), registry)


@router.post(REGISTRIES + "/{registry_id:int}")
async def update_registry(registry_id: int, view: SignedIn) -> Response:
    await view.require_system(REGISTRY, "update")
    registry = await view.services.registries.get(registry_id)
    values = _registry_form_values(await view.form())
    try:
        if not values["name"]:
            raise BadRequest(view._("Enter a name for the endpoint."))
        await view.services.registries.update(registry_id, _registry_input(values), view.actor())
    except MoorageError as exc:
        return await _registry_form(view, values, registry, error=view.explain(exc), status=error_status(exc))
    return view.redirect(REGISTRIES, flash=view._("Registry endpoint %(name)s saved.", name=values["name"]))


@router.post(REGISTRIES + "/{registry_id:int}/test")
async def test_registry(registry_id: int, view: SignedIn) -> Response:
    await view.require_system(REGISTRY, "read")
    return await _test(view, await view.services.registries.get(registry_id))


@router.post(REGISTRIES + "/{registry_id:int}/ping")
async def ping_registry(registry_id: int, view: SignedIn) -> Response:
    """The list's test button: ping the stored endpoint (its health is recorded)."""
    await view.require_system(REGISTRY, "read")
    registry = await view.services.registries.get(registry_id)
    try:
        await view.services.registries.ping(registry_id, RegistryInput())
    except MoorageError as exc:
        return view.redirect(REGISTRIES, flash=view._("%(name)s: connection failed: %(reason)s",
                                                      name=registry.name, reason=view.explain(exc)), error=True)
    return view.redirect(REGISTRIES, flash=view._("%(name)s: connection succeeded.", name=registry.name))


@router.post(REGISTRIES + "/{registry_id:int}/delete")
async def delete_registry(registry_id: int, view: SignedIn) -> Response:
    await view.require_system(REGISTRY, "delete")
    registry = await view.services.registries.get(registry_id)
    policies, projects = await view.services.registries.usage(registry_id)
    if policies or projects:
        users = [view._("replication policy %(name)s", name=p) for p in policies]
        users += [view._("proxy cache project %(name)s", name=p) for p in projects]
        return view.redirect(REGISTRIES, error=True, flash=view._(
            "Registry endpoint %(name)s is in use by %(users)s: change or delete them first.",
            name=registry.name, users=", ".join(users)))
    try:
        await view.services.registries.delete(registry_id, view.actor())
    except MoorageError as exc:
        return view.redirect(REGISTRIES, flash=view.explain(exc), error=True)
    return view.redirect(REGISTRIES, flash=view._("Registry endpoint %(name)s deleted.", name=registry.name))
