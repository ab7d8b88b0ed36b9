"""Blob GET/HEAD with ranges, DELETE, and deduplication across repositories."""

from __future__ import annotations

import os

import httpx

from tests.common.oci import error_codes, push_blob, push_image, sha256, unique_repo
from tests.common.servers import Server


def test_get_returns_exact_bytes_and_headers(client: httpx.Client) -> None:
    repo, data = unique_repo(), os.urandom(3000)
    digest = push_blob(client, repo, data)
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["docker-content-digest"] == digest
    assert r.headers["content-length"] == "3000"
    assert r.headers["accept-ranges"] == "bytes"


def test_head_returns_length_without_body(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_blob(client, repo, b"x" * 77)
    r = client.head(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200
    assert r.headers["content-length"] == "77"
    assert r.content == b""


def test_range_returns_206_with_content_range(client: httpx.Client) -> None:
    repo, data = unique_repo(), bytes(range(256)) * 4
    digest = push_blob(client, repo, data)
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"


def test_open_and_suffix_ranges(client: httpx.Client) -> None:
    repo, data = unique_repo(), os.urandom(1000)
    digest = push_blob(client, repo, data)
    assert client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=990-"}).content == data[990:]
    assert client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=-5"}).content == data[-5:]
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=900-5000"})
    assert r.status_code == 206 and r.content == data[900:]


def test_range_beyond_end_is_416_with_empty_body(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_blob(client, repo, b"0123456789")
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10-20"})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */10"
    assert r.content == b"" or "errors" in r.json()


def test_malformed_range_is_ignored(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_blob(client, repo, b"abcdef")
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "lines=1-2"})
    assert r.status_code == 200 and r.content == b"abcdef"


def test_unknown_blob_is_blob_unknown(client: httpx.Client) -> None:
    repo = unique_repo()
    push_blob(client, repo, b"something")
    r = client.get(f"/v2/{repo}/blobs/{sha256(b'never pushed')}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]


def test_blob_is_not_visible_from_other_repository_until_mounted(client: httpx.Client) -> None:
    a, b = unique_repo(), unique_repo()
    digest = push_blob(client, a, b"private to a")
    push_blob(client, b, b"b exists")
    assert client.head(f"/v2/{b}/blobs/{digest}").status_code == 404


def test_delete_blob_then_404(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_blob(client, repo, b"delete me")
    assert client.delete(f"/v2/{repo}/blobs/{digest}").status_code == 202
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UNKNOWN"]
    assert client.delete(f"/v2/{repo}/blobs/{digest}").status_code == 404


def test_same_content_in_two_repositories_is_stored_once(client: httpx.Client, moorage: Server) -> None:
    a, b = unique_repo(), unique_repo()
    data = os.urandom(512)
    digest = push_blob(client, a, data)
    push_blob(client, b, data)
    assert len(moorage.stored_blob_paths(digest)) == 1
    assert client.get(f"/v2/{b}/blobs/{digest}").content == data


def test_manifest_is_also_readable_as_a_blob(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_image(client, repo, "v1")
    manifest = client.get(f"/v2/{repo}/manifests/v1").content
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200 and r.content == manifest
    assert r.headers["docker-content-digest"] == digest
