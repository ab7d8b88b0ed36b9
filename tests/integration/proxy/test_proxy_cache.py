"""Pull-through proxy cache against a real upstream (Debian's docker-registry behind a counting,
switchable gate): misses fetched and stored, blobs streamed while stored, later pulls served
locally, tag re-validation cached, upstream down / 429 / image removed served from cache,
single flight, pushes refused, limits and quota."""

from __future__ import annotations

import json
import os
import threading
import time

import httpx
import pytest

from tests.common.oci import OCI_MANIFEST, error_codes, image_manifest, push_image, put_manifest, sha256
from tests.common.servers import Server
from tests.integration.proxy.conftest import (
    CHECK_SECONDS,
    artifact_path,
    create_endpoint,
    create_proxy_project,
    unique,
    wait_cached,
)
from tests.integration.proxy.gate import Gate

ACCEPT = {"Accept": OCI_MANIFEST}


def manifest_doc(v2: httpx.Client, name: str, reference: str) -> httpx.Response:
    return v2.get(f"/v2/{name}/manifests/{reference}", headers=ACCEPT)


def pull_all(v2: httpx.Client, name: str, reference: str) -> dict[str, bytes]:
    """Pull a manifest and every blob it names; {digest: bytes} (the manifest under "manifest")."""
    r = manifest_doc(v2, name, reference)
    assert r.status_code == 200, r.text
    out = {"manifest": r.content}
    doc = r.json()
    for desc in [doc["config"], *doc["layers"]]:
        b = v2.get(f"/v2/{name}/blobs/{desc['digest']}")
        assert b.status_code == 200, b.text
        assert sha256(b.content) == desc["digest"]
        out[desc["digest"]] = b.content
    return out


# Projects --------------------------------------------------------------------------------------


def test_create_proxy_project_shows_registry_and_options(admin: httpx.Client, gate: Gate) -> None:
    name = create_proxy_project(admin, gate.url, proxy_speed_kb="512", max_upstream_conn="4")
    body = admin.get(f"/projects/{name}", headers={"X-Is-Resource-Name": "true"}).json()
    assert body["registry_id"] > 0
    assert body["metadata"]["proxy_speed_kb"] == "512" and body["metadata"]["max_upstream_conn"] == "4"


def test_create_proxy_project_needs_an_existing_endpoint(admin: httpx.Client) -> None:
    r = admin.post("/projects", json={"project_name": unique(), "registry_id": 2_000_000})
    assert r.status_code == 400 and "registry_id" in r.json()["errors"][0]["message"]


def test_create_proxy_project_is_for_sysadmins(admin: httpx.Client, server: Server, gate: Gate) -> None:
    user = unique("u")
    assert admin.post("/users", json={"username": user, "email": f"{user}@x.test", "realname": user,
                                      "password": "Passw0rd!x"}).status_code == 201
    registry_id = create_endpoint(admin, gate.url)
    with httpx.Client(base_url=f"{server.url}/api/v2.0", auth=(user, "Passw0rd!x")) as c:
        r = c.post("/projects", json={"project_name": unique(), "registry_id": registry_id})
    assert r.status_code == 403, r.text


# Pulling through -------------------------------------------------------------------------------


def test_miss_is_fetched_served_and_cached(admin: httpx.Client, v2: httpx.Client, up: httpx.Client,
                                           open_gate: Gate, server: Server) -> None:
    repo = unique("app")
    digest = push_image(up, repo, "v1", layer=os.urandom(200_000))
    project = create_proxy_project(admin, open_gate.url)
    got = pull_all(v2, f"{project}/{repo}", "v1")
    assert sha256(got["manifest"]) == digest
    artifact = wait_cached(admin, project, repo, "v1")
    assert artifact["digest"] == digest
    layer = json.loads(got["manifest"])["layers"][0]["digest"]
    assert server.stored_blob_paths(layer)  # the streamed blob was stored
    before = open_gate.count("GET", f"/{repo}/blobs/")
    again = pull_all(v2, f"{project}/{repo}", digest)  # by digest: served locally, no upstream traffic
    assert again == {**got, "manifest": again["manifest"]} and sha256(again["manifest"]) == digest
    assert open_gate.count("GET", f"/{repo}/blobs/") == before


