"""Artifacts and tags over /api/v2.0: lists with paging and filters, details by tag and
digest (index references, accessories), tag changes, deletion, copies across projects,
permissions and the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.common.oci import (
    EMPTY_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    sha256,
)

Factory = Callable[..., dict[str, Any]]
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX])


def _push_index(client: httpx.Client, repo: str, tag: str) -> tuple[str, dict[str, str]]:
    """Push an amd64 + arm64 index under ``tag``; (index digest, arch -> child digest)."""
    children, manifests = {}, []
    for arch in ("amd64", "arm64"):
        body = image_manifest(client, repo, arch=arch)
        assert put_manifest(client, repo, sha256(body), body).status_code == 201
        children[arch] = sha256(body)
        manifests.append(descriptor(OCI_MANIFEST, body, platform={"os": "linux", "architecture": arch}))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
    assert put_manifest(client, repo, tag, index, OCI_INDEX).status_code == 201
    return sha256(index), children


def _push_referrer(client: httpx.Client, repo: str, subject: str, artifact_type: str) -> str:
    layer = json.dumps({"signed": subject}).encode()
    push_blob(client, repo, layer)
    subject_body = client.get(f"/v2/{repo}/manifests/{subject}", headers={"Accept": ACCEPT})
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [descriptor("application/json", layer)],
        "subject": {"mediaType": subject_body.headers["content-type"], "digest": subject,
                    "size": len(subject_body.content)},
    }).encode()
    assert put_manifest(client, repo, sha256(body), body).status_code == 201
    return sha256(body)


def _add_member(api: httpx.Client, project: dict[str, Any], username: str, role_id: int = 3) -> None:
    r = api.post(f"/projects/{project['project_id']}/members",
                 json={"role_id": role_id, "member_user": {"username": username}})
    assert r.status_code == 201, r.text


def _artifacts(project: str, repo: str) -> str:
    return f"/projects/{project}/repositories/{repo}/artifacts"


def test_list_artifacts_pages_latest_push_first(client: httpx.Client, api: httpx.Client,
                                                new_project: Factory) -> None:
    name = new_project()["name"]
    digests = [push_image(client, f"{name}/app", f"v{i}") for i in range(3)]
    r = api.get(_artifacts(name, "app"), params={"page": 1, "page_size": 2})
    assert r.status_code == 200
    assert r.headers["x-total-count"] == "3" and 'rel="next"' in r.headers["link"]
    body = r.json()
    assert [a["digest"] for a in body] == [digests[2], digests[1]]
    art = body[0]
    assert art["type"] == "IMAGE" and art["manifest_media_type"] == OCI_MANIFEST
    assert art["media_type"] == "application/vnd.oci.image.config.v1+json"
    assert art["repository_name"] == f"{name}/app" and art["size"] > 256
    assert art["extra_attrs"]["architecture"] == "amd64" and art["extra_attrs"]["os"] == "linux"
    assert [t["name"] for t in art["tags"]] == ["v2"] and art["tags"][0]["immutable"] is False
    assert art["labels"] == [] and art["icon"].startswith("sha256:")
    last = api.get(_artifacts(name, "app"), params={"page": 2, "page_size": 2})
    assert [a["digest"] for a in last.json()] == [digests[0]]
    untagged = api.get(_artifacts(name, "app"), params={"with_tag": "false"}).json()
    assert all("tags" not in a for a in untagged)


def test_list_filters_by_tag_and_hides_index_children_and_accessories(
        client: httpx.Client, api: httpx.Client, new_project: Factory) -> None:
    name = new_project()["name"]
    repo = f"{name}/multi"
    image = push_image(client, repo, "release-1")
    index, _ = _push_index(client, repo, "latest")
    _push_referrer(client, repo, image, "application/vnd.example.sbom")
    listed = api.get(_artifacts(name, "multi"))
    assert listed.headers["x-total-count"] == "2"
    assert {a["digest"] for a in listed.json()} == {image, index}
    assert api.get(f"/projects/{name}/repositories/multi").json()["artifact_count"] == 2
    exact = api.get(_artifacts(name, "multi"), params={"q": "tags=latest"}).json()
    assert [a["digest"] for a in exact] == [index]
    fuzzy = api.get(_artifacts(name, "multi"), params={"q": "tags=~release"}).json()
    assert [a["digest"] for a in fuzzy] == [image]
    by_digest = api.get(_artifacts(name, "multi"), params={"q": f"digest={image}"}).json()
    assert [a["digest"] for a in by_digest] == [image]
    assert api.get(_artifacts(name, "multi"), params={"q": "type=IMAGE"}).headers["x-total-count"] == "2"
    assert api.get(_artifacts(name, "multi"), params={"q": "type=CHART"}).json() == []


def test_get_by_tag_and_by_digest(client: httpx.Client, api: httpx.Client, new_project: Factory) -> None:
    name = new_project()["name"]
    digest = push_image(client, f"{name}/app", "v1", arch="arm64")
    assert api.post(f"{_artifacts(name, 'app')}/v1/tags", json={"name": "stable"}).status_code == 201
    by_tag = api.get(f"{_artifacts(name, 'app')}/v1")
    assert by_tag.status_code == 200
    art = by_tag.json()
    assert art["digest"] == digest and sorted(t["name"] for t in art["tags"]) == ["stable", "v1"]
    assert art["extra_attrs"]["architecture"] == "arm64" and art["extra_attrs"]["os"] == "linux"
    assert art["references"] == []
    by_digest = api.get(f"{_artifacts(name, 'app')}/{digest}")
    assert by_digest.status_code == 200 and by_digest.json()["id"] == art["id"]
    missing = api.get(f"{_artifacts(name, 'app')}/nope")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NOT_FOUND"
    assert api.get(f"{_artifacts(name, 'app')}/sha256:{'0' * 64}").status_code == 404


def test_index_detail_lists_references_with_platforms(client: httpx.Client, api: httpx.Client,
                                                      new_project: Factory) -> None:
    name = new_project()["name"]
    index, children = _push_index(client, f"{name}/a/b", "multi")
    r = api.get(f"{_artifacts(name, 'a%252Fb')}/multi")
    assert r.status_code == 200, r.text
    art = r.json()
    assert art["digest"] == index and art["type"] == "IMAGE" and art["media_type"] == OCI_INDEX
    refs = {ref["child_digest"]: ref for ref in art["references"]}
    assert set(refs) == set(children.values())
    amd64 = refs[children["amd64"]]
    assert amd64["parent_id"] == art["id"] and amd64["platform"] == {"os": "linux", "architecture": "amd64"}
    child = api.get(f"{_artifacts(name, 'a%252Fb')}/{children['amd64']}").json()
    assert amd64["child_id"] == child["id"]
    assert art["size"] > child["size"]


def test_accessories_are_listed_with_their_subject(client: httpx.Client, api: httpx.Client,
                                                   new_project: Factory) -> None:
    name = new_project()["name"]
    image = push_image(client, f"{name}/app", "v1")
    signature = _push_referrer(client, f"{name}/app", image, "application/vnd.dev.cosign.artifact.sig.v1+json")
    other = _push_referrer(client, f"{name}/app", image, "application/vnd.example.thing")
    art = api.get(f"{_artifacts(name, 'app')}/v1", params={"with_accessory": "true"}).json()
    accessories = {a["digest"]: a for a in art["accessories"]}
    assert set(accessories) == {signature, other}
    assert accessories[signature]["type"] == "signature.cosign"
    assert accessories[other]["type"] == "subject.accessory"
    assert accessories[other]["subject_artifact_digest"] == image
    assert accessories[other]["subject_artifact_id"] == art["id"]
    assert "accessories" not in api.get(f"{_artifacts(name, 'app')}/v1").json()


def test_tags_add_list_and_delete(client: httpx.Client, api: httpx.Client, new_project: Factory) -> None:
    name = new_project()["name"]
    digest = push_image(client, f"{name}/app", "v1")
    r = api.post(f"{_artifacts(name, 'app')}/{digest}/tags", json={"name": "v1.0"})
    assert r.status_code == 201 and r.content == b""
    assert r.headers["location"] == f"/api/v2.0{_artifacts(name, 'app')}/{digest}/tags/v1.0"
    pulled = client.get(f"/v2/{name}/app/manifests/v1.0", headers={"Accept": ACCEPT})
    assert pulled.status_code == 200 and pulled.headers["docker-content-digest"] == digest
    tags = api.get(f"{_artifacts(name, 'app')}/v1/tags", params={"page_size": 1})
    assert tags.status_code == 200 and tags.headers["x-total-count"] == "2" and len(tags.json()) == 1
    assert {"id", "repository_id", "artifact_id", "name", "push_time", "immutable"} <= set(tags.json()[0])
    assert api.delete(f"{_artifacts(name, 'app')}/{digest}/tags/v1").status_code == 200
    assert client.get(f"/v2/{name}/app/manifests/v1").status_code == 404
    gone = api.delete(f"{_artifacts(name, 'app')}/{digest}/tags/v1")
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "NOT_FOUND"
    logs = api.get("/auditlog-exts", params={"q": f"resource=~{name}/app:v1,resource_type=tag"}).json()
    assert sorted(e["operation"] for e in logs) == ["create", "delete"]


def test_duplicate_or_invalid_tag_is_refused(client: httpx.Client, api: httpx.Client,
                                             new_project: Factory) -> None:
    name = new_project()["name"]
    first = push_image(client, f"{name}/app", "v1")
    push_image(client, f"{name}/app", "v2")
    same = api.post(f"{_artifacts(name, 'app')}/{first}/tags", json={"name": "v1"})
    assert same.status_code == 409 and same.json()["errors"][0]["code"] == "CONFLICT"
    elsewhere = api.post(f"{_artifacts(name, 'app')}/{first}/tags", json={"name": "v2"})
    assert elsewhere.status_code == 409
    bad = api.post(f"{_artifacts(name, 'app')}/{first}/tags", json={"name": "-bad:tag"})
    assert bad.status_code == 400
    unknown = api.post(f"{_artifacts(name, 'app')}/nope/tags", json={"name": "x"})
    assert unknown.status_code == 404


def test_delete_artifact_removes_it_and_its_tags(client: httpx.Client, api: httpx.Client,
                                                 new_project: Factory) -> None:
    project = new_project()
    name = project["name"]
    digest = push_image(client, f"{name}/app", "v1")
    api.post(f"{_artifacts(name, 'app')}/v1/tags", json={"name": "v1.1"})
    assert api.delete(f"{_artifacts(name, 'app')}/v1").status_code == 200
    assert client.get(f"/v2/{name}/app/manifests/{digest}").status_code == 404
    assert client.get(f"/v2/{name}/app/manifests/v1.1").status_code == 404
    again = api.delete(f"{_artifacts(name, 'app')}/{digest}")
    assert again.status_code == 404 and again.json()["errors"][0]["code"] == "NOT_FOUND"
    logs = api.get("/auditlog-exts", params={"q": f"resource={name}/app@{digest}"}).json()
    assert [(e["operation"], e["resource_type"]) for e in logs] == [("delete", "artifact")]


def test_delete_index_child_is_refused_and_index_takes_children(client: httpx.Client, api: httpx.Client,
                                                                 new_project: Factory) -> None:
    name = new_project()["name"]
    repo = f"{name}/multi"
    index, children = _push_index(client, repo, "latest")
    assert api.post(f"{_artifacts(name, 'multi')}/{children['arm64']}/tags", json={"name": "arm"}).status_code == 201
    refused = api.delete(f"{_artifacts(name, 'multi')}/{children['amd64']}")
    assert refused.status_code == 412 and refused.json()["errors"][0]["code"] == "PRECONDITION"
    assert api.delete(f"{_artifacts(name, 'multi')}/latest").status_code == 200
    assert client.get(f"/v2/{repo}/manifests/{index}").status_code == 404
    assert client.get(f"/v2/{repo}/manifests/{children['amd64']}").status_code == 404  # untagged child went too
    kept = client.get(f"/v2/{repo}/manifests/arm", headers={"Accept": ACCEPT})  # the tagged one stays
    assert kept.status_code == 200 and kept.headers["docker-content-digest"] == children["arm64"]


def test_copy_by_tag_across_projects(client: httpx.Client, api: httpx.Client, new_project: Factory) -> None:
    src, dst = new_project()["name"], new_project()
    digest = push_image(client, f"{src}/app", "v1")
    r = api.post(_artifacts(dst["name"], "copied%252Fapp"), params={"from": f"{src}/app:v1"})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/api/v2.0{_artifacts(dst['name'], 'copied%252Fapp')}/v1"
    pulled = client.get(f"/v2/{dst['name']}/copied/app/manifests/v1", headers={"Accept": ACCEPT})
    assert pulled.status_code == 200 and pulled.headers["docker-content-digest"] == digest
    manifest = pulled.json()
    for blob in [manifest["config"], *manifest["layers"]]:
        got = client.get(f"/v2/{dst['name']}/copied/app/blobs/{blob['digest']}")
        assert got.status_code == 200 and sha256(got.content) == blob["digest"]
    art = api.get(f"{_artifacts(dst['name'], 'copied%252Fapp')}/v1").json()
    assert art["project_id"] == dst["project_id"] and [t["name"] for t in art["tags"]] == ["v1"]
    logs = api.get("/auditlog-exts", params={"q": f"resource={dst['name']}/copied/app@{digest}"}).json()
    assert [(e["operation"], e["resource_type"]) for e in logs] == [("create", "artifact")]


def test_copy_index_by_digest_brings_children(client: httpx.Client, api: httpx.Client,
                                              new_project: Factory) -> None:
    src, dst = new_project()["name"], new_project()["name"]
    index, children = _push_index(client, f"{src}/multi", "latest")
    r = api.post(_artifacts(dst, "multi"), params={"from": f"{src}/multi@{index}"})
    assert r.status_code == 201, r.text
    got = client.get(f"/v2/{dst}/multi/manifests/{index}", headers={"Accept": ACCEPT})
    assert got.status_code == 200
    for child in children.values():
        pulled = client.get(f"/v2/{dst}/multi/manifests/{child}", headers={"Accept": ACCEPT})
        assert pulled.status_code == 200
        layer = pulled.json()["layers"][0]["digest"]
        assert client.get(f"/v2/{dst}/multi/blobs/{layer}").status_code == 200
    listed = api.get(_artifacts(dst, "multi")).json()
    assert [a["digest"] for a in listed] == [index] and [t["name"] for t in listed[0]["tags"]] == ["latest"]


def test_copy_errors(client: httpx.Client, api: httpx.Client, new_project: Factory) -> None:
    src, dst = new_project()["name"], new_project()["name"]
    push_image(client, f"{src}/app", "v1")
    assert api.post(_artifacts(dst, "app"), params={"from": f"{src}/app:nope"}).status_code == 404
    assert api.post(_artifacts(dst, "app"), params={"from": f"{src}/none:v1"}).status_code == 404
    assert api.post(_artifacts(dst, "app"), params={"from": "no-such-project-x/app:v1"}).status_code == 404
    assert api.post(_artifacts(dst, "app"), params={"from": "not a reference"}).status_code == 400
    assert api.post(_artifacts(dst, "app")).status_code == 400
    invalid = api.post(_artifacts(dst, "Bad-Name"), params={"from": f"{src}/app:v1"})
    assert invalid.status_code == 400 and invalid.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_guest_can_read_but_not_change(client: httpx.Client, api: httpx.Client,
                                       as_user: Callable[..., httpx.Client], new_project: Factory,
                                       new_user: Factory) -> None:
    project, other = new_project(), new_project()
    name = project["name"]
    digest = push_image(client, f"{name}/app", "v1")
    guest = new_user()
    _add_member(api, project, str(guest["username"]))
    _add_member(api, other, str(guest["username"]), role_id=2)  # developer in a second project
    c = as_user(str(guest["username"]))
    assert c.get(_artifacts(name, "app")).status_code == 200
    assert c.get(f"{_artifacts(name, 'app')}/v1").status_code == 200
    assert c.get(f"{_artifacts(name, 'app')}/v1/tags").status_code == 200
    for r in (c.delete(f"{_artifacts(name, 'app')}/{digest}"),
              c.post(f"{_artifacts(name, 'app')}/v1/tags", json={"name": "v2"}),
              c.delete(f"{_artifacts(name, 'app')}/v1/tags/v1")):
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "FORBIDDEN"
    copied = c.post(_artifacts(other["name"], "app"), params={"from": f"{name}/app:v1"})
    assert copied.status_code == 201  # developer there, guest (pull) at the source
    back = c.post(_artifacts(name, "app2"), params={"from": f"{other['name']}/app:v1"})
    assert back.status_code == 403


def test_anonymous_is_401_on_a_private_project(client: httpx.Client, anonymous: httpx.Client,
                                               new_project: Factory) -> None:
    private, public = new_project(), new_project(public=True)
    push_image(client, f"{private['name']}/app", "v1")
    push_image(client, f"{public['name']}/app", "v1")
    r = anonymous.get(_artifacts(private["name"], "app"))
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert anonymous.get(f"{_artifacts(private['name'], 'app')}/v1").status_code == 401
    assert anonymous.get(_artifacts(public["name"], "app")).status_code == 200
    assert anonymous.delete(f"{_artifacts(public['name'], 'app')}/v1").status_code == 401


def test_detail_carries_the_image_config(client: httpx.Client, api: httpx.Client, new_project: Factory) -> None:
    name = new_project()["name"]
    repo = f"{name}/app"
    config = json.dumps({"architecture": "arm64", "os": "linux", "variant": "v8", "author": "someone",
                         "created": "2024-01-02T03:04:05Z", "config": {"Env": ["A=1"], "Cmd": ["run"]},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"layer bytes"
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": descriptor("application/vnd.oci.image.config.v1+json", config),
                       "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)]}).encode()
    assert put_manifest(client, repo, "v1", body).status_code == 201
    art = api.get(f"{_artifacts(name, 'app')}/v1").json()
    assert art["extra_attrs"] == {"architecture": "arm64", "os": "linux", "variant": "v8", "author": "someone",
                                  "created": "2024-01-02T03:04:05Z", "config": {"Env": ["A=1"], "Cmd": ["run"]}}
    assert art["size"] == len(body) + len(config) + len(layer)
