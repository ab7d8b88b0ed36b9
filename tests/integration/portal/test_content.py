"""Project content pages: summary, repositories, artifacts (paged on the server), artifact
detail (manifest, layers, build history, index children, referrers), tag / label / artifact /
repository changes, project labels and project configuration, in English and 简体中文."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.common.oci import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, descriptor, push_blob, put_manifest, sha256
from tests.common.servers import ADMIN, Server
from tests.integration.portal.conftest import PortalClient, make_user

HISTORY_CMD = "/bin/sh -c apk add --no-cache curl"
MANY = 260  # artifacts in the paging repository: more than two pages of 100


def text(page: str) -> str:
    """The visible text of a page, tags removed and whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def headings(page: str) -> list[str]:
    return [re.sub(r"<[^>]+>|\s+", " ", h).strip() for h in re.findall(r"<h[123][^>]*>(.*?)</h[123]>", page, re.S)]


def notices(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", n).strip() for n in re.findall(r'class="notice[^"]*"[^>]*>(.*?)</div>', page, re.S)]


def well_formed(page: str) -> str:
    """The page, once checked for duplicate ids and for inputs without a label."""
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for field in re.findall(r'<(?:input|select|textarea)\b[^>]*>', page):
        if 'type="hidden"' in field or "aria-label=" in field or 'type="submit"' in field:
            continue
        found = re.search(r'\sid="([^"]+)"', field)
        assert found and f'for="{found.group(1)}"' in page, field
    return page


def follow_flash(client: PortalClient, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:2000]
    return " ".join(notices(client.page(response.headers["location"])))


@dataclass
class World:
    project: str
    image: str  # digest of app:v1 (tags v1, latest; build history, a signature referrer)
    signature: str
    index: str
    children: list[str]
    many_first: str  # the digest pushed first into "many" (last in push-time order)

    def repo(self, name: str) -> str:
        return f"/projects/{self.project}/repositories/{name}"

    def art(self, repo: str, reference: str) -> str:
        return f"{self.repo(repo)}/-/artifacts/{reference}"


def _image(client: httpx.Client, repo: str, tag: str | None, arch: str = "amd64", **extra: Any) -> str:
    config = json.dumps({
        "architecture": arch, "os": "linux", "author": "Moorage tests", "created": "2024-05-01T10:00:00Z",
        "config": {"Env": ["PATH=/usr/bin", "MODE=test"], "Cmd": ["/app", "--serve"], "WorkingDir": "/srv"},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [{"created": "2024-05-01T09:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
                    {"created": "2024-05-01T10:00:00Z", "created_by": HISTORY_CMD},
                    {"created": "2024-05-01T10:00:00Z", "created_by": "/bin/sh -c #(nop) CMD [\"/app\"]",
                     "empty_layer": True}],
        "nonce": secrets.token_hex(8)}).encode()
    layer = secrets.token_bytes(2048)
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                       "layers": [descriptor(OCI_LAYER, layer)], **extra}).encode()
    response = put_manifest(client, repo, tag or sha256(body), body)
    assert response.status_code == 201, response.text
    return sha256(body)


def _many(client: httpx.Client, repo: str, count: int) -> str:
    """``count`` small artifacts sharing one config and layer (only an annotation differs)."""
    config = json.dumps({"architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"tiny layer"
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    first = ""
    for i in range(count):
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                           "layers": [descriptor(OCI_LAYER, layer)], "annotations": {"n": str(i)}}).encode()
        tag = f"t{i:04d}" if i % 2 == 0 else sha256(body)
        assert put_manifest(client, repo, tag, body).status_code == 201
        first = first or sha256(body)
    return first


@pytest.fixture(scope="module")
def world(portal: Server, api: httpx.Client) -> Iterator[World]:
    project = f"content-{secrets.token_hex(3)}"
    assert api.post("/projects", json={"project_name": project, "storage_limit": 10**9}).status_code == 201
    with httpx.Client(base_url=portal.url, auth=ADMIN, timeout=60) as v2:
        image = _image(v2, f"{project}/app", "v1")
        assert put_manifest(v2, f"{project}/app", "latest",
                            v2.get(f"/v2/{project}/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).content
                            ).status_code == 201
        # A signature-like referrer of the image (an OCI artifact with a subject).
        empty = b"{}"
        push_blob(v2, f"{project}/app", empty)
        sig = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
                          "config": descriptor("application/vnd.oci.empty.v1+json", empty),
                          "layers": [descriptor("application/vnd.oci.empty.v1+json", empty)],
                          "subject": {"mediaType": OCI_MANIFEST, "digest": image, "size": 1}}).encode()
        assert put_manifest(v2, f"{project}/app", sha256(sig), sig).status_code == 201
        children = [_image(v2, f"{project}/multi/arch", None, arch) for arch in ("amd64", "arm64")]
        sizes = {c: len(v2.get(f"/v2/{project}/multi/arch/manifests/{c}", headers={"Accept": OCI_MANIFEST}).content)
                 for c in children}
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": c, "size": sizes[c],
             "platform": {"os": "linux", "architecture": arch}}
            for c, arch in zip(children, ("amd64", "arm64"), strict=True)]}).encode()
        assert put_manifest(v2, f"{project}/multi/arch", "2.0", index, OCI_INDEX).status_code == 201
        many_first = _many(v2, f"{project}/many", MANY)
    yield World(project, image, sha256(sig), sha256(index), children, many_first)