def test_cached_image_is_served_with_upstream_down(admin: httpx.Client, v2: httpx.Client, tmp_path_factory:
                                                   pytest.TempPathFactory) -> None:
    from tests.common.servers import start_reference_registry

    with start_reference_registry(tmp_path_factory.mktemp("doomed")) as doomed, \
            httpx.Client(base_url=doomed.url) as up:
        repo = unique("down")
        digest = push_image(up, repo, "v1")
        project = create_proxy_project(admin, doomed.url)
        first = pull_all(v2, f"{project}/{repo}", "v1")
        wait_cached(admin, project, repo, "v1")
        doomed.kill()
        time.sleep(CHECK_SECONDS + 0.5)  # the tag is due for re-validation, which now fails
        second = pull_all(v2, f"{project}/{repo}", "v1")
    assert second == first and sha256(second["manifest"]) == digest


def test_rate_limited_upstream_serves_cached_copy(admin: httpx.Client, v2: httpx.Client, up: httpx.Client,
                                                  open_gate: Gate) -> None:
    repo = unique("rl")
    digest = push_image(up, repo, "v1")
    project = create_proxy_project(admin, open_gate.url)
    pull_all(v2, f"{project}/{repo}", "v1")
    wait_cached(admin, project, repo, "v1")
    time.sleep(CHECK_SECONDS + 0.5)
    open_gate.mode = "429"
    heads = open_gate.count("HEAD", f"/{repo}/manifests/v1")
    r = manifest_doc(v2, f"{project}/{repo}", "v1")
    assert r.status_code == 200 and r.headers["docker-content-digest"] == digest
    assert open_gate.count("HEAD", f"/{repo}/manifests/v1") == heads + 1  # it did ask, and got 429


def test_rate_limited_upstream_without_cache_answers_429(admin: httpx.Client, v2: httpx.Client,
                                                         open_gate: Gate) -> None:
    project = create_proxy_project(admin, open_gate.url)
    open_gate.mode = "429"
    r = manifest_doc(v2, f"{project}/{unique('none')}", "v1")
    assert r.status_code == 429 and error_codes(r) == ["TOOMANYREQUESTS"]


def test_tag_revalidation_is_cached(admin: httpx.Client, v2: httpx.Client, up: httpx.Client,
                                    open_gate: Gate) -> None:
    repo = unique("head")
    push_image(up, repo, "v1")
    project = create_proxy_project(admin, open_gate.url)
    pull_all(v2, f"{project}/{repo}", "v1")
    wait_cached(admin, project, repo, "v1")
    time.sleep(CHECK_SECONDS + 0.5)
    path = f"/{repo}/manifests/v1"
    heads, gets = open_gate.count("HEAD", path), open_gate.count("GET", path)
    for _ in range(10):
        assert manifest_doc(v2, f"{project}/{repo}", "v1").status_code == 200
    assert open_gate.count("HEAD", path) == heads + 1  # one HEAD for ten pulls within the window
    assert open_gate.count("GET", path) == gets  # unchanged upstream: nothing fetched again
    time.sleep(CHECK_SECONDS + 0.5)
    assert manifest_doc(v2, f"{project}/{repo}", "v1").status_code == 200
    assert open_gate.count("HEAD", path) == heads + 2  # the window passed: checked again


def test_tag_moved_upstream_is_followed(admin: httpx.Client, v2: httpx.Client, up: httpx.Client,
                                        open_gate: Gate) -> None:
    repo = unique("move")
    push_image(up, repo, "v1")
    project = create_proxy_project(admin, open_gate.url)
    pull_all(v2, f"{project}/{repo}", "v1")
    wait_cached(admin, project, repo, "v1")
    newer = push_image(up, repo, "v1")
    time.sleep(CHECK_SECONDS + 0.5)
    assert sha256(pull_all(v2, f"{project}/{repo}", "v1")["manifest"]) == newer
    assert wait_cached(admin, project, repo, newer)["digest"] == newer
    deadline = time.monotonic() + 30
    while admin.get(artifact_path(project, repo, "v1")).json()["digest"] != newer:
        assert time.monotonic() < deadline, "the cached tag did not move"
        time.sleep(0.2)


def test_image_removed_upstream_is_still_served(admin: httpx.Client, v2: httpx.Client, up: httpx.Client,
                                                open_gate: Gate) -> None:
    repo = unique("gone")
    digest = push_image(up, repo, "v1")
    project = create_proxy_project(admin, open_gate.url)
    pull_all(v2, f"{project}/{repo}", "v1")
    wait_cached(admin, project, repo, "v1")
    assert up.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    time.sleep(CHECK_SECONDS + 0.5)
    r = manifest_doc(v2, f"{project}/{repo}", "v1")
    assert r.status_code == 200 and r.headers["docker-content-digest"] == digest


def test_unknown_upstream_image_is_manifest_unknown(admin: httpx.Client, v2: httpx.Client, open_gate: Gate) -> None:
    project = create_proxy_project(admin, open_gate.url)
    r = manifest_doc(v2, f"{project}/{unique('nope')}", "v1")
    assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"]


