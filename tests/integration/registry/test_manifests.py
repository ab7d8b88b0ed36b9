"""Manifests: push by tag and digest, pull with Accept negotiation, validation, delete."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.common.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    EMPTY_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    error_codes,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    sha256,
    unique_repo,
)

ACCEPT_ALL = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def test_put_by_tag_then_get_returns_exact_bytes(client: httpx.Client) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)
    r = put_manifest(client, repo, "v1", body)
    assert r.status_code == 201
    assert r.headers["docker-content-digest"] == sha256(body)
    assert r.headers["location"] == f"/v2/{repo}/manifests/{sha256(body)}"
    got = client.get(f"/v2/{repo}/manifests/v1", headers={"Accept": ACCEPT_ALL})
    assert got.status_code == 200
    assert got.content == body
    assert got.headers["content-type"] == OCI_MANIFEST
    assert got.headers["docker-content-digest"] == sha256(body)
    assert got.headers["content-length"] == str(len(body))


def test_get_by_digest_and_head(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_image(client, repo, "v1")
    assert client.get(f"/v2/{repo}/manifests/{digest}").status_code == 200
    h = client.head(f"/v2/{repo}/manifests/v1")
    assert h.status_code == 200 and h.content == b""
    assert h.headers["docker-content-digest"] == digest
    assert int(h.headers["content-length"]) > 0


def test_put_by_digest(client: httpx.Client) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)
    r = put_manifest(client, repo, sha256(body), body)
    assert r.status_code == 201
    assert client.get(f"/v2/{repo}/manifests/{sha256(body)}").content == body


def test_put_by_wrong_digest_is_digest_invalid(client: httpx.Client) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)
    r = put_manifest(client, repo, sha256(b"other"), body)
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]


def test_docker_schema2_manifest(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_image(client, repo, "d", media_type=DOCKER_MANIFEST)
    r = client.get(f"/v2/{repo}/manifests/d", headers={"Accept": DOCKER_MANIFEST})
    assert r.status_code == 200 and r.headers["content-type"] == DOCKER_MANIFEST
    assert r.headers["docker-content-digest"] == digest


def test_missing_layer_is_manifest_blob_unknown(client: httpx.Client) -> None:
    repo = unique_repo()
    body = json.loads(image_manifest(client, repo))
    body["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(b"nope"),
                           "size": 4})
    r = put_manifest(client, repo, "x", json.dumps(body).encode())
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]
    assert r.json()["errors"][0]["detail"]["digest"] == sha256(b"nope")
    assert client.get(f"/v2/{repo}/manifests/x").status_code == 404


def test_foreign_layers_are_not_required(client: httpx.Client) -> None:
    repo = unique_repo()
    body = json.loads(image_manifest(client, repo, media_type=DOCKER_MANIFEST))
    body["layers"].append({"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                           "digest": sha256(b"windows"), "size": 7, "urls": ["https://example.invalid/l"]})
    assert put_manifest(client, repo, "f", json.dumps(body).encode(), DOCKER_MANIFEST).status_code == 201


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"schemaVersion": 1}', b'{"schemaVersion": 2}',
                                  b'{"schemaVersion": 2, "config": {"digest": "sha256:zz"}, "layers": []}'])
def test_malformed_manifest_is_manifest_invalid(client: httpx.Client, body: bytes) -> None:
    repo = unique_repo()
    push_blob(client, repo, b"make the repo exist")
    r = put_manifest(client, repo, "bad", body)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_INVALID"]
    assert client.get(f"/v2/{repo}/manifests/bad").status_code == 404


def test_media_type_mismatch_with_content_type_is_invalid(client: httpx.Client) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)
    r = put_manifest(client, repo, "m", body, DOCKER_MANIFEST)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_INVALID"]


def test_manifest_over_4mib_is_refused(client: httpx.Client) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo, annotations={"pad": "x" * (4 * 1024 * 1024)})
    r = put_manifest(client, repo, "big", body)
    assert r.status_code == 413
    assert error_codes(r) == ["MANIFEST_INVALID"]


def test_artifact_manifest_with_empty_config(client: httpx.Client) -> None:
    repo = unique_repo()
    layer = b'{"hello": "artifact"}'
    push_blob(client, repo, layer)
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.thing",
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [descriptor("application/json", layer)],
    }).encode()
    r = put_manifest(client, repo, "art", body)
    assert r.status_code == 201, r.text
    assert client.get(f"/v2/{repo}/blobs/{EMPTY_DIGEST}").content == b"{}"


def _index(client: httpx.Client, repo: str, media_type: str = OCI_INDEX) -> tuple[bytes, dict[str, str]]:
    child_type = DOCKER_MANIFEST if media_type == DOCKER_LIST else OCI_MANIFEST
    children = {}
    manifests = []
    for arch in ("amd64", "arm64"):
        body = image_manifest(client, repo, arch=arch, media_type=child_type)
        assert put_manifest(client, repo, sha256(body), body, child_type).status_code == 201
        children[arch] = sha256(body)
        manifests.append(descriptor(child_type, body, platform={"os": "linux", "architecture": arch}))
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}).encode(), children


def test_oci_index_with_children(client: httpx.Client) -> None:
    repo = unique_repo()
    index, _ = _index(client, repo)
    assert put_manifest(client, repo, "multi", index, OCI_INDEX).status_code == 201
    r = client.get(f"/v2/{repo}/manifests/multi", headers={"Accept": ACCEPT_ALL})
    assert r.content == index and r.headers["content-type"] == OCI_INDEX


def test_docker_manifest_list(client: httpx.Client) -> None:
    repo = unique_repo()
    index, _ = _index(client, repo, DOCKER_LIST)
    assert put_manifest(client, repo, "list", index, DOCKER_LIST).status_code == 201
    r = client.get(f"/v2/{repo}/manifests/list", headers={"Accept": DOCKER_LIST})
    assert r.headers["content-type"] == DOCKER_LIST


def test_index_with_missing_child_is_refused(client: httpx.Client) -> None:
    repo = unique_repo()
    push_blob(client, repo, b"repo exists")
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(b"no such manifest"), "size": 16}]}).encode()
    r = put_manifest(client, repo, "broken", index, OCI_INDEX)
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]


def test_index_served_as_amd64_image_to_clients_that_cannot_read_indexes(client: httpx.Client) -> None:
    repo = unique_repo()
    index, children = _index(client, repo)
    put_manifest(client, repo, "multi", index, OCI_INDEX)
    r = client.get(f"/v2/{repo}/manifests/multi", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200
    assert r.headers["docker-content-digest"] == children["amd64"]


def test_manifest_type_not_accepted_is_manifest_unknown(client: httpx.Client) -> None:
    repo = unique_repo()
    push_image(client, repo, "oci")
    r = client.get(f"/v2/{repo}/manifests/oci", headers={"Accept": DOCKER_MANIFEST})
    assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"]


def test_retagging_moves_the_tag(client: httpx.Client) -> None:
    repo = unique_repo()
    first = push_image(client, repo, "latest")
    second = push_image(client, repo, "latest")
    assert first != second
    assert client.head(f"/v2/{repo}/manifests/latest").headers["docker-content-digest"] == second
    assert client.head(f"/v2/{repo}/manifests/{first}").status_code == 200


def test_unknown_tag_is_manifest_unknown(client: httpx.Client) -> None:
    repo = unique_repo()
    push_image(client, repo, "v1")
    r = client.get(f"/v2/{repo}/manifests/v2")
    assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"]


def test_delete_manifest_by_digest_removes_its_tags(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_image(client, repo, "v1")
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert client.get(f"/v2/{repo}/manifests/{digest}").status_code == 404
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 404
    assert "v1" not in client.get(f"/v2/{repo}/tags/list").json()["tags"]


def test_delete_by_tag_removes_only_the_tag(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_image(client, repo, "v1")
    r = client.delete(f"/v2/{repo}/manifests/v1")
    assert r.status_code == 202
    assert client.get(f"/v2/{repo}/manifests/v1").status_code == 404
    assert client.get(f"/v2/{repo}/manifests/{digest}").status_code == 200


def test_delete_unknown_manifest_is_manifest_unknown(client: httpx.Client) -> None:
    repo = unique_repo()
    push_image(client, repo, "v1")
    r = client.delete(f"/v2/{repo}/manifests/{sha256(b'x')}")
    assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"]


def test_repeated_accept_headers_are_combined(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_image(client, repo, "v1")
    headers = [("Accept", DOCKER_MANIFEST), ("Accept", OCI_MANIFEST), ("Accept", DOCKER_LIST)]
    r = client.get(f"/v2/{repo}/manifests/v1", headers=httpx.Headers(headers))
    assert r.status_code == 200 and r.headers["docker-content-digest"] == digest