# Summary ---------------------------------------------------------------------------------------

def test_summary_shows_counts_quota_and_push_commands(admin: PortalClient, zh: PortalClient, world: World) -> None:
    page = well_formed(admin.page(f"/projects/{world.project}"))
    assert "Project summary" in headings(page)
    assert "<meter" in page and "of 1 GB used" in text(page)
    assert "Project admins" in text(page)
    assert "docker push 127.0.0.1" in page and f"/{world.project}/REPOSITORY[:TAG]" in page
    stat = re.search(r'class="stat"><a [^>]*>(\d+)</a>', page)
    assert stat and stat.group(1) == "3"  # app, multi/arch, many
    page = zh.page(f"/projects/{world.project}")
    assert "项目概要" in headings(page) and "推送镜像" in headings(page)


# Repositories ----------------------------------------------------------------------------------

def test_repositories_list_search_and_sort(admin: PortalClient, zh: PortalClient, world: World) -> None:
    page = well_formed(admin.page(f"/projects/{world.project}/repositories"))
    assert "Repositories" in headings(page)
    for name in ("app", "multi/arch", "many"):
        assert f'href="/projects/{world.project}/repositories/{name}"' in page
    assert "docker pull 127.0.0.1" in page
    found = admin.page(f"/projects/{world.project}/repositories?q=multi&sort=name")
    assert "multi/arch" in found and "/repositories/many\"" not in found
    empty = admin.page(f"/projects/{world.project}/repositories?q=nothing-like-this")
    assert "No repositories found" in text(empty)
    assert "镜像仓库" in headings(zh.page(f"/projects/{world.project}/repositories"))


# Artifacts -------------------------------------------------------------------------------------

def test_artifacts_list_shows_tags_size_platforms_and_columns(admin: PortalClient, zh: PortalClient,
                                                              world: World) -> None:
    page = well_formed(admin.page(world.repo("app")))
    assert f"Artifacts of {world.project}/app" in headings(page)
    body = text(page)
    assert "v1" in body and "latest" in body and "linux/amd64" in body and "IMAGE" in body
    assert world.image[:19] in page  # sha256: + 12 hex
    assert world.signature[:19] not in page  # accessories are reached through their subject
    assert "Signed" in body and "Not scanned" in body
    assert re.search(r"\d(\.\d)? KB", body)  # size
    assert "docker pull 127.0.0.1" in page and f"/{world.project}/app:" in page
    index = text(admin.page(world.repo("multi/arch")))
    assert "linux/amd64, linux/arm64" in index and "2.0" in index, index[index.find("IMAGE") - 300:][:600]
    assert "制品" in " ".join(headings(zh.page(world.repo("app"))))


