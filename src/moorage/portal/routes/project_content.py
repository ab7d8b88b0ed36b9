"""Project content pages: the summary, repositories, the artifacts of a repository (paged in
SQL, so 10,000 artifacts list as fast as ten), an artifact's detail (manifest, layers, build
history, index children, referrers, tags, labels), the project's labels and its configuration,
with the deletes and changes they offer.

A repository is addressed by its name inside the project (``/projects/p/repositories/a/b``);
``/-/`` separates it from what follows, as no name component can be ``-``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from moorage.auth.rbac import Role
from moorage.core.errors import BadRequest, MoorageError, NotFound
from moorage.core.query import Condition, Page, parse_sort
from moorage.domain.labels import GLOBAL, PROJECT
from moorage.domain.projects import ProjectDetail
from moorage.domain.repositories import ArtifactOptions
from moorage.metadata.queries.catalog import ARTIFACT_SORT, REPOSITORY_SORT, ArtifactFilter, RepositoryFilter
from moorage.metadata.queries.labels import LABEL_SORT, LabelFilter, LabelRow
from moorage.oci.digest import is_digest
from moorage.portal.view import CurrentView, SignedIn, View

router = APIRouter()
P = "/projects/{name}"
REPO = P + "/repositories/{repo:path}"
ART = REPO + "/-/artifacts/{reference}"
MAX_LABEL_CHOICES = 100
FLAGS = ("public", "enable_content_trust", "enable_content_trust_cosign", "prevent_vul", "auto_scan",
         "auto_sbom_generation")
SEVERITIES = ("none", "low", "medium", "high", "critical")


def project_url(project: ProjectDetail) -> str:
    return f"/projects/{quote(project.name, safe='')}"


def repo_url(project: ProjectDetail, repo: str) -> str:
    return f"{project_url(project)}/repositories/{quote(repo, safe='/')}"


def artifact_url(project: ProjectDetail, repo: str, reference: str) -> str:
    return f"{repo_url(project, repo)}/-/artifacts/{quote(reference, safe=':')}"


def host_of(view: View) -> str:
    """The registry host as the browser reached it (what ``docker pull`` needs)."""
    return view.request.headers.get("host") or view.request.url.netloc


def _sort(raw: str, table: dict[str, str], default: str) -> tuple[str, list[tuple[str, bool]]]:
    try:
        return raw, parse_sort(raw, table)
    except MoorageError:
        return default, parse_sort(default, table)


# Summary ---------------------------------------------------------------------------------------


@router.get(P)
async def summary_page(name: str, view: CurrentView) -> Response:
    project = await view.project(name)
    services = view.services
    summary = await services.projects.summary(project.id)
    quota = None
    if summary.quota is not None and await view.can("quota", "read", project.ref) and await services.quotas.enabled():
        quota = summary.quota
    roles: list[tuple[str, int]] | None = None
    if await view.can("member", "list", project.ref):
        counts = summary.members_by_role
        roles = [(view._("Project admins"), counts.get(Role.PROJECT_ADMIN, 0)),
                 (view._("Maintainers"), counts.get(Role.MAINTAINER, 0)),
                 (view._("Developers"), counts.get(Role.DEVELOPER, 0)),
                 (view._("Guests"), counts.get(Role.GUEST, 0)),
                 (view._("Limited guests"), counts.get(Role.LIMITED_GUEST, 0))]
    return view.render("project/summary.html", project=project, tab="summary", summary=summary, quota=quota,
                       roles=roles, host=host_of(view), can_delete=await view.can("project", "delete", project.ref))


# Repositories ----------------------------------------------------------------------------------


@router.get(P + "/repositories")
async def repositories_page(name: str, view: CurrentView) -> Response:
    project = await view.project(name, "repository", "list")
    query = view.query("q").strip()
    sort_key, order = _sort(view.query("sort", "-update_time"), REPOSITORY_SORT, "-update_time")
    pager = view.pager()
    f = RepositoryFilter(project_ids=frozenset({project.id}),
                         name=Condition("fuzzy", value=query) if query else None)
    rows, pager.total = await view.services.repositories.list_repositories(f, pager.as_page(), order)
    prefix = project.name + "/"
    repos = [(r, r.name.removeprefix(prefix)) for r in rows]
    return view.render("project/repositories.html", project=project, tab="repositories", repos=repos, pager=pager,
                       q=query, sort=sort_key, host=host_of(view), base=project_url(project),
                       can_delete=await view.can("repository", "delete", project.ref))


# Artifacts of a repository -----------------------------------------------------------------------


def _artifact_filter(query: str, label: str) -> ArtifactFilter:
    """The search box (a digest, or its start, finds by digest; anything else a tag) and the
    label choice (artifacts carrying that label)."""
    labels = Condition("and", values=(label,)) if label.isdigit() else None
    if query.startswith("sha256:"):
        return ArtifactFilter(digest=Condition("fuzzy", value=query), labels=labels)
    return ArtifactFilter(tags=Condition("fuzzy", value=query) if query else None, labels=labels)


def _platforms(art: dict[str, Any]) -> list[str]:
    """``os/arch[/variant]`` of an image or of each child of an index."""
    found: list[str] = []
    sources = [r.get("platform") or {} for r in art.get("references", [])] or [art.get("extra_attrs") or {}]
    for p in sources:
        parts = [str(p[k]) for k in ("os", "architecture", "variant") if p.get(k)]
        if parts and "/".join(parts) not in found:
            found.append("/".join(parts))
    return found


def _accessory_flags(art: dict[str, Any]) -> dict[str, bool]:
    kinds = {a["type"] for a in art.get("accessories", [])}
    return {"signed": any(k.startswith("signature.") for k in kinds), "sbom": "sbom.harbor" in kinds}


async def _artifacts(view: View, name: str, repo: str, error: str = "", status: int = 200) -> Response:
    project = await view.project(name, "artifact", "list")
    services = view.services
    full = f"{project.name}/{repo}"
    repository = await services.repositories.get(full)
    query = view.query("q").strip()
    label = view.query("label").strip()
    sort_key, order = _sort(view.query("sort", "-push_time"), ARTIFACT_SORT, "-push_time")
    pager = view.pager()
    options = ArtifactOptions(with_tag=True, with_label=True, with_accessory=True)
    try:
        items, pager.total = await services.repositories.list_artifacts(
            full, _artifact_filter(query, label), pager.as_page(), order, options)
    except BadRequest as exc:
        items, error, status = [], view.explain(exc), 400
    rows = [{**a, "platforms": _platforms(a), **_accessory_flags(a),
             "url": artifact_url(project, repo, a["digest"])} for a in items]
    ref = project.ref
    return view.render(
        "project/artifacts.html", status=status, project=project, tab="repositories", repository=repository,
        repo=repo, full=full, rows=rows, pager=pager, q=query, sort=sort_key, host=host_of(view), error=error,
        label=label, labels=await _label_choices(view, project, set()) if await view.can("label", "list", ref) else [],
        repo_url=repo_url(project, repo), can_delete=await view.can("artifact", "delete", ref),
        can_delete_repo=await view.can("repository", "delete", ref),
        can_update_repo=await view.can("repository", "update", ref))


@router.post(REPO + "/-/delete")
async def delete_repository(name: str, repo: str, view: SignedIn) -> Response:
    project = await view.project(name, "repository", "delete")
    full = f"{project.name}/{repo}"
    try:
        await view.services.repositories.delete(full, project.id, view.actor())
    except MoorageError as exc:
        return view.redirect(repo_url(project, repo), flash=view.explain(exc), error=True)
    return view.redirect(f"{project_url(project)}/repositories",
                         flash=view._("Repository %(name)s deleted.", name=full))


@router.post(REPO + "/-/description")
async def update_description(name: str, repo: str, view: SignedIn) -> Response:
    project = await view.project(name, "repository", "update")
    form = await view.form()
    await view.services.repositories.update_description(f"{project.name}/{repo}", form.text("description"))
    return view.redirect(repo_url(project, repo), flash=view._("Description saved."))


@router.post(REPO + "/-/delete-artifacts")
async def delete_artifacts(name: str, repo: str, view: SignedIn) -> Response:
    """Delete the selected artifacts; stops at the first one that cannot be deleted."""
    project = await view.project(name, "artifact", "delete")
    full = f"{project.name}/{repo}"
    digests = [d for d in (await view.form()).getlist("digest") if d]
    if not digests:
        return view.redirect(repo_url(project, repo), flash=view._("Select at least one artifact."), error=True)
    done = 0
    for digest in digests:
        try:
            await view.services.repositories.delete_artifact(full, digest, view.actor())
        except NotFound:
            continue  # deleted meanwhile (e.g. as the child of another selected index)
        except MoorageError as exc:
            message = view._("%(digest)s: %(error)s", digest=digest, error=view.explain(exc))
            if done:
                message = view.ngettext("%(num)d artifact deleted.", "%(num)d artifacts deleted.", done) + " " + message
            return view.redirect(repo_url(project, repo), flash=message, error=True)
        done += 1
    return view.redirect(repo_url(project, repo),
                         flash=view.ngettext("%(num)d artifact deleted.", "%(num)d artifacts deleted.", done))


# Artifact detail -------------------------------------------------------------------------------


def _layers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    layers = manifest.get("layers")
    return [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []


def _history(config: dict[str, Any] | None) -> list[dict[str, Any]]:
    history = (config or {}).get("history")
    return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []


def _run_config(config: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The image's run settings worth showing (entrypoint, command, environment...)."""
    run = (config or {}).get("config")
    if not isinstance(run, dict):
        return []
    out = []
    for key in ("Entrypoint", "Cmd", "Env", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
                "StopSignal"):
        value = run.get(key)
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            text = "\n".join(str(v) for v in value) if key == "Env" else " ".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = "\n".join(f"{k}={v}" if v not in ({}, None, "") else str(k) for k, v in value.items())
        else:
            text = str(value)
        out.append((key, text))
    return out


