"""Storage quotas are enforced where blobs enter a project: blob upload (monolithic, PATCH and
PUT), cross-repository mount, manifest PUT and artifact copy; a refusal is 403 DENIED naming
the project, the limit and the usage, and leaves nothing behind."""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx

from tests.common.oci import EMPTY_DIGEST, OCI_EMPTY, OCI_MANIFEST, put_manifest, sha256
from tests.integration.quotas.conftest import Project, blob_visible, denied, image, set_limit, upload, usage


def test_upload_over_the_limit_is_refused_with_a_clear_message(client: httpx.Client, api: httpx.Client,
                                                                limited: Callable[..., Project]) -> None:
    name, pid = limited(1000)
    repo = f"{name}/app"
    assert upload(client, repo, os.urandom(600)).status_code == 201
    big = os.urandom(700)
    message = denied(upload(client, repo, big))
    assert message == (
        "quota exceeded when processing the request of adding 700 B of storage resource, which when updated to "
        f"current usage of 600 B will exceed the configured upper limit of 1000 B in project '{name}'")
    assert not blob_visible(client, repo, sha256(big))
    assert usage(api, pid) == (1000, 600)


def test_message_uses_binary_units(client: httpx.Client, api: httpx.Client, limited: Callable[..., Project]) -> None:
    name, pid = limited(3 * 1024 * 1024)
    message = denied(upload(client, f"{name}/app", os.urandom(3 * 1024 * 1024 + 512 * 1024)))
    assert "adding 3.5 MiB of storage resource" in message
    assert "current usage of 0 B" in message and "upper limit of 3.0 MiB" in message


def test_exact_limit_fits_and_one_more_byte_does_not(client: httpx.Client, api: httpx.Client,
                                                     limited: Callable[..., Project]) -> None:
    name, pid = limited(1000)
    repo = f"{name}/app"
    assert upload(client, repo, os.urandom(400)).status_code == 201
    assert upload(client, repo, os.urandom(600)).status_code == 201
    assert usage(api, pid) == (1000, 1000)
    denied(upload(client, repo, b"x"))
    assert usage(api, pid) == (1000, 1000)


def test_a_blob_the_project_holds_costs_nothing(client: httpx.Client, api: httpx.Client,
                                                limited: Callable[..., Project]) -> None:
    name, pid = limited(500)
    data = os.urandom(500)
    assert upload(client, f"{name}/one", data).status_code == 201
    set_limit(api, pid, 100)  # now over the limit: pushes that add bytes fail, others do not
    assert upload(client, f"{name}/two", data).status_code == 201
    r = client.post(f"/v2/{name}/three/blobs/uploads/", params={"mount": sha256(data), "from": f"{name}/one"})
    assert r.status_code == 201, r.text
    assert usage(api, pid) == (100, 500)


def test_patch_that_exceeds_is_refused_and_the_session_stays_cancelable(
        client: httpx.Client, api: httpx.Client, limited: Callable[..., Project]) -> None:
    name, pid = limited(1000)
    repo = f"{name}/app"
    assert upload(client, repo, os.urandom(600)).status_code == 201
    loc = client.post(f"/v2/{repo}/blobs/uploads/").headers["location"]
    assert client.patch(loc, content=os.urandom(300)).status_code == 202
    message = denied(client.patch(loc, content=os.urandom(200)))
    assert "adding 500 B" in message and "current usage of 600 B" in message
    assert client.delete(loc).status_code == 204
    assert client.get(loc).status_code == 404
    assert usage(api, pid) == (1000, 600)


def test_refused_patch_resumes_once_the_limit_is_raised(client: httpx.Client, api: httpx.Client,
                                                        limited: Callable[..., Project]) -> None:
    name, pid = limited(100)
    repo = f"{name}/app"
    data = os.urandom(300)
    loc = client.post(f"/v2/{repo}/blobs/uploads/").headers["location"]
    denied(client.patch(loc, content=data[:200]))
    set_limit(api, pid, 1000)
    r = client.put(loc, params={"digest": sha256(data)}, content=data[200:])
    assert r.status_code == 201, r.text
    assert blob_visible(client, repo, sha256(data))
    assert usage(api, pid) == (1000, 300)


def test_put_that_exceeds_is_refused_and_nothing_becomes_visible(
        client: httpx.Client, api: httpx.Client, limited: Callable[..., Project]) -> None:
    name, pid = limited(1000)
    repo = f"{name}/app"
    assert upload(client, repo, os.urandom(600)).status_code == 201
    data = os.urandom(500)
    loc = client.post(f"/v2/{repo}/blobs/uploads/").headers["location"]
    assert client.patch(loc, content=data[:300]).status_code == 202
    message = denied(client.put(loc, params={"digest": sha256(data)}, content=data[300:]))
    assert "adding 500 B" in message and f"project '{name}'" in message
    assert not blob_visible(client, repo, sha256(data))
    status = client.get(loc)  # the session is still there, as acknowledged before the PUT
    assert status.status_code == 204 and status.headers["range"] == "0-299"
    assert client.delete(loc).status_code == 204
    assert usage(api, pid) == (1000, 600)