def test_artifacts_page_on_the_server(admin: PortalClient, world: World) -> None:
    started = time.monotonic()
    first = admin.page(world.repo("many") + "?page_size=100")
    elapsed = time.monotonic() - started
    assert first.count('name="digest"') == 100
    assert f"1–100 of {MANY}" in text(first) and "Page 1 of 3" in text(first)
    last = admin.page(world.repo("many") + "?page_size=100&page=3")
    assert last.count('name="digest"') == MANY - 200 and world.many_first[:19] in last
    assert world.many_first[:19] not in first  # newest first
    assert elapsed < 3, elapsed
    filtered = admin.page(world.repo("many") + "?q=t0002")
    assert filtered.count('name="digest"') == 1 and "t0002" in filtered
    by_size = admin.page(world.repo("many") + "?sort=size&page=2")
    assert "26–50 of" in text(by_size)
    assert "No artifacts found" in text(admin.page(world.repo("many") + "?q=zzz"))


def test_unknown_repository_is_a_404_page(admin: PortalClient, world: World) -> None:
    response = admin.get(world.repo("nope"))
    assert response.status_code == 404 and "not found" in response.text


# Artifact detail -------------------------------------------------------------------------------

def test_artifact_detail_shows_history_layers_config_referrers(admin: PortalClient, zh: PortalClient,
                                                               world: World) -> None:
    page = well_formed(admin.page(world.art("app", "v1")))
    heads = headings(page)
    for heading in ("Overview", "Tags", "Labels", "Layers", "Build history", "Run configuration", "Referrers",
                    "Manifest"):
        assert heading in heads, heads
    body = text(page)
    assert HISTORY_CMD in body and "(no layer)" in body
    assert "MODE=test" in body and "/app --serve" in body and "Moorage tests" in body
    assert world.signature[:19] in page and "application/vnd.dev.cosign.artifact.sig.v1+json" in body
    assert "docker pull 127.0.0.1" in page and f"{world.project}/app@{world.image}" in page
    assert "podman pull 127.0.0.1" in page
    assert "&#34;schemaVersion&#34;" in page or "&quot;schemaVersion&quot;" in page
    by_digest = admin.page(world.art("app", world.image))
    assert HISTORY_CMD in text(by_digest)
    zh_heads = headings(zh.page(world.art("app", "v1")))
    assert "构建历史" in zh_heads and "概览" in zh_heads


def test_index_detail_lists_its_images(admin: PortalClient, world: World) -> None:
    page = admin.page(world.art("multi/arch", "2.0"))
    assert "Images in this index" in headings(page)
    for child in world.children:
        assert f'href="{world.art("multi/arch", child)}"' in page.replace("%3A", ":")
    assert "linux/arm64" in text(page)
    child = admin.page(world.art("multi/arch", world.children[0]))
    assert "Build history" in headings(child)


def test_missing_artifact_is_a_404_page(admin: PortalClient, world: World) -> None:
    assert admin.get(world.art("app", "no-such-tag")).status_code == 404


# Tags ------------------------------------------------------------------------------------------

def _tags(api: httpx.Client, world: World, repo: str, reference: str) -> set[str]:
    encoded = repo.replace("/", "%252F")
    found = api.get(f"/projects/{world.project}/repositories/{encoded}/artifacts/{reference}/tags")
    return {t["name"] for t in found.json()}


def test_add_and_delete_tags(admin: PortalClient, api: httpx.Client, world: World) -> None:
    url = world.art("app", world.image)
    assert "Tag stable added." in follow_flash(admin, admin.post(url + "/tags", {"tag": "stable"}))
    assert "stable" in _tags(api, world, "app", world.image)
    taken = admin.post(url + "/tags", {"tag": "v1"})
    assert taken.status_code == 409 and "already exists" in taken.text and 'value="v1"' in taken.text
    bad = admin.post(url + "/tags", {"tag": "bad tag!"})
    assert bad.status_code == 400 and "invalid tag" in bad.text
    assert "Tag stable deleted." in follow_flash(admin, admin.post(url + "/tags/stable/delete"))
    assert "stable" not in _tags(api, world, "app", world.image)


# Labels ----------------------------------------------------------------------------------------