def test_tags_list_comes_from_upstream(admin: httpx.Client, v2: httpx.Client, up: httpx.Client,
                                       open_gate: Gate) -> None:
    repo = unique("tags")
    for tag in ("b", "a", "c"):
        push_image(up, repo, tag)
    project = create_proxy_project(admin, open_gate.url)
    r = v2.get(f"/v2/{project}/{repo}/tags/list", params={"n": 2})
    assert r.status_code == 200 and r.json() == {"name": f"{project}/{repo}", "tags": ["a", "b"]}
    assert "last=b" in r.headers["link"]


def test_tags_list_falls_back_to_cached_tags(admin: httpx.Client, v2: httpx.Client, up: httpx.Client,
                                             open_gate: Gate) -> None:
    repo = unique("tagc")
    push_image(up, repo, "v1")
    push_image(up, repo, "v2")
    project = create_proxy_project(admin, open_gate.url)
    pull_all(v2, f"{project}/{repo}", "v1")
    wait_cached(admin, project, repo, "v1")
    open_gate.mode = "503"
    r = v2.get(f"/v2/{project}/{repo}/tags/list")
    assert r.status_code == 200 and r.json()["tags"] == ["v1"]


def test_concurrent_pulls_of_one_blob_fetch_it_once(admin: httpx.Client, server: Server, up: httpx.Client,
                                                    open_gate: Gate) -> None:
    repo = unique("flight")
    big = os.urandom(12 * 1024 * 1024)
    push_image(up, repo, "v1", layer=big)
    digest = sha256(big)
    project = create_proxy_project(admin, open_gate.url, proxy_speed_kb="8192")  # ~1.5 s: requests overlap
    results: list[tuple[int, str]] = []

    def pull() -> None:
        with httpx.Client(base_url=server.url, timeout=120, follow_redirects=True) as c:
            r = c.get(f"/v2/{project}/{repo}/blobs/{digest}")
            results.append((r.status_code, sha256(r.content)))

    threads = [threading.Thread(target=pull) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [(200, digest)] * 8
    assert open_gate.count("GET", f"/{repo}/blobs/{digest}") == 1


def test_bandwidth_is_limited(admin: httpx.Client, v2: httpx.Client, up: httpx.Client, open_gate: Gate) -> None:
    repo = unique("slow")
    data = os.urandom(1024 * 1024)
    push_image(up, repo, "v1", layer=data)
    project = create_proxy_project(admin, open_gate.url, proxy_speed_kb="256")
    started = time.monotonic()
    r = v2.get(f"/v2/{project}/{repo}/blobs/{sha256(data)}")
    assert r.status_code == 200 and r.content == data
    assert time.monotonic() - started >= 3.0  # 1 MiB at 256 KiB/s, with a half-second burst


def test_upstream_connections_are_limited(admin: httpx.Client, server: Server, up: httpx.Client,
                                          open_gate: Gate) -> None:
    repo = unique("conn")
    layers = [os.urandom(2 * 1024 * 1024) for _ in range(4)]
    for i, layer in enumerate(layers):
        push_image(up, repo, f"v{i}", layer=layer)
    project = create_proxy_project(admin, open_gate.url, max_upstream_conn="1", proxy_speed_kb="4096")
    open_gate.reset_concurrency()

    def pull(layer: bytes) -> None:
        with httpx.Client(base_url=server.url, timeout=120, follow_redirects=True) as c:
            assert c.get(f"/v2/{project}/{repo}/blobs/{sha256(layer)}").content == layer

    threads = [threading.Thread(target=pull, args=(layer,)) for layer in layers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert open_gate.max_active == 1


def test_cached_content_counts_against_the_quota(admin: httpx.Client, v2: httpx.Client, up: httpx.Client,
                                                 open_gate: Gate) -> None:
    repo = unique("quota")
    push_image(up, repo, "v1", layer=os.urandom(300_000))
    project = create_proxy_project(admin, open_gate.url, storage_limit=10 * 1024 * 1024)
    got = pull_all(v2, f"{project}/{repo}", "v1")
    wait_cached(admin, project, repo, "v1")
    project_id = admin.get(f"/projects/{project}", headers={"X-Is-Resource-Name": "true"}).json()["project_id"]
    used = admin.get(f"/quotas/{project_id}").json()["used"]["storage"]
    assert used == sum(len(v) for k, v in got.items() if k != "manifest")


def test_content_over_the_quota_is_served_but_not_cached(admin: httpx.Client, v2: httpx.Client,
                                                         up: httpx.Client, open_gate: Gate) -> None:
    repo = unique("full")
    digest = push_image(up, repo, "v1", layer=os.urandom(300_000))
    project = create_proxy_project(admin, open_gate.url, storage_limit=100_000)
    assert sha256(pull_all(v2, f"{project}/{repo}", "v1")["manifest"]) == digest
    time.sleep(3)  # the background caching has run (and been refused)
    assert admin.get(artifact_path(project, repo, "v1")).status_code == 404
    project_id = admin.get(f"/projects/{project}", headers={"X-Is-Resource-Name": "true"}).json()["project_id"]
    assert admin.get(f"/quotas/{project_id}").json()["used"]["storage"] <= 100_000


def test_unavailable_upstream_without_cache_is_a_bad_gateway(admin: httpx.Client, v2: httpx.Client,
                                                              open_gate: Gate) -> None:
    project = create_proxy_project(admin, open_gate.url)
    open_gate.mode = "503"
    r = manifest_doc(v2, f"{project}/{unique('dark')}", "v1")
    assert r.status_code == 502 and "upstream" in r.json()["errors"][0]["message"]


# Writes are refused ----------------------------------------------------------------------------


def test_push_into_proxy_project_is_refused(admin: httpx.Client, server: Server, open_gate: Gate) -> None:
    project = create_proxy_project(admin, open_gate.url)
    with httpx.Client(base_url=server.url, auth=admin.auth, timeout=30) as c:
        r = c.post(f"/v2/{project}/app/blobs/uploads/")
        assert r.status_code == 403 and error_codes(r) == ["DENIED"]
        assert "proxy cache" in r.json()["errors"][0]["message"]
        body = json.dumps({"schemaVersion": 2}).encode()
        r = put_manifest(c, f"{project}/app", "v1", body)
        assert r.status_code == 403 and error_codes(r) == ["DENIED"]


def test_delete_through_v2_in_proxy_project_is_refused(admin: httpx.Client, server: Server, v2: httpx.Client,
                                                       up: httpx.Client, open_gate: Gate) -> None:
    repo = unique("del")
    digest = push_image(up, repo, "v1")
    project = create_proxy_project(admin, open_gate.url)
    pull_all(v2, f"{project}/{repo}", "v1")
    wait_cached(admin, project, repo, "v1")
    with httpx.Client(base_url=server.url, auth=admin.auth, timeout=30) as c:
        r = c.delete(f"/v2/{project}/{repo}/manifests/{digest}")
    assert r.status_code == 403 and error_codes(r) == ["DENIED"]


def test_regular_projects_are_not_proxied(admin: httpx.Client, server: Server) -> None:
    name = unique("plain")
    assert admin.post("/projects", json={"project_name": name}).status_code == 201
    with httpx.Client(base_url=server.url, auth=admin.auth, timeout=30) as c:
        digest = push_image(c, f"{name}/app", "v1")
        assert c.get(f"/v2/{name}/app/manifests/{digest}", headers=ACCEPT).status_code == 200
        body = image_manifest(c, f"{name}/app")
        assert put_manifest(c, f"{name}/app", "v2", body).status_code == 201


# Mirror mode -----------------------------------------------------------------------------------


def test_mirror_mode_serves_unprefixed_names(admin: httpx.Client, mirror: str, v2: httpx.Client,
                                             up: httpx.Client) -> None:
    repo = unique("solo")
    digest = push_image(up, repo, "v1")
    got = pull_all(v2, repo, "v1")  # anonymous, one component: served as hub/<repo>
    assert sha256(got["manifest"]) == digest
    assert wait_cached(admin, mirror, repo, "v1")["digest"] == digest


def test_mirror_mode_leaves_pushes_to_local_projects_alone(admin: httpx.Client, mirror: str, server: Server,
                                                          up: httpx.Client) -> None:
    project = unique("local")
    assert admin.post("/projects", json={"project_name": project}).status_code == 201
    layer = os.urandom(1000)
    push_image(up, f"{project}/app", "v1", layer=layer)  # the same name and layer exist upstream
    with httpx.Client(base_url=server.url, auth=admin.auth, timeout=30) as c:
        # A client about to push asks whether the blob is there: not in this (new) repository.
        assert c.head(f"/v2/{project}/app/blobs/{sha256(layer)}").status_code == 404
        digest = push_image(c, f"{project}/app", "v2", layer=layer)
        r = c.get(f"/v2/{project}/app/manifests/v2", headers=ACCEPT)
    assert r.status_code == 200 and r.headers["docker-content-digest"] == digest
