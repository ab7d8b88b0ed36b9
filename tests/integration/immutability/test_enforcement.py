"""A tag an enabled rule protects cannot be overwritten, moved or deleted, through /v2 or the
API; the refusal (412 PRECONDITION, as Harbor) names the rule.  Real pushes over HTTP."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.common.oci import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    error_codes,
    image_manifest,
    push_image,
    put_manifest,
    sha256,
)
from tests.common.servers import ADMIN, Server
from tests.conformance.clients import (
    REF_NAME,
    ClientEnv,
    CommandError,
    read_blob,
    require_binaries,
    skopeo_copy,
    write_blob,
)

Rule = Callable[..., int]


def manifest_digest(client: httpx.Client, repo: str, tag: str) -> str:
    r = client.head(f"/v2/{repo}/manifests/{tag}",
                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200, r.text
    return r.headers["docker-content-digest"]


def artifact_path(project: str, repo: str, reference: str) -> str:
    return f"/projects/{project}/repositories/{repo}/artifacts/{reference}"


@pytest.fixture
def pushed(client: httpx.Client, project: dict[str, Any], add_rule: Rule) -> tuple[str, str, int, str]:
    """(project, full repository, rule id, digest of v1): ``app`` holds v1 under a ``v*`` rule."""
    name = project["name"]
    repo = f"{name}/app"
    digest = push_image(client, repo, "v1")
    return name, repo, add_rule(name, "v*"), digest


def test_overwriting_an_immutable_tag_is_refused_and_names_the_rule(
        client: httpx.Client, pushed: tuple[str, str, int, str]) -> None:
    _, repo, rule_id, digest = pushed
    r = put_manifest(client, repo, "v1", image_manifest(client, repo))
    assert r.status_code == 412, r.text
    assert error_codes(r) == ["PRECONDITION"]
    message = r.json()["errors"][0]["message"]
    assert f"'{repo}:v1' configured as immutable" in message
    assert f"immutable tag rule {rule_id}" in message and "matching v*" in message and "matching **" in message
    assert manifest_digest(client, repo, "v1") == digest


def test_pushing_the_same_digest_again_and_new_tags_is_fine(client: httpx.Client,
                                                            pushed: tuple[str, str, int, str]) -> None:
    _, repo, _, digest = pushed
    body = client.get(f"/v2/{repo}/manifests/v1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert put_manifest(client, repo, "v1", body.content).status_code == 201  # same digest again
    assert put_manifest(client, repo, "v2", body.content).status_code == 201  # a new protected tag
    assert manifest_digest(client, repo, "v2") == digest
    other = image_manifest(client, repo)
    assert put_manifest(client, repo, "latest", other).status_code == 201  # not protected: mutable
    assert put_manifest(client, repo, "latest", image_manifest(client, repo)).status_code == 201
    assert put_manifest(client, repo, "v2", other).status_code == 412  # now it exists: immutable


def test_deleting_an_immutable_tag_is_refused_everywhere(client: httpx.Client, api: httpx.Client,
                                                         pushed: tuple[str, str, int, str]) -> None:
    name, repo, rule_id, digest = pushed
    attempts = [
        client.delete(f"/v2/{repo}/manifests/v1"),
        client.delete(f"/v2/{repo}/manifests/{digest}"),
        api.delete(artifact_path(name, "app", "v1") + "/tags/v1"),
        api.delete(artifact_path(name, "app", digest)),
        api.delete(f"/projects/{name}/repositories/app"),
    ]
    for r in attempts:
        assert r.status_code == 412, (r.request.url, r.text)
        assert r.json()["errors"][0]["code"] == "PRECONDITION"
        assert f"immutable tag rule {rule_id}" in r.json()["errors"][0]["message"]
    assert manifest_digest(client, repo, "v1") == digest


def test_other_tags_of_the_same_artifact_stay_deletable(client: httpx.Client, api: httpx.Client,
                                                        pushed: tuple[str, str, int, str]) -> None:
    name, repo, _, digest = pushed
    assert api.post(artifact_path(name, "app", digest) + "/tags", json={"name": "dev"}).status_code == 201
    assert client.delete(f"/v2/{repo}/manifests/dev").status_code == 202
    assert api.delete(artifact_path(name, "app", digest)).status_code == 412  # it still has v1


def test_disabled_or_deleted_rules_protect_nothing(client: httpx.Client, api: httpx.Client,
                                                   pushed: tuple[str, str, int, str]) -> None:
    name, repo, rule_id, _ = pushed
    rule = f"/projects/{name}/immutabletagrules/{rule_id}"
    assert api.put(rule, json={"disabled": True}).status_code == 200
    new = image_manifest(client, repo)
    assert put_manifest(client, repo, "v1", new).status_code == 201
    assert manifest_digest(client, repo, "v1") == sha256(new)
    assert api.put(rule, json={"disabled": False}).status_code == 200
    assert client.delete(f"/v2/{repo}/manifests/v1").status_code == 412
    assert api.delete(rule).status_code == 200
    assert client.delete(f"/v2/{repo}/manifests/v1").status_code == 202


def test_rules_follow_their_repository_and_tag_selectors(client: httpx.Client, project: dict[str, Any],
                                                         add_rule: Rule) -> None:
    name = project["name"]
    add_rule(name, "prod-*", "web/**")
    add_rule(name, "tmp-*", "api", tag_decoration="excludes")
    for repo, tag, protected in [(f"{name}/web/front", "prod-1", True), (f"{name}/tools", "prod-1", False),
                                 (f"{name}/web/front", "dev-1", False), (f"{name}/api", "tmp-1", False),
                                 (f"{name}/api", "stable", True)]:
        push_image(client, repo, tag)
        r = put_manifest(client, repo, tag, image_manifest(client, repo))
        assert r.status_code == (412 if protected else 201), (repo, tag, r.text)


def test_moving_a_tag_by_copy_is_refused(client: httpx.Client, api: httpx.Client,
                                         pushed: tuple[str, str, int, str]) -> None:
    name, repo, _, _ = pushed
    push_image(client, f"{name}/other", "v1")  # a different v1 elsewhere
    r = api.post(f"/projects/{name}/repositories/app/artifacts", params={"from": f"{name}/other:v1"})
    assert r.status_code == 412, r.text


def test_artifact_lists_show_immutable_status(client: httpx.Client, api: httpx.Client,
                                              pushed: tuple[str, str, int, str]) -> None:
    name, repo, _, digest = pushed
    assert api.post(artifact_path(name, "app", digest) + "/tags", json={"name": "latest"}).status_code == 201
    listed = api.get(f"/projects/{name}/repositories/app/artifacts", params={"with_immutable_status": "true"})
    assert listed.status_code == 200, listed.text
    tags = {t["name"]: t["immutable"] for t in listed.json()[0]["tags"]}
    assert tags == {"v1": True, "latest": False}
    one = api.get(artifact_path(name, "app", "v1"), params={"with_immutable_status": "true"}).json()
    assert {t["name"]: t["immutable"] for t in one["tags"]} == {"v1": True, "latest": False}
    plain = api.get(f"/projects/{name}/repositories/app/artifacts").json()
    assert {t["immutable"] for t in plain[0]["tags"]} == {False}


def _layout(path: Path, tag: str) -> None:
    """A one-layer OCI image layout written by hand (no daemon, no umoci)."""
    path.mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    layer = write_blob(path, gzip.compress(os.urandom(64)))
    config = write_blob(path, json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [sha256(gzip.decompress(read_blob(path, layer)))]}}).encode())
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": config,
                                      "size": len(read_blob(path, config))},
                           "layers": [{"mediaType": OCI_LAYER, "digest": layer,
                                       "size": len(read_blob(path, layer))}]}).encode()
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": write_blob(path, manifest), "size": len(manifest),
         "annotations": {REF_NAME: tag}}]}))


@pytest.mark.clients
def test_skopeo_cannot_overwrite_an_immutable_tag(moorage: Server, client: httpx.Client, project: dict[str, Any],
                                                  add_rule: Rule, tmp_path: Path) -> None:
    require_binaries("skopeo")
    cenv = ClientEnv.create(tmp_path / "client", Path(tempfile.mkdtemp(prefix="mr-", dir="/tmp")))
    cenv.set_credentials(moorage.host, *ADMIN)
    first, second = tmp_path / "first", tmp_path / "second"
    _layout(first, "v1")
    _layout(second, "v1")
    target = f"docker://{moorage.host}/{project['name']}/cli:v1"
    skopeo_copy(cenv, f"oci:{first}:v1", target)
    pushed = manifest_digest(client, f"{project['name']}/cli", "v1")
    rule_id = add_rule(project["name"], "v*")
    with pytest.raises(CommandError) as refused:
        skopeo_copy(cenv, f"oci:{second}:v1", target)
    assert "configured as immutable" in refused.value.stderr and f"rule {rule_id}" in refused.value.stderr
    assert manifest_digest(client, f"{project['name']}/cli", "v1") == pushed
    skopeo_copy(cenv, f"oci:{first}:v1", target)  # the same image again is fine