def test_project_labels_create_edit_delete(admin: PortalClient, zh: PortalClient, api: httpx.Client,
                                           world: World) -> None:
    base = f"/projects/{world.project}/labels"
    page = well_formed(admin.page(base))
    assert "Project labels" in headings(page) and "No project labels yet" in text(page)
    assert "项目标签" in headings(zh.page(base))
    name = "team-<b>a</b>"
    created = admin.post(base, {"name": name, "color": "#ff0000", "description": "Team A"})
    assert "created" in follow_flash(admin, created)
    page = well_formed(admin.page(base))
    assert "team-&lt;b&gt;a&lt;/b&gt;" in page and "<b>a</b>" not in page
    duplicate = admin.post(base, {"name": name, "color": "#00ff00"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.text
    labels = api.get("/labels", params={"scope": "p", "project_id": _project_id(api, world)}).json()
    label_id = next(label["id"] for label in labels if label["name"] == name)
    assert "saved" in follow_flash(admin, admin.post(f"{base}/{label_id}", {"name": "team-a", "color": "#00ff00",
                                                                          "description": "renamed"}))
    assert api.get(f"/labels/{label_id}").json()["name"] == "team-a"
    assert "deleted" in follow_flash(admin, admin.post(f"{base}/{label_id}/delete"))
    assert api.get(f"/labels/{label_id}").status_code == 404


def _project_id(api: httpx.Client, world: World) -> int:
    return int(api.get(f"/projects/{world.project}", headers={"X-Is-Resource-Name": "true"}).json()["project_id"])


def test_attach_and_detach_labels(admin: PortalClient, api: httpx.Client, world: World) -> None:
    created = api.post("/labels", json={"name": "release", "scope": "p", "project_id": _project_id(api, world),
                                        "color": "#123456"})
    label_id = int(created.headers["location"].rsplit("/", 1)[1])
    url = world.art("app", "v1")
    page = admin.page(url)
    assert f'<option value="{label_id}">release</option>' in page
    assert "Label added." in follow_flash(admin, admin.post(url + "/labels", {"label_id": str(label_id)}))
    art = api.get(f"/projects/{world.project}/repositories/app/artifacts/v1", params={"with_label": "true"}).json()
    assert [label["name"] for label in art["labels"]] == ["release"]
    assert "release" in text(admin.page(world.repo("app")))
    assert admin.page(world.repo("app") + f"?label={label_id}").count('name="digest"') == 1
    assert "No artifacts found" in text(admin.page(world.repo("many") + f"?label={label_id}"))
    assert "Label removed." in follow_flash(admin, admin.post(f"{url}/labels/{label_id}/delete"))
    art = api.get(f"/projects/{world.project}/repositories/app/artifacts/v1", params={"with_label": "true"}).json()
    assert art["labels"] == []


# Configuration ---------------------------------------------------------------------------------

def test_configuration_saves_project_metadata(admin: PortalClient, zh: PortalClient, api: httpx.Client,
                                              world: World) -> None:
    base = f"/projects/{world.project}/configuration"
    page = well_formed(admin.page(base))
    assert "Project configuration" in headings(page) and 'name="prevent_vul"' in page
    assert "项目配置" in headings(zh.page(base))
    saved = admin.post(base, {"public": "on", "auto_scan": "on", "prevent_vul": "on", "severity": "high"})
    assert "Configuration saved." in follow_flash(admin, saved)
    meta = api.get(f"/projects/{world.project}").json()["metadata"]
    assert meta["public"] == "true" and meta["auto_scan"] == "true" and meta["prevent_vul"] == "true"
    assert meta["severity"] == "high" and meta["enable_content_trust"] == "false"
    page = admin.page(base)
    assert re.search(r'name="public" type="checkbox" value="on" checked', page)
    bad = admin.post(base, {"severity": "extreme"})
    assert bad.status_code == 400
    admin.post(base, {"severity": "low"})
    assert api.get(f"/projects/{world.project}").json()["metadata"]["public"] == "false"


# Permissions and public access -----------------------------------------------------------------

def test_developers_read_but_cannot_change(portal: Server, api: httpx.Client, world: World) -> None:
    name, password = make_user(api)
    assert api.post(f"/projects/{world.project}/members",
                    json={"role_id": 2, "member_user": {"username": name}}).status_code == 201
    dev = PortalClient(portal).sign_in(name, password)
    try:
        config = dev.page(f"/projects/{world.project}/configuration")
        assert "Only project administrators can change these settings." in text(config)
        assert "<fieldset disabled>" in config
        assert dev.post(f"/projects/{world.project}/configuration", {"public": "on"}).status_code == 403
        detail = dev.page(world.art("app", "v1"))
        assert "Delete artifact" not in detail and 'action="' + world.art("app", world.image) + '/tags"' in detail
        assert dev.post(world.art("app", "v1") + "/delete").status_code == 403
        assert dev.post(world.repo("app") + "/-/delete").status_code == 403
        assert "New label" not in dev.page(f"/projects/{world.project}/labels")
    finally:
        dev.close()


def test_public_projects_are_readable_anonymously(anonymous: PortalClient, api: httpx.Client,
                                                  world: World) -> None:
    assert anonymous.get(world.repo("app")).status_code == 303  # private: sign in first
    api.put(f"/projects/{world.project}", json={"metadata": {"public": "true"}})
    try:
        page = anonymous.page(world.repo("app"))
        assert "v1" in text(page) and "Delete selected" not in page
        assert anonymous.page(world.art("app", "v1"))
    finally:
        api.put(f"/projects/{world.project}", json={"metadata": {"public": "false"}})


def test_posts_need_the_csrf_token(admin: PortalClient, world: World) -> None:
    response = admin.post(world.art("app", "v1") + "/tags", {"tag": "nocsrf"}, csrf=False)
    assert response.status_code == 403


# Deleting --------------------------------------------------------------------------------------

def test_delete_artifacts_and_repositories(admin: PortalClient, api: httpx.Client, world: World) -> None:
    encoded = "multi%252Farch"
    # An index child cannot go while the index references it: said in plain words.
    child = admin.post(world.art("multi/arch", world.children[0]) + "/delete")
    assert "referenced" in follow_flash(admin, child)
    # Deleting several from the list.
    many = api.get(f"/projects/{world.project}/repositories/many/artifacts", params={"page_size": 3}).json()
    chosen = [("digest", a["digest"]) for a in many]
    flash = follow_flash(admin, admin.post(world.repo("many") + "/-/delete-artifacts", chosen))
    assert "3 artifacts deleted." in flash
    assert api.get(f"/projects/{world.project}/repositories/many").json()["artifact_count"] == MANY - 3
    # One artifact from its page (the index takes its children along).
    flash = follow_flash(admin, admin.post(world.art("multi/arch", "2.0") + "/delete"))
    assert "deleted" in flash
    assert api.get(f"/projects/{world.project}/repositories/{encoded}/artifacts").json() == []
    # A whole repository.
    flash = follow_flash(admin, admin.post(world.repo("multi/arch") + "/-/delete"))
    assert f"Repository {world.project}/multi/arch deleted." in flash
    assert api.get(f"/projects/{world.project}/repositories/{encoded}").status_code == 404


def test_repository_description(admin: PortalClient, api: httpx.Client, world: World) -> None:
    flash = follow_flash(admin, admin.post(world.repo("app") + "/-/description", {"description": "The app"}))
    assert "Description saved." in flash
    assert api.get(f"/projects/{world.project}/repositories/app").json()["description"] == "The app"
    assert "The app" in admin.page(f"/projects/{world.project}/repositories")


def test_copy_an_artifact_into_another_project(admin: PortalClient, api: httpx.Client, world: World) -> None:
    target = f"copy-{secrets.token_hex(3)}"
    assert api.post("/projects", json={"project_name": target}).status_code == 201
    url = world.art("app", "v1")
    copied = admin.post(url + "/copy", {"project": target, "repository": "mirror/app"})
    assert copied.status_code == 303
    assert copied.headers["location"] == f"/projects/{target}/repositories/mirror/app/-/artifacts/{world.image}"
    assert f"Copied to {target}/mirror/app." in follow_flash(admin, copied)
    tags = api.get(f"/projects/{target}/repositories/mirror%252Fapp/artifacts/{world.image}/tags").json()
    assert {t["name"] for t in tags} == {"v1", "latest"}
    missing = admin.post(url + "/copy", {"project": "no-such-project-x", "repository": "r"})
    assert missing.status_code == 404 and "not found" in missing.text and 'value="no-such-project-x"' in missing.text