def test_mount_over_the_limit_is_refused_until_the_limit_is_raised(
        client: httpx.Client, api: httpx.Client, limited: Callable[..., Project]) -> None:
    source, _ = limited()
    name, pid = limited(300)
    data = os.urandom(500)
    assert upload(client, f"{source}/base", data).status_code == 201
    params = {"mount": sha256(data), "from": f"{source}/base"}
    message = denied(client.post(f"/v2/{name}/app/blobs/uploads/", params=params))
    assert "adding 500 B" in message and "upper limit of 300 B" in message and f"'{name}'" in message
    assert not blob_visible(client, f"{name}/app", sha256(data))
    assert usage(api, pid) == (300, 0)
    set_limit(api, pid, 500)
    assert client.post(f"/v2/{name}/app/blobs/uploads/", params=params).status_code == 201
    assert usage(api, pid) == (500, 500)


def test_manifest_put_counts_the_blob_it_brings(client: httpx.Client, api: httpx.Client,
                                                limited: Callable[..., Project]) -> None:
    """The empty config a manifest may reference without pushing it is the blob a manifest
    PUT adds to the project."""
    name, pid = limited(10)
    repo = f"{name}/artifact"
    layer = os.urandom(10)
    assert upload(client, repo, layer).status_code == 201
    body = (b'{"schemaVersion":2,"mediaType":"%s","artifactType":"application/x.test","config":{"mediaType":"%s",'
            b'"digest":"%s","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"%s","size":10}]}'
            % (OCI_MANIFEST.encode(), OCI_EMPTY.encode(), EMPTY_DIGEST.encode(), sha256(layer).encode()))
    message = denied(put_manifest(client, repo, "v1", body))
    assert "adding 2 B" in message and "current usage of 10 B" in message
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 404
    set_limit(api, pid, 12)
    assert put_manifest(client, repo, "v1", body).status_code == 201
    assert usage(api, pid) == (12, 12)


def test_copy_over_the_limit_is_refused_until_the_limit_is_raised(
        client: httpx.Client, api: httpx.Client, limited: Callable[..., Project]) -> None:
    source, _ = limited()
    manifest, weight = image(client, f"{source}/app", [os.urandom(400)])
    assert put_manifest(client, f"{source}/app", "v1", manifest).status_code == 201
    name, pid = limited(weight - 1)
    copy = f"/projects/{name}/repositories/app/artifacts"
    message = denied(api.post(copy, params={"from": f"{source}/app:v1"}))
    assert f"adding {weight} B" in message and f"in project '{name}'" in message
    assert api.get(f"/projects/{name}/repositories/app/artifacts/v1").status_code == 404
    assert usage(api, pid) == (weight - 1, 0)
    set_limit(api, pid, weight)
    assert api.post(copy, params={"from": f"{source}/app:v1"}).status_code == 201
    assert client.get(f"/v2/{name}/app/manifests/v1").status_code == 200
    assert usage(api, pid) == (weight, weight)


def test_unlimited_projects_are_never_refused(client: httpx.Client, api: httpx.Client,
                                              limited: Callable[..., Project]) -> None:
    name, pid = limited(-1)
    assert upload(client, f"{name}/app", os.urandom(64 * 1024)).status_code == 201
    assert usage(api, pid) == (-1, 64 * 1024)


def test_disabling_quotas_stops_enforcement_but_not_counting(client: httpx.Client, api: httpx.Client,
                                                            limited: Callable[..., Project]) -> None:
    name, pid = limited(100)
    assert api.put("/configurations", json={"quota_per_project_enable": False}).status_code == 200
    try:
        assert upload(client, f"{name}/app", os.urandom(500)).status_code == 201
        assert "quota" not in api.get(f"/projects/{pid}/summary").json()
    finally:
        assert api.put("/configurations", json={"quota_per_project_enable": True}).status_code == 200
    assert usage(api, pid) == (100, 500)
    denied(upload(client, f"{name}/app", b"one more"))


def test_a_project_over_its_limit_refuses_new_blobs_at_once(client: httpx.Client, api: httpx.Client,
                                                            limited: Callable[..., Project]) -> None:
    name, pid = limited(1000)
    assert upload(client, f"{name}/app", os.urandom(800)).status_code == 201
    set_limit(api, pid, 500)  # lowering a limit below the usage is allowed
    message = denied(upload(client, f"{name}/app", os.urandom(64_000)))
    assert message == ("quota exceeded: the current usage of 800 B already exceeds the configured upper limit "
                       f"of 500 B in project '{name}'")
    assert client.get("/v2/").status_code == 200  # the unread body did not break the connection
    assert usage(api, pid) == (500, 800)
