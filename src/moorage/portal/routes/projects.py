"""The projects list (search, sort, paging, visibility, repository count, quota usage),
creating a project (a proxy cache too) and deleting one."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from moorage.core.errors import BadRequest, Forbidden, MoorageError
from moorage.core.query import parse_sort
from moorage.metadata.queries.projects import SORTABLE, ProjectFilter
from moorage.portal.view import SignedIn, View

router = APIRouter()
UNITS = {"MB": 1000**2, "GB": 1000**3, "TB": 1000**4, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/projects", status_code=302)


@router.get("/harbor")
@router.get("/harbor/{rest:path}")
async def from_harbor(rest: str = "") -> Response:
    """Bookmarks of Harbor's portal (``/harbor/projects``, ``/harbor/sign-in``) land on the
    matching page here; Harbor's pages name projects by id, so the rest go to the projects list."""
    return RedirectResponse("/sign-in" if rest.startswith("sign-in") else "/projects", status_code=302)


async def may_create(view: View) -> bool:
    """Harbor's rule: system administrators always; other users while
    ``project_creation_restriction`` is ``everyone``."""
    if await view.can("project", "create"):
        return True
    return view.signed_in and await view.services.config.value("project_creation_restriction") == "everyone"


@router.get("/projects")
async def projects_page(view: SignedIn) -> Response:
    query = view.query("q").strip()
    access = view.query("access")
    sort_key = view.query("sort", "name")
    try:
        order = parse_sort(sort_key, SORTABLE)
    except MoorageError:
        sort_key, order = "name", [("name", False)]
    visible = (ProjectFilter(everything=True) if await view.can("project", "list")
               else ProjectFilter(member_user_id=view.principal.id))
    public = {"public": True, "private": False}.get(access)
    pager = view.pager()
    f = ProjectFilter(everything=visible.everything, member_user_id=visible.member_user_id,
                      name_fuzzy=query or None, public=public)
    projects, pager.total = await view.services.projects.page(f, pager.offset, pager.size, order, view.principal.id)
    usages = await view.services.quotas.usages([p.id for p in projects])
    return view.render("projects/list.html", nav="projects", projects=projects, usages=usages, pager=pager,
                       q=query, access=access, sort=sort_key, can_create=await may_create(view))


async def _new_form(view: View, values: dict[str, str], error: str = "", status: int = 200) -> Response:
    registries = []
    if view.principal.sysadmin:
        items, _total = await view.services.registries.page(0, 100, sort=[("name", False)])
        registries = [(str(r.id), f"{r.name} ({r.url})") for r in items]
    return view.render("projects/new.html", status=status, nav="projects", values=values, error=error,
                       registries=registries, units_options=[(u, u) for u in UNITS])


@router.get("/projects/new")
async def new_project_page(view: SignedIn) -> Response:
    if not await may_create(view):
        raise Forbidden(view._("Only system administrators can create projects here."))
    return await _new_form(view, {"unit": "GB", "limit": "-1"})


@router.post("/projects/new")
async def create_project(view: SignedIn) -> Response:
    if not await may_create(view):
        raise Forbidden(view._("Only system administrators can create projects here."))
    form = await view.form()
    values = {k: form.text(k) for k in ("name", "limit", "unit", "registry_id")}
    values["public"] = "on" if form.flag("public") else ""
    values["proxy"] = "on" if form.flag("proxy") else ""
    try:
        name = values["name"]
        if not name:
            raise BadRequest(view._("Enter a project name."))
        requested = parse_limit(view, values["limit"], values["unit"]) if view.principal.sysadmin else None
        registry_id = None
        if values["proxy"]:
            if not view.principal.sysadmin:
                raise Forbidden(view._("Only system administrators can create proxy cache projects."))
            if not values["registry_id"].isdigit():
                raise BadRequest(view._("Choose the registry endpoint this proxy cache pulls from."))
            registry_id = int(values["registry_id"])
            await view.services.registries.get(registry_id)
        limit = await view.services.quotas.limit_for_new_project(requested, view.principal.sysadmin)
        await view.services.projects.create(name, metadata={"public": "true" if values["public"] else "false"},
                                            owner_id=view.principal.id, actor=view.actor(), storage_limit=limit,
                                            registry_id=registry_id)
    except MoorageError as exc:
        return await _new_form(view, values, view.explain(exc), status=exc.status if exc.status < 500 else 400)
    return view.redirect(f"/projects/{name}", flash=view._("Project %(name)s created.", name=name))


def parse_limit(view: View, raw: str, unit: str) -> int:
    """A storage limit from a form: -1 (unlimited) or a positive amount of ``unit``."""
    if raw in ("", "-1"):
        return -1
    try:
        amount = float(raw)
    except ValueError:
        amount = -1.0
    if amount < 0 or unit not in UNITS:
        raise BadRequest(view._("The storage limit must be -1 (unlimited) or a positive number."))
    return int(amount * UNITS[unit])


@router.post("/projects/{name}/quota")
async def set_quota(name: str, view: SignedIn) -> Response:
    """A system administrator changes the project's storage limit (Harbor's project quotas)."""
    ref = await view.services.projects.get_ref(name, is_name=True)
    await view.require_system("quota", "update")
    form = await view.form()
    try:
        limit = parse_limit(view, form.text("limit"), form.text("unit"))
        await view.services.quotas.set_limit(ref.id, limit, view.actor())
    except MoorageError as exc:
        return view.redirect(f"/projects/{name}", flash=view.explain(exc), error=True)
    return view.redirect(f"/projects/{name}", flash=view._("The storage limit of %(name)s was saved.", name=name))


@router.post("/projects/{name}/delete")
async def delete_project(name: str, view: SignedIn) -> Response:
    ref = await view.services.projects.get_ref(name, is_name=True)
    await view.require_project(ref, "project", "delete")
    try:
        await view.services.projects.delete(ref, view.actor())
    except MoorageError as exc:
        return view.redirect(f"/projects/{name}", flash=view.explain(exc), error=True)
    return view.redirect("/projects", flash=view._("Project %(name)s deleted.", name=name))