async def _label_choices(view: View, project: ProjectDetail, attached: set[int]) -> list[LabelRow]:
    first = Page(1, MAX_LABEL_CHOICES, 0, MAX_LABEL_CHOICES)
    labels = view.services.labels
    global_rows, _ = await labels.list(LabelFilter(GLOBAL), first, [("name", False)])
    project_rows, _ = await labels.list(LabelFilter(PROJECT, project.id), first, [("name", False)])
    return [r for r in project_rows + global_rows if r.id not in attached]


@router.get(ART)
async def artifact_page(name: str, repo: str, reference: str, view: CurrentView) -> Response:
    return await _artifact(view, name, repo, reference)


async def _artifact(view: View, name: str, repo: str, reference: str, error: str = "", status: int = 200,
                    tag_value: str = "", copy_values: tuple[str, str] = ("", "")) -> Response:
    project = await view.project(name, "artifact", "read")
    services = view.services
    full = f"{project.name}/{repo}"
    art = await services.repositories.get_artifact(full, reference, ArtifactOptions(
        with_tag=True, with_label=True, with_accessory=True, with_immutable_status=True, detail=True))
    content, config = await services.repositories.manifest_and_config(full, art["digest"])
    try:
        manifest = orjson.loads(content)
        pretty = orjson.dumps(manifest, option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        manifest, pretty = {}, content.decode("utf-8", "replace")
    manifest = manifest if isinstance(manifest, dict) else {}
    referrers = await services.manifests.referrers(full, art["digest"], None)
    ref = project.ref
    attached = {int(label["id"]) for label in art.get("labels", [])}
    can_label = await view.can("artifact-label", "create", ref)
    children = [{**r, "url": artifact_url(project, repo, r["child_digest"])} for r in art.get("references", [])]
    return view.render(
        "project/artifact.html", status=status, project=project, tab="repositories", repo=repo, full=full, art=art,
        error=error, tag_value=tag_value, copy_values=copy_values, host=host_of(view), repo_url=repo_url(project, repo),
        url=artifact_url(project, repo, art["digest"]), manifest_json=pretty, layers=_layers(manifest),
        config=manifest.get("config") if isinstance(manifest.get("config"), dict) else None,
        history=_history(config), run_config=_run_config(config), image_config=config, children=children,
        referrers=[{**r, "url": artifact_url(project, repo, r["digest"])} for r in referrers],
        platforms=_platforms(art), signed=_accessory_flags(art)["signed"],
        annotations=sorted((art.get("annotations") or {}).items()),
        label_choices=await _label_choices(view, project, attached) if can_label else [],
        can_label=can_label, can_unlabel=await view.can("artifact-label", "delete", ref),
        can_tag=await view.can("tag", "create", ref), can_untag=await view.can("tag", "delete", ref),
        can_delete=await view.can("artifact", "delete", ref),
        can_copy=view.signed_in and await view.can("repository", "pull", ref))


@router.post(ART + "/delete")
async def delete_artifact(name: str, repo: str, reference: str, view: SignedIn) -> Response:
    project = await view.project(name, "artifact", "delete")
    full = f"{project.name}/{repo}"
    try:
        await view.services.repositories.delete_artifact(full, reference, view.actor())
    except MoorageError as exc:
        return view.redirect(artifact_url(project, repo, reference), flash=view.explain(exc), error=True)
    return view.redirect(repo_url(project, repo), flash=view._("Artifact %(name)s deleted.", name=reference))


@router.post(ART + "/copy")
async def copy_artifact(name: str, repo: str, reference: str, view: SignedIn) -> Response:
    """Copy the artifact (with its tags) into a repository of a project where the caller may
    create artifacts, as Harbor's copy does; the bytes are shared, not duplicated."""
    project = await view.project(name, "artifact", "read")
    await view.require_project(project.ref, "repository", "pull")
    form = await view.form()
    target_project, target_repo = form.text("project"), form.text("repository").strip("/")
    try:
        if not target_project or not target_repo:
            raise BadRequest(view._("Enter the target project and repository."))
        target = await view.services.projects.get_ref(target_project, is_name=True)
        await view.require_project(target, "artifact", "create")
        digest = await view.services.repositories.copy(f"{project.name}/{repo}", reference,
                                                       f"{target.name}/{target_repo}", target.id, view.actor())
    except MoorageError as exc:
        return await _artifact(view, name, repo, reference, error=view.explain(exc),
                               copy_values=(target_project, target_repo),
                               status=exc.status if exc.status < 500 else 400)
    return view.redirect(f"/projects/{quote(target.name, safe='')}/repositories/{quote(target_repo, safe='/')}"
                         f"/-/artifacts/{digest}",
                         flash=view._("Copied to %(name)s.", name=f"{target.name}/{target_repo}"))


@router.post(ART + "/tags")
async def add_tag(name: str, repo: str, reference: str, view: SignedIn) -> Response:
    project = await view.project(name, "tag", "create")
    tag = (await view.form()).text("tag")
    try:
        if not tag:
            raise BadRequest(view._("Enter a tag name."))
        await view.services.repositories.create_tag(f"{project.name}/{repo}", reference, tag, view.actor())
    except MoorageError as exc:
        return await _artifact(view, name, repo, reference, error=view.explain(exc),
                               status=exc.status if exc.status < 500 else 400, tag_value=tag)
    return view.redirect(artifact_url(project, repo, reference), flash=view._("Tag %(name)s added.", name=tag))


@router.post(ART + "/tags/{tag}/delete")
async def delete_tag(name: str, repo: str, reference: str, tag: str, view: SignedIn) -> Response:
    project = await view.project(name, "tag", "delete")
    url = artifact_url(project, repo, reference)
    try:
        await view.services.repositories.delete_tag(f"{project.name}/{repo}", reference, tag, view.actor())
    except MoorageError as exc:
        return view.redirect(url, flash=view.explain(exc), error=True)
    if not is_digest(reference) and reference == tag:  # the page's own reference is gone
        return view.redirect(repo_url(project, repo), flash=view._("Tag %(name)s deleted.", name=tag))
    return view.redirect(url, flash=view._("Tag %(name)s deleted.", name=tag))


@router.post(ART + "/labels")
async def attach_label(name: str, repo: str, reference: str, view: SignedIn) -> Response:
    project = await view.project(name, "artifact-label", "create")
    url = artifact_url(project, repo, reference)
    try:
        label_id = (await view.form()).integer("label_id")
        if label_id is None:
            raise BadRequest(view._("Choose a label."))
        await view.services.labels.attach(f"{project.name}/{repo}", reference, label_id)
    except MoorageError as exc:
        return view.redirect(url, flash=view.explain(exc), error=True)
    return view.redirect(url, flash=view._("Label added."))


@router.post(ART + "/labels/{label_id}/delete")
async def detach_label(name: str, repo: str, reference: str, label_id: int, view: SignedIn) -> Response:
    project = await view.project(name, "artifact-label", "delete")
    url = artifact_url(project, repo, reference)
    try:
        await view.services.labels.detach(f"{project.name}/{repo}", reference, label_id)
    except MoorageError as exc:
        return view.redirect(url, flash=view.explain(exc), error=True)
    return view.redirect(url, flash=view._("Label removed."))


# Registered after the artifact pages: ``{repo:path}`` would swallow ``.../-/artifacts/...``.
@router.get(REPO)
async def artifacts_page(name: str, repo: str, view: CurrentView) -> Response:
    return await _artifacts(view, name, repo)


# Project labels --------------------------------------------------------------------------------


@router.get(P + "/labels")
async def labels_page(name: str, view: CurrentView) -> Response:
    return await _labels(view, name)


async def _labels(view: View, name: str, error: str = "", status: int = 200,
                  values: dict[str, str] | None = None) -> Response:
    project = await view.project(name, "label", "list")
    query = view.query("q").strip()
    sort_key, order = _sort(view.query("sort", "name"), LABEL_SORT, "name")
    pager = view.pager()
    f = LabelFilter(PROJECT, project.id, Condition("fuzzy", value=query) if query else None)
    rows, pager.total = await view.services.labels.list(f, pager.as_page(), order)
    ref = project.ref
    return view.render("project/labels.html", status=status, project=project, tab="labels", labels=rows,
                       pager=pager, q=query, sort=sort_key, error=error,
                       values=values or {"color": "#0b63c5"}, base=project_url(project),
                       can_create=await view.can("label", "create", ref),
                       can_update=await view.can("label", "update", ref),
                       can_delete=await view.can("label", "delete", ref))


def _label_values(form: Any) -> dict[str, str]:
    return {"name": form.text("name"), "description": form.text("description"), "color": form.text("color")}


@router.post(P + "/labels")
async def create_label(name: str, view: SignedIn) -> Response:
    project = await view.project(name, "label", "create")
    values = _label_values(await view.form())
    try:
        await view.services.labels.create(PROJECT, project.id, values["name"], values["description"],
                                          values["color"])
    except MoorageError as exc:
        return await _labels(view, name, view.explain(exc), exc.status if exc.status < 500 else 400, values)
    return view.redirect(f"{project_url(project)}/labels", flash=view._("Label %(name)s created.",
                                                                        name=values["name"]))


async def _project_label(view: View, project: ProjectDetail, label_id: int) -> LabelRow:
    label = await view.services.labels.get(label_id)
    if label.scope != PROJECT or label.project_id != project.id:
        raise NotFound(view._("Label %(id)s is not a label of this project.", id=label_id))
    return label


@router.post(P + "/labels/{label_id}")
async def update_label(name: str, label_id: int, view: SignedIn) -> Response:
    project = await view.project(name, "label", "update")
    await _project_label(view, project, label_id)
    values = _label_values(await view.form())
    try:
        await view.services.labels.update(label_id, values["name"], values["description"], values["color"])
    except MoorageError as exc:
        return view.redirect(f"{project_url(project)}/labels", flash=view.explain(exc), error=True)
    return view.redirect(f"{project_url(project)}/labels", flash=view._("Label %(name)s saved.",
                                                                        name=values["name"]))


@router.post(P + "/labels/{label_id}/delete")
async def delete_label(name: str, label_id: int, view: SignedIn) -> Response:
    project = await view.project(name, "label", "delete")
    label = await _project_label(view, project, label_id)
    await view.services.labels.delete(label_id)
    return view.redirect(f"{project_url(project)}/labels", flash=view._("Label %(name)s deleted.", name=label.name))


# Configuration ---------------------------------------------------------------------------------


@router.get(P + "/configuration")
async def configuration_page(name: str, view: SignedIn) -> Response:
    return await _configuration(view, name)


async def _configuration(view: View, name: str, error: str = "", status: int = 200) -> Response:
    project = await view.project(name, "configuration", "read")
    meta = project.metadata
    return view.render("project/configuration.html", status=status, project=project, tab="configuration",
                       flags={k: meta.get(k) == "true" for k in FLAGS}, severity=meta.get("severity", "low"),
                       severities=SEVERITIES, error=error,
                       can_update=await view.can("project", "update", project.ref))


@router.post(P + "/configuration")
async def save_configuration(name: str, view: SignedIn) -> Response:
    project = await view.project(name, "project", "update")
    form = await view.form()
    values = {k: "true" if form.flag(k) else "false" for k in FLAGS}
    severity = form.text("severity", "low")
    if severity not in SEVERITIES:
        return await _configuration(view, name, view._("Choose a severity from the list."), 400)
    values["severity"] = severity
    try:
        await view.services.projects.update(project.ref, view.actor(), values)
    except MoorageError as exc:
        return await _configuration(view, name, view.explain(exc), exc.status if exc.status < 500 else 400)
    return view.redirect(f"{project_url(project)}/configuration", flash=view._("Configuration saved."))
